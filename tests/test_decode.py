"""Decoding: beam 1 equals greedy, beam beats greedy where it must, exhaustive optimum,
early stop, per-example max_len, eos padding, seeded sampling, nested state, bad input."""

import itertools
import math

import pytest
import torch

from seqlab.decode import Decoded, beam_search, filter_logits, gnmt_length_penalty, greedy, sample, select_state

PAD, SOS, EOS = 0, 1, 2


class ToyLM:
    """A fixed random one-step model: h' = tanh(h A + E[y]), log p = log_softmax(M[y] + h' P).

    The log-probabilities depend on the last token and on the whole history through the
    state h (N, D), so a wrongly reordered state changes the result. Float64 so that no two
    candidates tie.
    """

    def __init__(self, vocab: int = 7, dim: int = 3, seed: int = 0, eos_bias: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        self.M = 2 * torch.randn(vocab, vocab, generator=g, dtype=torch.float64)
        self.M[:, EOS] += eos_bias
        self.E = torch.randn(vocab, dim, generator=g, dtype=torch.float64)
        self.A = 0.5 * torch.randn(dim, dim, generator=g, dtype=torch.float64)
        self.P = torch.randn(dim, vocab, generator=g, dtype=torch.float64)
        self.calls = 0

    def initial_state(self, batch: int, seed: int = 1) -> torch.Tensor:
        return torch.randn(batch, self.A.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def __call__(self, tokens, h):
        self.calls += 1
        h = torch.tanh(h @ self.A + self.E[tokens])  # (N, D)
        return torch.log_softmax(self.M[tokens] + h @ self.P, dim=-1), h  # (N, V), (N, D)


def table_step(probs: dict[int, list[float]], vocab: int):
    """A stateless step whose next-token distribution depends on the last token only."""
    table = torch.full((vocab, vocab), 1.0 / vocab, dtype=torch.float64)
    for last, row in probs.items():
        table[last] = torch.tensor(row, dtype=torch.float64)
    calls = []

    def step(tokens, state):
        calls.append(tokens.clone())
        return table[tokens].log(), state

    return step, calls


def rescore(step, state, tokens, lengths):
    """Teacher-force ``tokens`` (N, T) through ``step``; total log-prob up to each length (N,)."""
    previous = torch.full((tokens.shape[0],), SOS, dtype=torch.long)
    total = torch.zeros(tokens.shape[0], dtype=torch.float64)
    for t in range(tokens.shape[1]):
        log_probs, state = step(previous, state)
        picked = log_probs.gather(1, tokens[:, t : t + 1]).squeeze(1)
        total = total + torch.where(t < lengths, picked, torch.zeros_like(picked))
        previous = tokens[:, t]
    return total


def assert_well_formed(out: Decoded, max_len):
    """Tokens end with eos at lengths-1 (unless cut by max_len), pad after; scores add up."""
    max_lens = torch.as_tensor(max_len).expand(out.tokens.shape[0])
    for row, length, limit in zip(out.tokens, out.lengths.tolist(), max_lens.tolist()):
        assert 1 <= length <= limit
        assert (row[: length - 1] != EOS).all()
        assert row[length - 1] == EOS or length == limit
        assert (row[length:] == PAD).all()
    steps = torch.arange(out.tokens.shape[1])[None]
    assert (out.step_scores[steps >= out.lengths[:, None]] == 0).all()
    torch.testing.assert_close(out.step_scores.sum(1), out.scores)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_len", [1, 4, 12, "per-example"])
def test_beam_size_one_equals_greedy_exactly(seed, max_len):
    lm = ToyLM(seed=seed, eos_bias=1.0)
    if max_len == "per-example":
        max_len = torch.tensor([3, 9, 1, 12, 6])
    want = greedy(lm, lm.initial_state(5), 5, SOS, EOS, max_len)
    got = beam_search(lm, lm.initial_state(5), 5, SOS, EOS, max_len, beam_size=1)
    assert torch.equal(got.tokens, want.tokens)
    assert torch.equal(got.lengths, want.lengths)
    assert torch.equal(got.scores, want.scores)  # the same additions in the same order
    assert torch.equal(got.step_scores, want.step_scores)
    assert_well_formed(want, max_len)
    assert_well_formed(got, max_len)


# Vocabulary of the hand-built example: 0 pad, 1 sos, 2 eos, 3 "A", 4 "B".
#   after sos: A 0.56, B 0.40 (eos 0.02, pad/sos 0.01)
#   after A:   eos 0.40, A 0.29, B 0.29
#   after B:   eos 0.90, A 0.04, B 0.04
# Greedy takes A (0.56) then eos (0.40): p(A eos) = 0.56 * 0.40 = 0.224.
# Beam 2 keeps A (0.56) and B (0.40) after step 1; step 2's best candidates are
#   B eos = 0.40 * 0.90 = 0.360,  A eos = 0.224,  A A = A B = 0.56 * 0.29 = 0.1624, ...
# so the beams are [B eos, A eos]; both ended, so the search stops after 2 steps, and
# B eos (log 0.36) beats greedy's A eos (log 0.224).
HAND = {SOS: [0.01, 0.01, 0.02, 0.56, 0.40], 3: [0.01, 0.01, 0.40, 0.29, 0.29], 4: [0.01, 0.01, 0.90, 0.04, 0.04]}


def test_beam_finds_the_best_sequence_where_greedy_fails():
    step, _ = table_step(HAND, 5)
    assert greedy(step, None, 1, SOS, EOS, 10).tokens.tolist() == [[3, EOS]]
    out = beam_search(step, None, 1, SOS, EOS, 10, beam_size=2)
    assert out.tokens.tolist() == [[4, EOS]]
    torch.testing.assert_close(out.scores, torch.tensor([math.log(0.36)], dtype=torch.float64))
    assert out.nbest.tokens.tolist() == [[[4, EOS], [3, EOS]]]
    torch.testing.assert_close(out.nbest.scores, torch.tensor([[math.log(0.36), math.log(0.224)]], dtype=torch.float64))


def test_early_stop_when_all_beams_ended():
    step, calls = table_step(HAND, 5)
    beam_search(step, None, 3, SOS, EOS, 50, beam_size=2)
    assert len(calls) == 2  # both beams end at step 2 (see the derivation above)
    assert calls[0].shape == (6,)  # B*K rows in one call
    step, calls = table_step(HAND, 5)
    greedy(step, None, 3, SOS, EOS, 50)
    assert len(calls) == 2


def test_per_example_max_len():
    step, calls = table_step(HAND, 5)
    out = beam_search(step, None, 2, SOS, EOS, torch.tensor([1, 10]), beam_size=2)
    # example 0 is cut after one token: the best one-token prefix is A (0.56), no eos
    assert out.tokens.tolist() == [[3, PAD], [4, EOS]]
    assert out.lengths.tolist() == [1, 2]
    assert len(calls) == 2
    lm = ToyLM(seed=3, eos_bias=-3.0)  # eos unlikely: rows run to their own limit
    limits = torch.tensor([2, 5, 1, 7])
    for out in (
        greedy(lm, lm.initial_state(4), 4, SOS, EOS, limits),
        beam_search(lm, lm.initial_state(4), 4, SOS, EOS, limits, beam_size=3),
    ):
        assert_well_formed(out, limits)
        assert (out.lengths <= limits).all() and out.tokens.shape[1] <= 7


def test_eos_padding_and_custom_pad_id():
    lm = ToyLM(seed=1, eos_bias=1.5)
    out = greedy(lm, lm.initial_state(8), 8, SOS, EOS, 10)
    assert_well_formed(out, 10)
    assert (out.lengths < 10).any() and out.lengths.max() == out.tokens.shape[1]
    out = greedy(lm, lm.initial_state(8), 8, SOS, EOS, 10, pad_id=6)
    steps = torch.arange(out.tokens.shape[1])[None]
    assert (out.tokens[steps >= out.lengths[:, None]] == 6).all()


def test_beam_equals_exhaustive_search_when_wide_enough():
    """With K >= V^L every prefix survives, so the best of the beam is the true optimum."""
    lm = ToyLM(vocab=4, seed=5, eos_bias=0.5)
    V, L = 4, 3
    state = lm.initial_state(1)
    candidates = {}  # every distinct output: the tokens up to the first eos, pad after
    for seq in itertools.product(range(V), repeat=L):
        length = seq.index(EOS) + 1 if EOS in seq else L
        candidates[seq[:length] + (PAD,) * (L - length)] = length
    tokens = torch.tensor(list(candidates))  # (M, L)
    scores = rescore(lm, state.expand(len(candidates), -1), tokens, torch.tensor(list(candidates.values())))
    best = scores.argmax()
    out = beam_search(lm, state, 1, SOS, EOS, L, beam_size=V**L)
    assert out.tokens[0].tolist() == tokens[best, : out.tokens.shape[1]].tolist()
    assert out.scores.item() == pytest.approx(scores[best].item())


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_nbest_ranked_by_gnmt_penalty_and_rescored(alpha):
    lm = ToyLM(seed=2, eos_bias=0.5)
    out = beam_search(lm, lm.initial_state(3), 3, SOS, EOS, 8, beam_size=4, length_penalty=alpha)
    ranking = out.nbest.scores / gnmt_length_penalty(out.nbest.lengths, alpha)
    assert (ranking[:, :-1] >= ranking[:, 1:]).all()
    for k in range(4):
        assert_well_formed(
            Decoded(
                out.nbest.tokens[:, k], out.nbest.lengths[:, k], out.nbest.scores[:, k], out.nbest.step_scores[:, k]
            ),
            8,
        )
    torch.testing.assert_close(
        gnmt_length_penalty(torch.tensor([1, 7]), 1.0), torch.tensor([1.0, 2.0], dtype=torch.float64)
    )


def lstm_step_fn(vocab=6, hidden=4, seed=0):
    """An LSTM decoder step whose state is a nested dict/tuple/list with batch at dim 0."""
    torch.manual_seed(seed)
    embed, cell, out = (
        torch.nn.Embedding(vocab, hidden),
        torch.nn.LSTMCell(hidden, hidden),
        torch.nn.Linear(hidden, vocab),
    )

    @torch.no_grad()
    def step(tokens, state):
        h, c = cell(embed(tokens), state["lstm"])
        count = state["extra"][0] + 1
        log_probs = torch.log_softmax(out(h).double() + 0.3 * count[:, None], dim=-1)
        return log_probs, {"lstm": (h, c), "extra": [count, "untouched"]}

    return step


def test_nested_state_is_reordered_with_the_beams():
    """Rescoring each n-best hypothesis by teacher forcing gives the reported score; a state
    row left with the wrong beam would change the log-probabilities along the way."""
    step = lstm_step_fn()
    g = torch.Generator().manual_seed(0)
    state = {
        "lstm": (torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)),
        "extra": [torch.zeros(3), "untouched"],
    }
    out = beam_search(step, state, 3, SOS, EOS, 6, beam_size=3)
    tokens = out.nbest.tokens.reshape(9, -1)
    expanded = select_state(state, torch.arange(3).repeat_interleave(3))
    torch.testing.assert_close(
        rescore(step, expanded, tokens, out.nbest.lengths.reshape(9)), out.nbest.scores.reshape(9)
    )
    assert out.tokens.shape[0] == 3 and out.nbest.tokens.shape[:2] == (3, 3)


def test_sampling_is_reproducible_with_a_seeded_generator():
    lm = ToyLM(seed=4, eos_bias=0.5)
    draw = lambda seed: sample(
        lm, lm.initial_state(6), 6, SOS, EOS, 10, temperature=1.3, generator=torch.Generator().manual_seed(seed)
    )
    first, again, other = draw(7), draw(7), draw(8)
    assert torch.equal(first.tokens, again.tokens) and torch.equal(first.scores, again.scores)
    assert not torch.equal(first.tokens, other.tokens)
    assert_well_formed(first, 10)
    torch.testing.assert_close(rescore(lm, lm.initial_state(6), first.tokens, first.lengths), first.scores)


@pytest.mark.parametrize(
    "options", [{"top_k": 1}, {"top_p": 1e-6}, {"temperature": 0.0}, {"temperature": 0.0, "top_k": 3}]
)
def test_degenerate_sampling_equals_greedy(options):
    lm = ToyLM(seed=6, eos_bias=0.5)
    want = greedy(lm, lm.initial_state(5), 5, SOS, EOS, 9)
    got = sample(lm, lm.initial_state(5), 5, SOS, EOS, 9, generator=torch.Generator().manual_seed(0), **options)
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.scores, want.scores)


def test_sampling_follows_the_filtered_distribution():
    probs = torch.tensor([0.05, 0.05, 0.1, 0.5, 0.3], dtype=torch.float64)
    step = lambda tokens, state: (probs.log().expand(tokens.shape[0], 5), state)
    g = torch.Generator().manual_seed(0)
    first = sample(step, None, 20000, SOS, EOS, 1, generator=g).tokens[:, 0]
    torch.testing.assert_close(torch.bincount(first, minlength=5).double() / 20000.0, probs, atol=0.015, rtol=0)
    top2 = sample(step, None, 2000, SOS, EOS, 1, top_k=2, generator=g).tokens[:, 0]
    assert set(top2.tolist()) == {3, 4}
    nucleus = sample(step, None, 2000, SOS, EOS, 1, top_p=0.7, generator=g).tokens[:, 0]  # 0.5 < 0.7 <= 0.8
    assert set(nucleus.tolist()) == {3, 4}
    kept = filter_logits(probs.log()[None], top_p=0.85)  # 0.5 + 0.3 < 0.85: eos (0.1) joins
    assert torch.isfinite(kept).tolist() == [[False, False, True, True, True]]


# (call, fragment of the ValueError message)
BAD = [
    (lambda s: beam_search(s, None, 1, SOS, EOS, 5, beam_size=0), "beam_size must be an int >= 1, got 0"),
    (
        lambda s: beam_search(s, None, 1, SOS, EOS, 0, beam_size=2),
        "max_len must be a positive int or a LongTensor (B,), got 0",
    ),
    (lambda s: greedy(s, None, 2, SOS, EOS, torch.tensor([3, 0])), "max_len must be > 0, got [3, 0]"),
    (lambda s: greedy(s, None, 2, SOS, EOS, torch.tensor([3, 4, 5])), "shape (batch_size,) = (2,)"),
    (lambda s: greedy(s, None, 0, SOS, EOS, 5), "batch_size must be a positive int, got 0"),
    (lambda s: sample(s, None, 1, SOS, EOS, 5, temperature=-0.5), "temperature must be >= 0, got -0.5"),
    (lambda s: sample(s, None, 1, SOS, EOS, 5, top_p=0.0), "top_p must be in (0, 1], got 0.0"),
    (lambda s: sample(s, None, 1, SOS, EOS, 5, top_p=1.5), "top_p must be in (0, 1], got 1.5"),
    (lambda s: sample(s, None, 1, SOS, EOS, 5, top_k=-1), "top_k must be an int >= 0 (0 = off), got -1"),
    (
        lambda s: beam_search(s, None, 1, SOS, EOS, 5, beam_size=2, length_penalty=-1.0),
        "length_penalty must be >= 0, got -1.0",
    ),
    (lambda s: greedy(s, None, 1, SOS, EOS, 5, pad_id=9), "pad_id 9 is outside the vocabulary of size 5"),
    (
        lambda s: beam_search(lambda t, st: (torch.zeros(1, 5), st), None, 1, SOS, EOS, 5, beam_size=3),
        "log_probs of shape (N, V) with N = 3, got (1, 5)",
    ),
]


@pytest.mark.parametrize("call, message", BAD)
def test_bad_input_messages(call, message):
    step, _ = table_step(HAND, 5)
    with pytest.raises(ValueError) as info:
        call(step)
    assert message in str(info.value)
