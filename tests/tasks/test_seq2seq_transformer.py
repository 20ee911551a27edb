"""The Transformer encoder–decoder (model.arch: transformer): stepping equals teacher forcing,
causality, padding, search, the config keys, bundles and translate, a toy trained end to end."""

import json

import pytest
import torch
import torch.nn.functional as F

import seqlab
from seqlab import bundle, config, decode, evaluation
from seqlab.cli.main import main
from seqlab.data.batching import pad
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import seq2seq
from seqlab.tasks.seq2seq_transformer import TransformerSeq2Seq

SRC_V, TGT_V = 12, 9
CONFIGS = [
    {},
    {"norm_first": True, "tie_embeddings": True},
    {"positional": "learned", "max_positions": 8, "num_layers": 1},
]
TINY_TRANSFORMER = {"model.arch": "transformer", "model.hidden_size": 16, "model.num_heads": 2, "model.ff_size": 32,
                    "model.num_layers": 1, "model.positional": "learned", "model.max_positions": 40, "train.epochs": 1, "train.checkpoint_every": None,
                    "data.num_train": 200, "data.num_valid": 20, "data.num_test": 20}


def model(dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    return TransformerSeq2Seq(SRC_V, TGT_V, d_model=8, num_heads=2, ff_size=16, dropout=0.1, **kwargs).to(dtype).eval()


def batch():
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0]])
    lengths = torch.tensor([5, 2])
    tgt_in = torch.tensor([[SOS_ID, 4, 5, 6], [SOS_ID, 7, 8, 0]])
    return src, lengths, tgt_in


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_shapes_and_cross_attention_rows(kwargs):
    src, lengths, tgt_in = batch()
    logits, alphas = model(**kwargs)(src, lengths, tgt_in)
    assert logits.shape == (2, 4, TGT_V) and alphas.shape == (2, 4, 5)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    assert torch.all(alphas[1, :, 2:] == 0)  # no weight on source padding


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_cached_steps_equal_the_teacher_forced_pass_in_float64(kwargs):
    net = model(**kwargs)
    src, lengths, tgt_in = batch()
    logits, alphas = net(src, lengths, tgt_in)
    state = net.initial_state(net.encode(src, lengths))
    for t in range(tgt_in.shape[1]):
        step_logits, state, step_alphas = net.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(step_alphas, alphas[:, t], atol=1e-12, rtol=1e-10)


def test_a_later_target_token_changes_no_earlier_logits():
    net = model()
    src, lengths, tgt_in = batch()
    before, _ = net(src, lengths, tgt_in)
    changed = tgt_in.clone()
    changed[:, 2] = 3
    after, _ = net(src, lengths, changed)
    torch.testing.assert_close(after[:, :2], before[:, :2], atol=0, rtol=0)
    assert not torch.allclose(after[:, 2:], before[:, 2:])


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_source_padding_changes_nothing(kwargs):
    net = model(**kwargs)
    src, lengths, tgt_in = batch()
    a, _ = net(src, lengths, tgt_in)
    b, _ = net(F.pad(src, (0, 3), value=PAD_ID), lengths, tgt_in)
    torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_beam_of_one_equals_greedy():
    net = model(torch.float32)
    src, lengths, _ = batch()
    with torch.no_grad():
        greedy = net.search(src, lengths, beam_size=1, max_len=7)
        state = net.initial_state(net.encode(src, lengths))
        beam = decode.beam_search(net.step, state, 2, SOS_ID, EOS_ID, 7, beam_size=1, pad_id=PAD_ID)
    assert torch.equal(greedy.tokens, beam.tokens) and torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)


def test_learned_positions_cut_the_search_at_max_positions():
    net = model(torch.float32, positional="learned", max_positions=8)
    src, lengths, _ = batch()
    with torch.no_grad():
        found = net.search(src, lengths, beam_size=3, max_len=torch.tensor([30, 30]))
    assert found.tokens.shape[1] <= 7  # and <sos> + 7 tokens fill the 8 positions of a teacher-forced pass


def test_label_smoothing_applies_in_training_only():
    """The shared loss: smoothing eps gives (1 - eps) CE + eps * mean over the vocabulary of -log p."""
    net = model(torch.float32, label_smoothing=0.2)
    net.dropout = 0.0
    src, lengths, tgt_in = batch()
    tgt_out = torch.tensor([[4, 5, 6, EOS_ID], [7, 8, EOS_ID, PAD_ID]])
    examples = seq2seq.Seq2SeqBatch(src, lengths, tgt_in, tgt_out)
    log_p = F.log_softmax(net(src, lengths, tgt_in)[0], -1)[tgt_out != PAD_ID]  # (7, V) in eval mode
    plain = -log_p.gather(1, tgt_out[tgt_out != PAD_ID][:, None]).mean()
    smoothed = 0.8 * plain + 0.2 * (-log_p.mean(dim=1)).mean()
    torch.testing.assert_close(net.loss(examples), plain)  # eval mode: plain cross-entropy
    for module in net.modules():  # training mode without dropout: the smoothed loss
        module.training = isinstance(module, TransformerSeq2Seq)
    torch.testing.assert_close(net.loss(examples), smoothed)


def test_build_model_reads_the_transformer_keys():
    cfg = config.apply_overrides(config.load("dates-smoke"), [
        "model.arch=transformer", "model.hidden_size=24", "model.num_heads=3", "model.num_layers=2",
        "model.ff_size=40", "model.norm_first=true", "model.positional=learned", "model.max_positions=64",
        "model.tie_embeddings=true", "train.label_smoothing=0.1", "data.num_train=500"])
    net = seq2seq.build_model(cfg, seq2seq.load_data(cfg))
    assert isinstance(net, TransformerSeq2Seq) and net.label_smoothing == 0.1 and net.out is None
    assert len(net.encoder.layers) == len(net.decoder.layers) == 2 and net.decoder.max_positions == 64
    layer = net.decoder.layers[0]
    assert layer.feed_forward.linear1.out_features == 40 and layer.self_attention.attention.num_heads == 3
    assert layer.self_attention.norm_first and net.encoder.final_norm is not None


@pytest.mark.parametrize("overrides, message", [
    (["model.arch=lstm"], "model.arch: expected one of rnn, transformer, got 'lstm'"),
    (["model.arch=transformer", "model.hidden_size=10"], "model.hidden_size: expected a multiple of model.num_heads"),
    (["model.arch=transformer", "model.input_feeding=true"], "model.input_feeding: the Transformer encoder-decoder"),
    (["model.arch=transformer", "train.teacher_forcing=0.5"], "train.teacher_forcing: .* expected 1.0, got 0.5"),
    (["model.encoder=transformer"], "model.encoder: .* set model.arch: transformer"),
])
def test_bad_keys_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        cfg = config.apply_overrides(config.load("dates-smoke"), [*overrides, "data.num_train=500"])
        seq2seq.build_model(cfg, seq2seq.load_data(cfg))


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "dates-transformer"
    return seqlab.train("dates-smoke", TINY_TRANSFORMER, out=out)


def test_bundle_round_trip_translates_as_the_model_predicts(transformer_run):
    translator = seqlab.load(transformer_run)
    assert isinstance(translator.model, TransformerSeq2Seq)
    data = seq2seq.load_data(config.load(transformer_run / "config.yaml"))
    expected = translator.model.predict(seq2seq.collate(data.test))
    sources = [data.tokenizer.detokenize(data.src_vocab.decode(example.src)) for example in data.test]
    assert translator.translate(sources) == [data.tokenizer.detokenize(data.tgt_vocab.decode(ids)) for ids in expected]
    ids = [translator.source_ids(text) for text in sources[:3]]
    src, lengths, _ = pad(ids, PAD_ID)
    with torch.no_grad():
        greedy = translator.model.search(src, lengths, beam_size=1, max_len=30)
        state = translator.model.initial_state(translator.model.encode(src, lengths))
        beam = decode.beam_search(translator.model.step, state, 3, SOS_ID, EOS_ID, 30, 1, pad_id=PAD_ID)
    assert torch.equal(greedy.tokens, beam.tokens)
    result = translator.translate(["Nov 23, 26"], beam_size=3, return_attention=True)[0]
    assert result.attention.shape[1] == len("Nov 23, 26")
    torch.testing.assert_close(result.attention.sum(dim=1), torch.ones(result.attention.shape[0]))


def test_eval_of_the_bundle_gives_the_runs_test_scores(transformer_run):
    summary = json.loads((transformer_run / "summary.json").read_text())
    result = evaluation.evaluate_run(transformer_run, "test")
    assert result["metrics"]["exact_match"] == summary["test"]["exact_match"]
    assert result["metrics"]["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-5)


def test_translate_cli_with_beam_and_attention(transformer_run, tmp_path, capsys):
    code = main(["translate", str(transformer_run), "--text", "23/11/2026", "--beam", "3", "--show-attention",
                 "--plots", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("23/11/2026 -> ") and "attention" in out
    assert (tmp_path / "translate-attention-1.png").is_file()


def test_a_source_past_the_learned_positions_is_cut_with_a_warning_or_refused(transformer_run):
    translator = seqlab.load(transformer_run)
    text = "Wednesday, September 23rd 2026 and more words"  # 45 characters, 40 positions
    assert translator.max_source_len == 40
    with pytest.warns(bundle.LongSourceWarning, match="kept its first 40 tokens"):
        cut = translator.translate([text], max_source_len=100, return_attention=True)[0]
    assert cut.source_tokens == list(text[:40])
    with pytest.raises(DataError, match="longer than the maximum 40"):
        translator.translate([text], on_long="refuse")


@pytest.mark.slow
def test_learns_to_reverse_toy_sequences(tmp_path):
    """The reverse toy through seqlab.train: the Transformer learns it in a few seconds."""
    run = seqlab.train("dates-smoke", {
        "data.name": "reverse", "data.tokenizer": "word", "data.min_len": 3, "data.max_len": 6, "data.num_train": 2000,
        "data.num_valid": 100, "data.num_test": 100, "model.arch": "transformer", "model.hidden_size": 32,
        "model.num_heads": 4, "model.num_layers": 2, "model.ff_size": 64, "train.epochs": 6, "train.batch_size": 32,
        "train.lr": 0.002, "train.checkpoint_every": None}, out=tmp_path / "reverse")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["exact_match"] >= 0.9
