"""seqlab.tasks.seq2seq as a task: collate's sos/eos shift, exact match, data, config errors."""

import pytest
import torch

from seqlab import config
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, UnknownTokenWarning
from seqlab.errors import ConfigError
from seqlab.nn.attention import AdditiveAttention
from seqlab.tasks import get_task, seq2seq, seq2seq_data
from seqlab.tasks.seq2seq import Seq2Seq, Seq2SeqExample, collate, exact_matches

EXAMPLES = [Seq2SeqExample([5, 6, 7], [4, 5]), Seq2SeqExample([8], [6, 7, 8])]


def test_collate_pads_and_shifts_the_target():
    batch = collate(EXAMPLES)
    assert batch.src.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[SOS_ID, 4, 5, PAD_ID], [SOS_ID, 6, 7, 8]]  # <sos> y
    assert batch.tgt_out.tolist() == [[4, 5, EOS_ID, PAD_ID], [6, 7, 8, EOS_ID]]  # y <eos>
    assert batch.num_tokens == 3 + 4  # real target positions, eos included
    moved = batch.to("meta")
    assert moved.tgt_out.device.type == "meta" and moved.src_lengths.device.type == "cpu"


@pytest.mark.parametrize(
    "decoded, expected",
    [
        ([4, 5, EOS_ID], True),  # the reference
        ([4, 5, EOS_ID, PAD_ID, PAD_ID], True),  # wider padding changes nothing
        ([4, 6, EOS_ID], False),  # one token wrong
        ([4, 5, 6], False),  # never ended (cut at max_len)
        ([4, EOS_ID], False),  # ended early
        ([4, 5, 6, EOS_ID], False),  # one token too many
    ],
)
def test_exact_matches_compares_up_to_eos(decoded, expected):
    reference = torch.tensor([[4, 5, EOS_ID, PAD_ID]])
    assert exact_matches(torch.tensor([decoded]), reference).tolist() == [expected]


def test_metrics_count_a_right_and_a_wrong_greedy_decoding():
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, embedding_dim=4, hidden_size=8).eval()
    # A scripted decoder: every row writes 4 5 <eos>, right for the first example only.
    script = iter([4, 5, EOS_ID, PAD_ID])

    def step(tokens, state):
        return torch.nn.functional.one_hot(torch.full_like(tokens, next(script)), 9).float().log(), state

    model.step = step
    batch = collate(EXAMPLES)
    metrics = model.metrics(batch)
    assert metrics["exact_match"] == (1.0, 2)
    assert metrics["loss"][1] == metrics["token_accuracy"][1] == 7
    script = iter([4, 5, EOS_ID, PAD_ID])
    assert model.predict(batch) == [[4, 5], [4, 5]]  # without eos


def test_load_data_builds_vocabularies_from_train_only(monkeypatch, tmp_path):
    pairs = {"train": [("ab", "xy")], "valid": [("abc", "xz")], "test": [("ba", "yx")]}
    monkeypatch.setattr(seq2seq_data, "generate", lambda name, num, seed, **options: pairs[seed.split("/")[1]])
    cfg = config.from_dict({"task": "seq2seq", "data": {"name": "dates", "tokenizer": "char"}})
    with pytest.warns(UnknownTokenWarning):  # "c" and "z" occur only in the validation split
        data = seq2seq.load_data(cfg)
    assert data.src_vocab.itos[4:] == ["a", "b"] and data.tgt_vocab.itos[4:] == ["x", "y"]
    a, b, x, y = 4, 5, 4, 5
    assert data.train == [Seq2SeqExample([a, b], [x, y])]
    assert data.valid == [Seq2SeqExample([a, b, UNK_ID], [x, UNK_ID])]
    assert data.test == [Seq2SeqExample([b, a], [y, x])]
    data.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"tokenizer.json", "src_vocab.json", "tgt_vocab.json"}


def test_dates_splits_differ_and_are_char_tokens():
    cfg = config.from_dict(
        {
            "task": "seq2seq",
            "data": {"name": "dates", "tokenizer": "char", "num_train": 50, "num_valid": 10, "num_test": 10},
        }
    )
    data = seq2seq.load_data(cfg)
    assert len(data.train) == 50 and len(data.valid) == len(data.test) == 10
    assert set(data.tgt_vocab.itos[4:]) == set("0123456789-")
    assert all(len(example.tgt) == 10 for example in data.train)  # yyyy-mm-dd
    assert data.valid != data.test


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data": {"name": "datse"}}, "data.name: unknown dataset 'datse' for task 'seq2seq'; did you mean 'dates'?; known: multi30k, eng-fra, dates"),
        ({"data": {"name": "dates", "tokenizer": "bpe"}}, "data.tokenizer: the generated 'dates' takes char or word, got 'bpe'"),
    ],
)
def test_load_data_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        seq2seq.load_data(config.from_dict({"task": "seq2seq", **overrides}))


@pytest.mark.parametrize(
    "model, message",
    [
        ({"encoder": "rnn"}, "model.encoder: task 'seq2seq' takes lstm or gru, got 'rnn'"),
        ({"bidirectional": True, "hidden_size": 9}, "model.hidden_size: .* got 9"),
    ],
)
def test_build_model_errors_name_the_key(model, message):
    cfg = config.from_dict({"task": "seq2seq", "model": model})
    with pytest.raises(ConfigError, match=message):
        seq2seq.build_model(cfg, None)


def test_build_model_passes_the_seq2seq_keys():
    cfg = config.from_dict(
        {
            "task": "seq2seq",
            "data": {"name": "dates", "tokenizer": "char", "num_train": 500, "num_valid": 10, "num_test": 10},
            "model": {
                "encoder": "gru",
                "attention": "additive",
                "input_feeding": True,
                "hidden_size": 8,
                "embedding_dim": 8,
                "tie_embeddings": True,
            },
        }
    )
    task = get_task("seq2seq")
    data = task.load_data(cfg)
    model = task.build_model(cfg, data)
    assert task.headline == "exact_match"
    assert model.cell == "gru" and model.input_feeding and model.out is None  # tied: the embedding is the output matrix
    hidden = torch.randn(2, 8)
    expected = hidden @ model.tgt_embedding.weight.T + model.out_bias
    assert torch.equal(model.logits(hidden), expected)
    assert isinstance(model.attention, AdditiveAttention)


def test_a_tied_run_saves_and_loads_its_weights(tmp_path):
    """Regression: tied output and embedding once shared one storage under two names,
    which safetensors refuses to write, so a tied run died at its first checkpoint."""
    import seqlab

    run = seqlab.train("dates-smoke", {"model.tie_embeddings": True, "model.hidden_size": 16, "train.epochs": 1,
                                       "data.num_train": 100, "data.num_valid": 20, "data.num_test": 20},
                       out=tmp_path / "run")
    loaded = seqlab.load(run)
    assert loaded.model.out is None and "tgt_embedding.weight" in loaded.model.state_dict()
    assert "out.weight" not in loaded.model.state_dict()
