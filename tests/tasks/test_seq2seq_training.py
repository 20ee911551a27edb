"""seq2seq training options and evaluation: label smoothing, teacher forcing and its
schedule, search (beam 1 equals greedy on a trained model), corpus BLEU over batches."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab import config, decode
from seqlab.data.tokenize import WordTokenizer
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seqlab.errors import ConfigError
from seqlab.tasks.seq2seq import Search, Seq2Seq, TeacherForcing, without_eos
from seqlab.tasks.seq2seq_data import Seq2SeqExample, TargetText, collate
from seqlab.training.loop import evaluate

V = 10
# Reverse the source: a task a tiny model learns in a few dozen updates.
SEQS = [[4, 5, 6], [7, 8], [9, 4, 5, 6], [5, 5, 7], [8, 9, 4], [6, 7], [4, 9, 8, 7], [5, 6, 7, 8]]
EXAMPLES = [Seq2SeqExample(s, s[::-1], " ".join(f"w{i}" for i in s[::-1])) for s in SEQS]


def tiny(**kwargs):
    torch.manual_seed(0)
    return Seq2Seq(V, V, embedding_dim=8, hidden_size=16, **kwargs)


@pytest.fixture(scope="module")
def trained():
    """A tiny input-feeding model trained 60 updates on the reversal pairs."""
    model = tiny(input_feeding=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    batch = collate(EXAMPLES)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    return model.eval()


def test_label_smoothing_is_the_hand_computed_mixture():
    """(1 - ε) · NLL(y) + ε · mean over all V classes of -log p, averaged over real positions."""
    model = tiny(label_smoothing=0.2).train()
    batch = collate(EXAMPLES[:3])
    torch.manual_seed(1)
    loss = model.loss(batch)
    torch.manual_seed(1)  # the same dropout (none here) and the same forward
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    log_p = F.log_softmax(logits, dim=-1)[batch.tgt_out != PAD_ID]  # (N, V)
    gold = batch.tgt_out[batch.tgt_out != PAD_ID]
    nll = -log_p.gather(1, gold[:, None]).squeeze(1)
    uniform = -log_p.mean(dim=1)
    torch.testing.assert_close(loss, (0.8 * nll + 0.2 * uniform).mean())
    assert model.eval().loss(batch) > 0  # in eval mode the loss is plain cross-entropy
    torch.testing.assert_close(model.loss(batch), nll.mean())


def test_without_teacher_forcing_the_reference_is_never_read():
    model = tiny(input_feeding=False).eval()
    batch = collate(EXAMPLES[:4])
    other = batch.tgt_in.clone()
    other[:, 1:] = torch.where(other[:, 1:] == PAD_ID, PAD_ID, 4)  # another reference, same shape
    outputs = {}
    for ratio in (0.0, 1.0):
        for name, tgt_in in (("ref", batch.tgt_in), ("other", other)):
            torch.manual_seed(3)  # the same samples and coins
            outputs[ratio, name], _ = model(batch.src, batch.src_lengths, tgt_in, teacher_forcing=ratio)
    torch.testing.assert_close(outputs[0.0, "ref"], outputs[0.0, "other"])  # only its own samples are fed
    assert not torch.allclose(outputs[1.0, "ref"], outputs[1.0, "other"])


def test_teacher_forcing_ratio_below_one_steps_and_ratio_one_is_the_fast_path():
    model = tiny(input_feeding=False).eval()
    batch = collate(EXAMPLES[:4])
    fast, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    stepped, _ = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=1.0 - 1e-12)
    torch.testing.assert_close(fast, stepped, atol=1e-5, rtol=1e-5)  # coins of ~1 keep every reference token


def test_linear_schedule_decays_to_its_floor_and_counts_updates_in_the_weights():
    schedule = TeacherForcing(0.4, decay_steps=10)
    assert [schedule.at(u) for u in (0, 5, 10, 20)] == pytest.approx([1.0, 0.7, 0.4, 0.4])
    assert TeacherForcing(0.6).at(1000) == 0.6
    model = tiny(teacher_forcing=schedule)
    batch = collate(EXAMPLES[:2])
    model.train()
    model.loss(batch)
    model.loss(batch)
    model.eval()
    model.loss(batch)  # evaluation is not an update
    assert int(model.state_dict()["updates"]) == 2
    assert "updates" not in tiny().state_dict()  # no schedule, no clock


def test_build_model_reads_the_training_and_eval_keys():
    cfg = config.from_dict({
        "task": "seq2seq",
        "data": {"name": "dates", "tokenizer": "char", "num_train": 100, "num_valid": 5, "num_test": 5},
        "train": {"epochs": 3, "batch_size": 30, "label_smoothing": 0.1, "teacher_forcing": 0.5,
                  "teacher_forcing_schedule": "linear"},
        "eval": {"beam_size": 4, "length_penalty": 0.6, "max_len_a": 1.5, "max_len_b": 3},
    })
    from seqlab.tasks import get_task

    task = get_task("seq2seq")
    model = task.build_model(cfg, task.load_data(cfg))
    assert model.label_smoothing == 0.1 and model.teacher_forcing == TeacherForcing(0.5, 3 * 4)
    assert model.search_settings == Search(4, 0.6, 1.5, 3) and model.target_text is None  # toys: no BLEU
    assert task.headline_for(cfg) == "exact_match"
    assert Search(max_len_a=1.5, max_len_b=3).max_len(torch.tensor([1, 4])).tolist() == [4, 9]


def test_beam_of_one_equals_greedy_on_a_trained_model(trained):
    batch = collate(EXAMPLES)
    with torch.no_grad():
        greedy = trained.search(batch.src, batch.src_lengths, beam_size=1, max_len=12)
        state = trained.initial_state(trained.encode(batch.src, batch.src_lengths))
        beam = decode.beam_search(trained.step, state, len(EXAMPLES), SOS_ID, EOS_ID, 12, beam_size=1)
        wide = trained.search(batch.src, batch.src_lengths, beam_size=4, max_len=12)
    assert torch.equal(greedy.tokens, beam.tokens) and torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)
    assert sum(ids == ex.tgt for ids, ex in zip(without_eos(greedy), EXAMPLES)) >= 6  # it did learn to reverse
    assert wide.nbest.tokens.shape[:2] == (len(EXAMPLES), 4)
    assert torch.all(wide.scores >= greedy.scores - 1e-5)  # here the beam finds outputs at least as likely


def test_corpus_bleu_over_batches_is_sacrebleu_on_the_whole_list(trained):
    sacrebleu = pytest.importorskip("sacrebleu")
    vocab = Vocab(["<pad>", "<unk>", "<sos>", "<eos>", *(f"w{i}" for i in range(4, V))])
    model = trained
    model.target_text = TargetText(vocab, WordTokenizer())
    model.search_settings = Search(beam_size=3)
    try:
        by_two = evaluate(model, EXAMPLES, collate, 2, torch.device("cpu"))
        at_once = evaluate(model, EXAMPLES, collate, len(EXAMPLES), torch.device("cpu"))
        hyps = [" ".join(vocab.decode(ids)) for ids in model.predict(collate(EXAMPLES))]
    finally:
        model.target_text, model.search_settings = None, Search()
    refs = [example.ref for example in EXAMPLES]
    assert by_two["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert by_two["bleu_lc"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score, abs=1e-9)
    assert by_two["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    for name in ("bleu", "chrf", "exact_match"):  # counts: exactly the same however the split is batched
        assert by_two[name] == at_once[name]
    assert by_two["loss"] == pytest.approx(at_once["loss"], rel=1e-5)  # float32 sums in another order
    assert by_two["perplexity"] == pytest.approx(math.exp(by_two["loss"]))
    assert by_two["exact_match"] == sum(h == r for h, r in zip(hyps, refs)) / len(refs)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"eval": {"beam_size": 0}}, "eval.beam_size: expected an integer >= 1, got 0"),
        ({"eval": {"max_len_a": -1}}, "eval.max_len_a: expected a number >= 0"),
        ({"train": {"teacher_forcing": 1.5}}, r"train.teacher_forcing: expected a number in \[0, 1\], got 1.5"),
        ({"train": {"label_smoothing": 1.0}}, r"train.label_smoothing: expected a number in \[0, 1\)"),
        ({"train": {"teacher_forcing_schedule": "cosine"}}, "train.teacher_forcing_schedule: expected one of"),
    ],
)
def test_bad_training_and_eval_keys_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.from_dict({"task": "seq2seq", **overrides})
