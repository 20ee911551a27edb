"""Batching: pad id sequences, bucket examples by length, cut LM streams into windows.

- `pad` turns B sequences of ids into ``ids`` (B, T), ``lengths`` (B,) and ``mask`` (B, T).
- `BucketBatchSampler` yields lists of example indices whose lengths are close, so a
  batch carries little padding; batches are capped by ``batch_size`` examples and/or a
  ``max_tokens`` budget.
- `lm_windows` is the classic language-model batchify: one long token stream becomes
  ``batch_size`` parallel streams read in consecutive ``bptt``-long windows, so the
  hidden state of one window can be carried into the next.
- `make_loader` puts a dataset, the sampler and `collate` into a ``DataLoader``.

Everything is batch-first, as task models use ``batch_first=True``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from seqlab.data.vocab import PAD_ID
from seqlab.errors import DataError


class Padded(NamedTuple):
    """A padded batch. ``ids`` (B, T) long; ``lengths`` (B,) long; ``mask`` (B, T) bool, True on real tokens."""

    ids: Tensor
    lengths: Tensor
    mask: Tensor


class TokenBatch:
    """What every padded batch of token sequences offers; mixed into a task's batch dataclass.

    The dataclass has ``tokens`` (B, T) int64, PAD_ID past each length, and ``lengths``
    (B,) int64 kept on the CPU (where the recurrent layers want them).
    """

    tokens: Tensor
    lengths: Tensor

    @property
    def num_tokens(self) -> int:
        """Real (unpadded) tokens in the batch."""
        return int(self.lengths.sum())

    def mask(self) -> Tensor:
        """(B, T) bool, True at real positions; on the tokens' device."""
        steps = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return steps.unsqueeze(0) < self.lengths.to(self.tokens.device).unsqueeze(1)


def pad(sequences: Sequence[Sequence[int]] | Sequence[Tensor], pad_id: int = PAD_ID) -> Padded:
    """Right-pad B id sequences to the longest one, T = max length (0 if all are empty).

    Args:
        sequences: B lists of ints or B 1-D integer tensors (B ≥ 1).
        pad_id: the id written after each sequence's end.

    Returns:
        ``Padded(ids, lengths, mask)``: ids (B, T) long, lengths (B,) long, mask (B, T)
        bool with ``mask[b, t] == (t < lengths[b])``. Unpacks as a 3-tuple.
    """
    if len(sequences) == 0:
        raise ValueError("pad needs at least one sequence, got an empty list")
    tensors = [torch.as_tensor(seq, dtype=torch.long) for seq in sequences]
    for b, tensor in enumerate(tensors):
        if tensor.dim() != 1:
            raise ValueError(f"sequence {b} has shape {tuple(tensor.shape)}; pad expects 1-D sequences of ids")
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)  # (B,)
    ids = torch.full((len(tensors), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for b, tensor in enumerate(tensors):
        ids[b, : len(tensor)] = tensor
    mask = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (1, T) < (B, 1) → (B, T)
    return Padded(ids, lengths, mask)


# ----------------------------------------------------------------------------- bucketing


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of example indices with similar lengths, reshuffled each epoch.

    One epoch: (1) shuffle all indices with a generator seeded by ``seed + epoch``;
    (2) cut the shuffled order into windows and sort each window by length (stable,
    shortest first); (3) cut each window into batches greedily; (4) shuffle the batch
    order. Every index appears in exactly one batch per epoch. With ``shuffle=False``
    steps 1 and 4 are skipped and the epoch is always the same.

    A batch closes before it would exceed ``batch_size`` examples or before
    ``B × (longest length in the batch)`` would exceed ``max_tokens`` (lengths of 0
    count as 1). The one exception: an example longer than ``max_tokens`` on its own
    gets a batch of its own, which is over the budget; dropping it silently would lose
    data, so filter such examples beforehand if the budget is a hard memory limit.

    A window holds ``bucket_size × batch_size`` examples; with only ``max_tokens``, it
    holds ``bucket_size × max(1, max_tokens // mean length)``. Larger windows mean less
    padding and less randomness in which examples meet in a batch.

    Call ``set_epoch(epoch)`` before each epoch (as with ``DistributedSampler``) to get
    a different, reproducible order.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int | None = None,
        max_tokens: int | None = None,
        bucket_size: int = 100,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if batch_size is None and max_tokens is None:
            raise ValueError("give batch_size, max_tokens or both; got neither")
        for name, value in (("batch_size", batch_size), ("max_tokens", max_tokens)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an integer ≥ 1 or None, got {value!r}")
        if not isinstance(bucket_size, int) or bucket_size < 1:
            raise ValueError(f"bucket_size must be an integer ≥ 1 (batches per window), got {bucket_size!r}")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)  # (N,)
        if self.lengths.dim() != 1 or (self.lengths.numel() and int(self.lengths.min()) < 0):
            raise ValueError(f"lengths must be one non-negative integer per example, got {list(lengths)[:10]!r}")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.bucket_size = bucket_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def window_size(self) -> int:
        """Examples per length-sorted window."""
        return window_size(self.lengths, self.batch_size, self.max_tokens, self.bucket_size)

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch``, in the order they are yielded."""
        generator = torch.Generator().manual_seed(self.seed + epoch) if self.shuffle else None
        return bucket_batches(self.lengths, self.batch_size, self.max_tokens, self.bucket_size, generator)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches(self.epoch))

    def __len__(self) -> int:
        # Window contents change with the shuffle, so the count can vary by an epoch.
        return len(self.batches(self.epoch))


def bucket_batches(lengths: Sequence[int] | Tensor, batch_size: int | None = None, max_tokens: int | None = None,
                   bucket_size: int = 100, generator: torch.Generator | None = None) -> list[list[int]]:
    """One epoch of length-bucketed batches of example indices (see `BucketBatchSampler`).

    With ``generator``: shuffle all indices, sort each window of ``bucket_size`` batches'
    worth of examples by length, cut it into batches, shuffle the batch order — all drawn
    from ``generator`` alone, so the same generator state gives the same epoch (a training
    loop that saves the state at an epoch's start can replay the epoch when it resumes).
    Without: the windows follow the given order and the batches stay in window order.
    Every index is in exactly one batch; the caps are as in `BucketBatchSampler`.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.long)  # (N,)
    n = len(lengths)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    size = window_size(lengths, batch_size, max_tokens, bucket_size)
    as_list = lengths.tolist()
    batches: list[list[int]] = []
    for start in range(0, n, size):
        window = order[start : start + size]
        by_length = torch.argsort(lengths[window], stable=True)
        batches.extend(_cut(window[by_length].tolist(), as_list, batch_size, max_tokens))
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def window_size(lengths: Tensor, batch_size: int | None, max_tokens: int | None, bucket_size: int) -> int:
    """Examples per length-sorted window: ``bucket_size`` batches' worth."""
    if batch_size is not None:
        return bucket_size * batch_size
    mean = max(1.0, float(lengths.float().mean())) if lengths.numel() else 1.0
    return bucket_size * max(1, int(max_tokens // mean))


def _cut(indices: list[int], lengths: list[int], batch_size: int | None, max_tokens: int | None) -> list[list[int]]:
    """Greedy cut of length-sorted (ascending) indices into batches within the caps."""
    batches, batch, longest = [], [], 0
    for i in indices:
        length = max(1, int(lengths[i]))  # ascending, so this is the new longest
        full = batch_size is not None and len(batch) >= batch_size
        over = max_tokens is not None and (len(batch) + 1) * max(longest, length) > max_tokens
        if batch and (full or over):
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, length)
    if batch:
        batches.append(batch)
    return batches


# ----------------------------------------------------------------------------- LM streams


def lm_windows(stream: Tensor, batch_size: int, bptt: int, offset: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Cut one token stream into ``batch_size`` parallel streams and consecutive windows.

    The tokens ``stream[offset:]`` are cut into ``batch_size`` equal contiguous pieces
    (the few left over at the end are dropped); row b of every window continues piece
    b, so a model can carry its hidden state from one window to the next (truncated
    BPTT). Targets are the inputs shifted one token ahead. A varying ``offset`` per
    epoch moves the window boundaries.

    Args:
        stream: (N,) integer token ids.
        batch_size: B, the number of parallel streams.
        bptt: T, the window length in tokens; the last window may be shorter.
        offset: tokens to skip at the start, 0 ≤ offset < N.

    Returns:
        A list of ``(inputs, targets)``, both (B, T_k) long views into one (B, L) tensor
        with ``targets[:, t] == inputs[:, t + 1]`` inside a window and
        ``targets[:, -1]`` the first input of the next window.
    """
    for name, value in (("batch_size", batch_size), ("bptt", bptt)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    stream = torch.as_tensor(stream)
    if stream.dim() != 1:
        raise ValueError(f"stream must be 1-D (N,), got shape {tuple(stream.shape)}")
    if not isinstance(offset, int) or not 0 <= offset < max(1, len(stream)):
        raise ValueError(f"offset must be an integer in 0..{len(stream) - 1}, got {offset!r}")
    per_stream = (len(stream) - offset) // batch_size  # L
    if per_stream < 2:
        raise DataError(
            f"a stream of {len(stream)} tokens (offset {offset}) is too short for batch_size={batch_size}: "
            f"each of the {batch_size} streams needs at least 2 tokens (one input, one target)"
        )
    data = stream[offset : offset + per_stream * batch_size].long().view(batch_size, per_stream)  # (B, L)
    windows = []
    for start in range(0, per_stream - 1, bptt):
        size = min(bptt, per_stream - 1 - start)
        windows.append((data[:, start : start + size], data[:, start + 1 : start + 1 + size]))  # (B, T_k) each
    return windows


# ----------------------------------------------------------------------------- loader


def collate(examples: Sequence[object], pad_id: int = PAD_ID) -> Padded | tuple[Padded | Tensor, ...]:
    """Stack a list of examples into a batch.

    An example is a sequence of ids (list or 1-D tensor) → one `Padded`; or a tuple of
    fields, each a sequence of ids → `Padded` or a number (a label, a value) → a (B,)
    tensor → a tuple of those, field by field. So ``(src_ids, tgt_ids)`` gives
    ``(Padded, Padded)`` and ``(ids, label)`` gives ``(Padded, labels (B,))``.
    """
    if len(examples) == 0:
        raise ValueError("collate needs at least one example, got an empty list")
    first = examples[0]
    if not isinstance(first, tuple):
        return pad(examples, pad_id)
    fields = []
    for k, value in enumerate(first):
        column = [example[k] for example in examples]
        if _is_scalar(value):
            fields.append(torch.as_tensor(column))  # (B,)
        else:
            fields.append(pad(column, pad_id))
    return tuple(fields)


def example_length(example: object) -> int:
    """An example's length for bucketing: its length, or the longest sequence field of a tuple."""
    if not isinstance(example, tuple):
        return len(example)
    return max((len(field) for field in example if not _is_scalar(field)), default=0)


def _is_scalar(value: object) -> bool:
    """A label or value field of an example, as opposed to a sequence of ids."""
    return isinstance(value, (int, float)) or (isinstance(value, Tensor) and value.dim() == 0)


def make_loader(
    dataset: Sequence[object],
    batch_size: int | None = None,
    max_tokens: int | None = None,
    bucket_size: int = 100,
    shuffle: bool = True,
    seed: int = 0,
    pad_id: int = PAD_ID,
    num_workers: int = 0,
    lengths: Sequence[int] | None = None,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` with a `BucketBatchSampler` and `collate`.

    ``lengths`` default to `example_length` of each example. Memory is pinned when a
    GPU is present, for faster host-to-device copies. Call
    ``loader.batch_sampler.set_epoch(epoch)`` before each epoch.
    """
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer ≥ 0, got {num_workers!r}")
    if lengths is None:
        lengths = [example_length(example) for example in dataset]
    elif len(lengths) != len(dataset):
        raise ValueError(f"got {len(lengths)} lengths for {len(dataset)} examples; expected one per example")
    sampler = BucketBatchSampler(lengths, batch_size, max_tokens, bucket_size, shuffle, seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=functools.partial(collate, pad_id=pad_id),  # a partial pickles for worker processes
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )


def padding_fraction(batch_lengths: Sequence[int]) -> float:
    """Share of a batch's (B, T) grid that is padding; 0.0 for an empty or all-empty batch."""
    cells = len(batch_lengths) * max(batch_lengths, default=0)
    return 0.0 if cells == 0 else 1.0 - sum(batch_lengths) / cells
