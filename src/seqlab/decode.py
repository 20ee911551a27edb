"""Greedy search, batched beam search and sampling over any one-step function.

The step contract (a decoder exposes one step apart from its loop; search builds on it)::

    log_probs, new_state = step(tokens, state)
    tokens     LongTensor (N,)   the previous token of each row (sos_id at the first step)
    state      a tensor, or a (nested) tuple / list / dict of tensors, whose dim 0 is the
               row dim N; None and non-tensor leaves are passed through untouched
    log_probs  (N, V)            log-probabilities of the next token (log_softmax output)

N is the batch size B for greedy and sampling, and B·K for beam search (K = beam_size):
beam search repeats every state row K times (rows b·K .. b·K+K-1 belong to example b) and
reorders the rows with ``index_select`` on dim 0 after every step, so all B·K hypotheses
go through one step call.

Every search returns a :class:`Decoded`: ``tokens`` (B, T) without the leading sos and
padded with ``pad_id`` after eos, ``lengths`` (B,) counting the eos (or ``max_len`` when
no eos came), ``scores`` (B,) the total log-probability of the tokens up to the length,
and ``step_scores`` (B, T) the log-probability of each chosen token (0 after the end).
Rows that have ended are fed ``pad_id``, so the step function must accept it
(0 <= pad_id < V). ``max_len`` is an int or a LongTensor (B,) of per-example limits
(e.g. a multiple of each source length).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

State = Any  # Tensor | tuple | list | dict of States | None
StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


@dataclass(frozen=True)
class Decoded:
    """Search output. tokens (B, T) padded after eos; lengths (B,) including eos; scores (B,)
    total log-probability; step_scores (B, T). ``nbest`` (beam search only): all K
    hypotheses ranked best first, the same fields with shapes (B, K, T), (B, K)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    step_scores: Tensor
    nbest: Decoded | None = None


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor in a (nested) tuple / list / dict state."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_state(fn, value) for key, value in state.items()}
    if isinstance(state, (tuple, list)):
        mapped = [map_state(fn, value) for value in state]
        return type(state)(*mapped) if hasattr(state, "_fields") else type(state)(mapped)
    return state


def select_state(state: State, index: Tensor) -> State:
    """Rows ``index`` (LongTensor (M,)) of every tensor in the state, along dim 0."""
    return map_state(lambda t: t.index_select(0, index.to(t.device)), state)


def gnmt_length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty (Wu et al. 2016, eq. 14): ``lp = ((5 + |Y|) / 6) ** alpha``.

    lengths (...,) -> lp (...,) float; a hypothesis is ranked by ``scores / lp``, so
    alpha = 0 ranks by total log-probability and larger alpha favours longer output.
    """
    return ((5.0 + lengths.double()) / 6.0) ** alpha


def _tensors(state: State) -> Iterator[Tensor]:
    """Every tensor in a (nested) tuple / list / dict state, depth first."""
    if isinstance(state, Tensor):
        yield state
    elif isinstance(state, (tuple, list, dict)):
        for child in state.values() if isinstance(state, dict) else state:
            yield from _tensors(child)


def _state_device(state: State) -> torch.device:
    """The device of the first tensor in the state; the CPU for a state without tensors."""
    first = next(_tensors(state), None)
    return torch.device("cpu") if first is None else first.device


def _check_common(batch_size: int, sos_id: int, eos_id: int, pad_id: int, max_len: int | Tensor, device) -> Tensor:
    """Validate the shared arguments; returns max_lens LongTensor (B,) on ``device``."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    for name, value in (("sos_id", sos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a token id (int >= 0), got {value!r}")
    if isinstance(max_len, Tensor):
        if max_len.shape != (batch_size,) or max_len.is_floating_point():
            raise ValueError(
                f"max_len as a tensor must be integer with shape (batch_size,) = ({batch_size},), got {max_len.dtype} {tuple(max_len.shape)}"
            )
        if (max_len <= 0).any():
            raise ValueError(f"max_len must be > 0, got {max_len.tolist()}")
        return max_len.to(device=device, dtype=torch.long)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0:
        raise ValueError(f"max_len must be a positive int or a LongTensor (B,), got {max_len!r}")
    return torch.full((batch_size,), max_len, dtype=torch.long, device=device)


def _check_log_probs(log_probs: Tensor, rows: int, pad_id: int) -> None:
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 2 or log_probs.shape[0] != rows:
        got = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise ValueError(f"step must return log_probs of shape (N, V) with N = {rows}, got {got}")
    if pad_id >= log_probs.shape[1]:
        raise ValueError(
            f"pad_id {pad_id} is outside the vocabulary of size {log_probs.shape[1]}; ended rows are fed pad_id"
        )


def _unroll(
    step: StepFn,
    state: State,
    batch_size: int,
    sos_id: int,
    eos_id: int,
    max_len,
    pad_id: int,
    choose: Callable[[Tensor], Tensor],
) -> Decoded:
    """The loop of greedy search and sampling: ``choose(log_probs (B, V)) -> tokens (B,)``."""
    device = _state_device(state)
    max_lens = _check_common(batch_size, sos_id, eos_id, pad_id, max_len, device)
    tokens = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    scores, outputs, step_scores = None, [], []
    for _ in range(int(max_lens.max())):
        log_probs, state = step(tokens, state)
        _check_log_probs(log_probs, batch_size, pad_id)
        chosen = choose(log_probs)  # (B,)
        picked = log_probs.gather(1, chosen[:, None]).squeeze(1).masked_fill(finished, 0.0)  # (B,)
        chosen = chosen.masked_fill(finished, pad_id)
        scores = picked if scores is None else scores + picked
        lengths = lengths + (~finished).long()
        finished = finished | (chosen == eos_id) | (lengths >= max_lens)
        outputs.append(chosen)
        step_scores.append(picked)
        tokens = chosen
        if bool(finished.all()):
            break
    return Decoded(torch.stack(outputs, 1), lengths, scores, torch.stack(step_scores, 1))


def greedy(
    step: StepFn, state: State, batch_size: int, sos_id: int, eos_id: int, max_len: int | Tensor, *, pad_id: int = 0
) -> Decoded:
    """Greedy search: at each step the most probable token, ``y_t = argmax log p(y | y_<t)``.

    Returns a :class:`Decoded` with tokens (B, T), T <= max(max_len). Stops early when every
    row has produced eos.
    """
    return _unroll(step, state, batch_size, sos_id, eos_id, max_len, pad_id, lambda log_probs: log_probs.argmax(dim=-1))


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Set logits outside the top-k and outside the nucleus to -inf.

    logits (N, V) -> (N, V). top_k = 0 keeps all; top-p (Holtzman et al. 2020) keeps the
    smallest set of most probable tokens whose probability reaches ``top_p`` (always at
    least the most probable token); top_p = 1 keeps all.
    """
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # (N, V): mass of the more probable tokens
        drop_sorted = mass_before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(
    step: StepFn,
    state: State,
    batch_size: int,
    sos_id: int,
    eos_id: int,
    max_len: int | Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    pad_id: int = 0,
) -> Decoded:
    """Ancestral sampling: ``y_t ~ softmax(filter(log p(y | y_<t) / temperature))``.

    temperature 0 is greedy search; top_k (0 = off) and top_p (1 = off) filter the
    tempered distribution (:func:`filter_logits`). ``generator`` seeds the draws.
    ``scores`` are log-probabilities under the model, not the tempered distribution.
    """
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an int >= 0 (0 = off), got {top_k!r}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if temperature == 0:
        return greedy(step, state, batch_size, sos_id, eos_id, max_len, pad_id=pad_id)

    def choose(log_probs: Tensor) -> Tensor:
        logits = filter_logits(
            log_probs.to(torch.promote_types(log_probs.dtype, torch.float32)) / temperature, top_k, top_p
        )
        probs = torch.softmax(logits, dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _unroll(step, state, batch_size, sos_id, eos_id, max_len, pad_id, choose)


def _backtrack(tokens: list[Tensor], origins: list[Tensor], picked: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Follow the back-pointers from the final beams. Each list holds (B, K) per step;
    returns sequences (B, K, T) and their step scores (B, K, T)."""
    position = torch.arange(tokens[0].shape[1], device=tokens[0].device).expand_as(tokens[0])  # (B, K)
    seq, seq_scores = [], []
    for t in range(len(tokens) - 1, -1, -1):
        seq.append(tokens[t].gather(1, position))
        seq_scores.append(picked[t].gather(1, position))
        position = origins[t].gather(1, position)
    return torch.stack(seq[::-1], dim=2), torch.stack(seq_scores[::-1], dim=2)


def beam_search(
    step: StepFn,
    state: State,
    batch_size: int,
    sos_id: int,
    eos_id: int,
    max_len: int | Tensor,
    beam_size: int,
    *,
    length_penalty: float = 0.0,
    pad_id: int = 0,
) -> Decoded:
    """Batched beam search: the K best prefixes per example, all B·K rows in one step call.

    Beams are kept by total log-probability ``Σ log p(y_t | y_<t)``; a beam that produced
    eos (or reached its max_len) stays in the beam with its score frozen and is extended by
    pad at cost 0. The search stops when every beam of every example has ended. The K final
    hypotheses are ranked by ``scores / gnmt_length_penalty(lengths, length_penalty)``
    where ``length_penalty`` is GNMT's α in ((5 + |Y|) / 6)^α (Wu et al. 2016; 0 = plain
    log-probability, the default). ``tokens`` etc. hold the best hypothesis, ``nbest`` all
    K. state rows (B, ...) are expanded to (B·K, ...). With beam_size 1 this is exactly
    :func:`greedy`.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    if not length_penalty >= 0:
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty!r}")
    device = _state_device(state)
    max_lens = _check_common(batch_size, sos_id, eos_id, pad_id, max_len, device)[:, None]  # (B, 1)
    B, K = batch_size, beam_size
    state = select_state(state, torch.arange(B, device=device).repeat_interleave(K))  # rows b*K + k
    tokens = torch.full((B * K,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)
    scores = None
    history_tokens, history_origins, history_picked = [], [], []
    for _ in range(int(max_lens.max())):
        log_probs, state = step(tokens, state)
        _check_log_probs(log_probs, B * K, pad_id)
        V = log_probs.shape[1]
        log_probs = log_probs.view(B, K, V)
        if scores is None:  # only beam 0 is live at the start: the K beams are the same prefix
            scores = log_probs.new_zeros(B, K)
            scores[:, 1:] = float("-inf")
        pad_only = torch.full((V,), float("-inf"), dtype=log_probs.dtype, device=device)
        pad_only[pad_id] = 0.0
        extend = torch.where(finished[..., None], pad_only, log_probs)  # (B, K, V)
        candidates = (scores[..., None] + extend).view(B, K * V)
        scores, flat = candidates.topk(K, dim=1)  # (B, K)
        origin, token = flat // V, flat % V  # (B, K) beam of origin and next token
        picked = extend.view(B, K * V).gather(1, flat)  # (B, K) log-prob of the token
        finished, lengths = finished.gather(1, origin), lengths.gather(1, origin)
        rows = (origin + torch.arange(B, device=device)[:, None] * K).view(-1)  # (B*K,)
        state = select_state(state, rows)
        lengths = lengths + (~finished).long()
        finished = finished | (token == eos_id) | (lengths >= max_lens)
        history_tokens.append(token)
        history_origins.append(origin)
        history_picked.append(picked)
        tokens = token.view(-1)
        if bool(finished.all()):
            break
    seqs, seq_scores = _backtrack(history_tokens, history_origins, history_picked)  # (B, K, T)
    ranking = scores.double() / gnmt_length_penalty(lengths, length_penalty)
    order = ranking.argsort(dim=1, descending=True, stable=True)  # (B, K)
    seqs = seqs.gather(1, order[..., None].expand_as(seqs))
    seq_scores = seq_scores.gather(1, order[..., None].expand_as(seq_scores))
    nbest = Decoded(seqs, lengths.gather(1, order), scores.gather(1, order), seq_scores)
    best_len = int(nbest.lengths[:, 0].max())
    return Decoded(seqs[:, 0, :best_len], nbest.lengths[:, 0], nbest.scores[:, 0], seq_scores[:, 0, :best_len], nbest)
