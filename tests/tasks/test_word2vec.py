"""word2vec: the SGD step against autograd, subsampling and noise by hand, windows, the corpus, bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqlab import config
from seqlab.errors import ConfigError, DataError, TrainingError
from seqlab.tasks import word2vec, word2vec_data
from seqlab.tasks.word2vec import Chunk, Word2Vec


def _loss_reference(hidden: torch.Tensor, output: torch.Tensor, targets: torch.Tensor,
                    keep: torch.Tensor) -> torch.Tensor:
    """The negative-sampling loss by torch's own BCE-with-logits: label 1 for the target, 0 for noise."""
    scores = torch.einsum("pd,pkd->pk", hidden, output[targets])
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1
    return (torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none") * keep).sum()


def test_sgd_step_is_minus_alpha_times_the_autograd_gradient():
    torch.manual_seed(0)
    model = Word2Vec(7, 4).double()
    model.output.data.normal_()  # nonzero, so every term of the gradient shows
    hidden = torch.randn(5, 4, dtype=torch.float64)
    targets = torch.tensor([[1, 2, 2], [3, 1, 1], [1, 0, 6], [4, 4, 5], [2, 2, 2]])  # repeated rows on purpose
    keep = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=torch.float64)
    alpha = 0.1
    h, out = hidden.clone().requires_grad_(), model.output.detach().clone().requires_grad_()
    reference = _loss_reference(h, out, targets, keep)
    reference.backward()
    before = model.output.detach().clone()
    step, loss = model.sgd_step(hidden, targets, keep, alpha)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    torch.testing.assert_close(step, -alpha * h.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.output - before, -alpha * out.grad, rtol=1e-12, atol=1e-12)


def test_shared_step_is_minus_alpha_times_the_autograd_gradient_over_every_valid_pair():
    """Shared noise words: every valid context word of a group is one prediction of the
    group's targets; the reference flattens the groups into those pairs and takes torch's BCE."""
    torch.manual_seed(0)
    model = Word2Vec(7, 4).double()
    model.output.data.normal_()
    hidden = torch.randn(3, 4, 4, dtype=torch.float64)  # 3 groups of up to 4 context vectors
    valid = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]], dtype=torch.bool)
    targets = torch.tensor([[1, 2, 2], [3, 1, 1], [2, 2, 2]])  # repeated rows on purpose
    keep = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.float64)
    alpha = 0.1
    h, out = hidden.clone().requires_grad_(), model.output.detach().clone().requires_grad_()
    group = valid.nonzero(as_tuple=True)[0]  # the group of each valid pair
    reference = _loss_reference(h[valid], out, targets[group], keep[group])
    reference.backward()
    before = model.output.detach().clone()
    step, loss = model.shared_sgd_step(hidden, valid, targets, keep, alpha)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    torch.testing.assert_close(step, -alpha * h.grad, rtol=1e-12, atol=1e-12)  # zero where not valid
    assert step[~valid].abs().max() == 0
    torch.testing.assert_close(model.output - before, -alpha * out.grad, rtol=1e-12, atol=1e-12)


def test_shared_skipgram_chunk_moves_each_context_word_by_its_own_step():
    torch.manual_seed(0)
    model = Word2Vec(6, 3).double()
    model.output.data.normal_()
    chunk = Chunk(inputs=torch.tensor([[1, 2, 1, 0]]), input_mask=torch.tensor([[True, True, True, False]]),
                  targets=torch.tensor([4]))  # word 1 twice: both its steps add up
    noise = word2vec.NoiseSampler(torch.tensor([0, 0, 0, 0, 0, 1]))  # every noise draw is word 5
    before, alpha = model.input.detach().clone(), 0.05
    h = before[[1, 2, 1]].clone().requires_grad_()
    reference = _loss_reference(h, model.output.detach(), torch.tensor([[4, 5, 5]] * 3), torch.ones(3, 3).double())
    reference.backward()
    loss, count = word2vec.train_step(model, [chunk], noise, 2, alpha, torch.Generator().manual_seed(0))
    assert count == 3 and loss == pytest.approx(reference.item(), rel=1e-12)
    moved = model.input.detach() - before
    torch.testing.assert_close(moved[1], -alpha * (h.grad[0] + h.grad[2]), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(moved[2], -alpha * h.grad[1], rtol=1e-10, atol=1e-12)
    assert moved[[0, 3, 4, 5]].abs().max() == 0


def test_shared_draws_weigh_each_noise_word_by_one_over_the_draws():
    """With every noise draw the same word, 2 x K draws weighted 1/2 are K draws weighted 1: same step."""
    chunk = Chunk(inputs=torch.tensor([[1, 2, 3, 0]]), input_mask=torch.tensor([[True, True, True, False]]),
                  targets=torch.tensor([4]))
    noise = word2vec.NoiseSampler(torch.tensor([0, 0, 0, 0, 0, 1]))  # every noise draw is word 5
    models = []
    for draws in (1, 2):
        torch.manual_seed(0)
        model = Word2Vec(6, 3).double()
        model.output.data.normal_()
        loss, count = word2vec.train_step(model, [chunk], noise, 2, 0.05, torch.Generator().manual_seed(0),
                                           shared_draws=draws)
        models.append((model, loss, count))
    (one, loss1, count1), (two, loss2, count2) = models
    assert count1 == count2 == 3 and loss2 == pytest.approx(loss1, rel=1e-12)
    torch.testing.assert_close(two.input, one.input, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(two.output, one.output, rtol=1e-12, atol=1e-12)


def test_a_step_draws_once_for_its_chunks_and_updates_them_in_turn():
    """train_step over two chunks (the noise words of both drawn at once) moves the tables as
    the two chunks trained one after the other do: each chunk gets its own rows of targets."""
    noise = word2vec.NoiseSampler(torch.tensor([0, 0, 0, 0, 0, 0, 1]))  # every noise draw is word 6
    chunks = [Chunk(inputs=torch.tensor([[1, 2], [3, 0]]), input_mask=torch.tensor([[True, True], [True, False]]),
                    targets=torch.tensor([4, 5])),
              Chunk(inputs=torch.tensor([[2, 3, 1, 0]]), input_mask=torch.tensor([[True, True, True, True]]),
                    targets=torch.tensor([0]))]
    models = []
    for together in (True, False):
        torch.manual_seed(0)
        model = Word2Vec(7, 3).double()
        model.output.data.normal_()
        if together:
            loss, count = word2vec.train_step(model, chunks, noise, 2, 0.05, torch.Generator().manual_seed(0),
                                              shared_draws=2)
        else:
            parts = [word2vec.train_step(model, [c], noise, 2, 0.05, torch.Generator(), shared_draws=2) for c in chunks]
            loss, count = sum(p[0] for p in parts), sum(p[1] for p in parts)
        models.append((model, loss, count))
    (a, loss_a, count_a), (b, loss_b, count_b) = models
    assert count_a == count_b == 7 and loss_a == pytest.approx(loss_b, rel=1e-12)
    torch.testing.assert_close(a.input, b.input, rtol=0, atol=0)
    torch.testing.assert_close(a.output, b.output, rtol=0, atol=0)
    assert word2vec.train_step(a, [], noise, 2, 0.05, torch.Generator()) == (0.0, 0)


def test_cbow_step_spreads_the_whole_hidden_step_onto_each_context_word():
    """The C tool (cbow, mean): h = mean of the context vectors, and each context vector
    gets the full step for h (not divided by the context size)."""
    torch.manual_seed(0)
    model = Word2Vec(6, 3).double()
    model.output.data.normal_()
    chunk = Chunk(inputs=torch.tensor([[1, 2, 3, 0]]), input_mask=torch.tensor([[True, True, True, False]]),
                  targets=torch.tensor([4]))
    noise = word2vec.NoiseSampler(torch.tensor([0, 0, 0, 0, 0, 1]))  # every noise draw is word 5
    inputs_before, alpha = model.input.detach().clone(), 0.05
    h = inputs_before[[1, 2, 3]].mean(0, keepdim=True).requires_grad_()
    reference = _loss_reference(h, model.output.detach(), torch.tensor([[4, 5, 5]]), torch.ones(1, 3).double())
    reference.backward()
    model = model.to(torch.float64)
    loss, count = word2vec.train_step(model, [chunk], noise, 2, alpha, torch.Generator().manual_seed(0),
                                      cbow=True)
    assert count == 1 and loss == pytest.approx(reference.item(), rel=1e-6)
    moved = model.input.detach() - inputs_before
    for row in (1, 2, 3):
        torch.testing.assert_close(moved[row], -alpha * h.grad[0].to(moved.dtype), rtol=1e-5, atol=1e-7)
    assert moved[[0, 4, 5]].abs().max() == 0


def test_keep_probabilities_follow_the_c_formula():
    # counts 1000 and 10 of T = 1010 words, s = 1e-3: s*T = 1.01.
    # word 0: (sqrt(1000 / 1.01) + 1) * 1.01 / 1000 = (31.4658 + 1) * 0.00101 = 0.0327905
    # word 1: (sqrt(10 / 1.01) + 1) * 1.01 / 10 = (3.1466 + 1) * 0.101 = 0.418813, below 1
    keep = word2vec.keep_probabilities(torch.tensor([1000, 10]), 1e-3)
    assert keep[0].item() == pytest.approx((math.sqrt(1000 / 1.01) + 1) * 1.01 / 1000)
    assert keep[0].item() == pytest.approx(0.0327905, abs=1e-6)
    assert keep[1].item() == pytest.approx(0.418813, abs=1e-5)
    assert word2vec.keep_probabilities(torch.tensor([5, 1]), 1.0).tolist() == [1.0, 1.0]  # capped
    assert word2vec.keep_probabilities(torch.tensor([1000, 10]), 0.0).tolist() == [1.0, 1.0]


def test_noise_words_are_drawn_from_unigram_to_the_three_quarters():
    # counts 16 and 1: weights 16^0.75 = 8 and 1, so P = 8/9 and 1/9
    noise = word2vec.NoiseSampler(torch.tensor([16, 1]))
    assert noise.probabilities().tolist() == pytest.approx([8 / 9, 1 / 9], abs=1e-12)
    draws = noise.draw((90000,), torch.Generator().manual_seed(0))
    assert (draws == 1).float().mean().item() == pytest.approx(1 / 9, abs=0.005)


def test_alias_table_is_exact_for_a_skewed_vocabulary():
    rare = torch.randint(1, 50, (200,), generator=torch.Generator().manual_seed(1))
    counts = torch.cat([torch.tensor([100000, 20000, 3000]), rare])
    weights = counts.double() ** 0.75
    noise = word2vec.NoiseSampler(counts)
    torch.testing.assert_close(noise.probabilities(), weights / weights.sum(), rtol=1e-9, atol=1e-15)
    draws = noise.draw((400, 1000), torch.Generator().manual_seed(0))
    assert draws.shape == (400, 1000) and int(draws.min()) >= 0 and int(draws.max()) < len(counts)
    seen = torch.bincount(draws.reshape(-1), minlength=len(counts)).double() / draws.numel()
    expected = weights / weights.sum()
    # each word's share within 5 standard errors of its probability
    assert bool(((seen - expected).abs() <= 5 * (expected * (1 - expected) / draws.numel()).sqrt() + 1e-9).all())
    with pytest.raises(ValueError, match="positive count"):
        word2vec.NoiseSampler(torch.tensor([0, 0]))


def test_windows_stay_inside_their_line():
    ids, lines = torch.tensor([10, 11, 12, 13, 14]), torch.tensor([0, 0, 0, 1, 1])
    [chunk] = word2vec.window_chunks(ids, lines, 0, 5, window=1, grouped=False, generator=torch.Generator())
    pairs = sorted(zip(chunk.inputs.tolist(), chunk.targets.tolist()))  # (context, center)
    assert pairs == [(10, 11), (11, 10), (11, 12), (12, 11), (13, 14), (14, 13)]
    [cbow] = word2vec.window_chunks(ids, lines, 0, 5, window=1, grouped=True, generator=torch.Generator())
    assert cbow.targets.tolist() == [10, 11, 12, 13, 14]
    assert cbow.input_mask.sum(1).tolist() == [1, 2, 1, 1, 1]
    # a line of one word has no context: its center makes no row (and draws no noise words)
    ids, lines = torch.tensor([10, 11, 12, 13, 14]), torch.tensor([0, 0, 1, 2, 2])
    [chunk] = word2vec.window_chunks(ids, lines, 0, 5, window=2, grouped=False, generator=torch.Generator())
    assert sorted(zip(chunk.inputs.tolist(), chunk.targets.tolist())) == [(10, 11), (11, 10), (13, 14), (14, 13)]
    chunks = word2vec.window_chunks(ids, lines, 0, 5, window=2, grouped=True, generator=torch.Generator())
    assert sorted(t for c in chunks for t in c.targets.tolist()) == [10, 11, 13, 14]


def test_reduced_windows_reach_between_1_and_window():
    n, window = 4000, 3
    chunks = word2vec.window_chunks(torch.arange(n), torch.zeros(n, dtype=torch.long), 0, n, window, grouped=True,
                                    generator=torch.Generator().manual_seed(0))
    assert [c.inputs.shape[1] for c in chunks] == [2, 4, 6]  # one chunk per reach, 2 * reach slots a row
    assert sorted(torch.cat([c.targets for c in chunks]).tolist()) == list(range(n))  # every center once
    for chunk in chunks:
        reach = chunk.inputs.shape[1] // 2
        offsets = chunk.inputs - chunk.targets.unsqueeze(1)  # ids are positions here
        inner = (chunk.targets >= window) & (chunk.targets < n - window)  # centers away from the ends
        assert offsets[inner].tolist() == [[*range(-reach, 0), *range(1, reach + 1)]] * int(inner.sum())
        assert bool(chunk.input_mask[inner].all())
        assert len(chunk.targets) == pytest.approx(n / window, rel=0.1)  # reach uniform on {1, 2, 3}
    pairs = word2vec.window_chunks(torch.arange(n), torch.zeros(n, dtype=torch.long), 0, n, window, grouped=False,
                                   generator=torch.Generator().manual_seed(0))
    assert len(pairs) == 1 and len(pairs[0].targets) == sum(int(c.input_mask.sum()) for c in chunks)


def test_corpus_vocabulary_is_most_frequent_first_and_cut_at_min_count():
    corpus = word2vec.build_corpus(["b a b, c!", "a b d"], min_count=2, max_vocab=None, lowercase=True, source="t")
    assert corpus.words == ["b", "a"] and corpus.counts.tolist() == [3, 2]
    assert corpus.ids.tolist() == [0, 1, 0, 1, 0] and corpus.lines.tolist() == [0, 0, 0, 1, 1]
    assert corpus.raw_words == 7


def test_a_corpus_too_small_for_min_count_is_a_clear_error():
    with pytest.raises(DataError, match=r"mine\.txt: 1 distinct word.*data\.min_freq=3.*'the' x3"):
        word2vec.build_corpus(["the cat the", "the dog"], min_count=3, max_vocab=None, lowercase=False,
                              source="mine.txt")


def test_user_text_file_and_wrong_format(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("a b a b\n\nb c\n", encoding="utf-8")
    cfg = config.from_dict({"task": "word2vec", "data": {"name": None, "train": str(text), "format": "text",
                                                        "min_freq": 2}})
    corpus = word2vec.load_data(cfg)
    assert corpus.words == ["b", "a"] and corpus.lines.tolist() == [0, 0, 0, 0, 1]
    bad = config.apply_overrides(cfg, {"data.format": "csv"})
    with pytest.raises(ConfigError, match="data.format"):
        word2vec.load_data(bad)


def test_divergence_stops_the_run():
    w = config.Config().word2vec
    word2vec.check_diverged(4.0 * 10, 10, 5, 1, 1, w)  # below the start: fine
    with pytest.raises(TrainingError, match="diverged at epoch 2, step 7"):
        word2vec.check_diverged(100.0 * 10, 10, 5, 2, 7, w)
    with pytest.raises(TrainingError):
        word2vec.check_diverged(float("nan"), 10, 5, 2, 7, w)


def test_imdb_text_from_train_reads_only_the_training_reviews(monkeypatch):
    """data.text_from=train: vectors a classifier scored on IMDB test may start from never read a test review."""
    reviews = {"train": [("good film<br />really", 1)], "test": [("bad plot", 0)]}
    monkeypatch.setattr(word2vec_data.registry, "load", lambda name, split: list(reviews[split]))
    cfg = config.from_dict({"task": "word2vec", "data": {"name": "imdb"}})
    lines, source = word2vec.read_lines(cfg)
    assert list(lines) == ["good film really", "bad plot"] and source == "imdb reviews (train + test)"
    lines, source = word2vec.read_lines(config.apply_overrides(cfg, {"data.text_from": "train"}))
    assert list(lines) == ["good film really"] and source == "imdb reviews (train)"
    lee = config.from_dict({"task": "word2vec", "data": {"name": "word2vec_lee", "text_from": "train"}})
    with pytest.raises(ConfigError, match=r"data\.text_from: word2vec_lee .*expected 'all', got 'train'"):
        word2vec.read_lines(lee)
    with pytest.raises(ConfigError, match="data.text_from"):
        config.from_dict({"task": "word2vec", "data": {"name": "imdb", "text_from": "test"}})


# -- train.max_minutes ---------------------------------------------------------------------

LEE = {"train.epochs": 3, "word2vec.analogies": None, "train.log_every": 1, "word2vec.workers": 1}  # one worker: exact steps


def test_a_time_limit_stops_word2vec_and_keeps_what_it_learned(tmp_path, monkeypatch):
    from seqlab.training import loop

    monkeypatch.setattr(word2vec.Tally, "spent", lambda self: 0.0 if self.step < 3 or self.clock.limit is None else 1.0)
    run = loop.train("word2vec-lee", {**LEE, "train.max_minutes": 5}, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert summary["time_limit_reached"] and summary["epochs"] == 1 and summary["steps"] == 3
    assert [r.get("cut_short") for r in records if r["kind"] == "epoch"] == [True]
    assert (run / word2vec.WEIGHTS_FILE).is_file()
    plain = json.loads((loop.train("word2vec-lee", {**LEE, "train.epochs": 1}, out=tmp_path / "p") / "summary.json")
                       .read_text())
    assert not plain["time_limit_reached"] and plain["epochs"] == 1 and plain["steps"] > 3


def test_the_learning_rate_decays_by_the_time_spent_when_it_leads(tmp_path, monkeypatch):
    from seqlab.training import loop

    monkeypatch.setattr(word2vec.Tally, "spent", lambda self: 0.0 if self.clock.limit is None else 0.5)  # half the limit, always
    w = config.resolve("word2vec-lee").word2vec
    run = loop.train("word2vec-lee", {**LEE, "train.max_minutes": 5}, out=tmp_path / "run")
    steps = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "step"]
    # alpha - (alpha - min_alpha) * max(words done / all words, 0.5): flat at the middle until the words lead
    assert steps[0]["lr"] == pytest.approx(w.alpha - (w.alpha - w.min_alpha) * 0.5)
    assert steps[-1]["lr"] < steps[0]["lr"] and not json.loads((run / "summary.json").read_text())["time_limit_reached"]
