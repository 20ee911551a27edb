"""One pass over examples, shared by training and evaluation: the batch order (shuffled,
length-bucketed, or sorted for scoring), the scoring itself, and the device and precision
a run uses. See :mod:`seqlab.training.loop`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from seqlab.data.batching import bucket_batches
from seqlab.errors import ConfigError
from seqlab.training.distributed import Distributed

TRIM_EVERY = 25  # CPU passes: hand the heap memory freed so far back to the OS every this many batches
BUCKET_WINDOW = 50  # train.bucket: batches' worth of shuffled examples sorted by length together
# A task's own batches of one pass: (examples, batch_size, generator) -> batches; generator None: evaluation order.
EpochBatches = Callable[[Any, int, "torch.Generator | None"], Sequence[Any]]


def evaluate(model: nn.Module, examples: Sequence[Any], collate: Callable[..., Any], batch_size: int,
             device: torch.device, dtype: torch.dtype | None = None, *,
             epoch_batches: EpochBatches | None = None, length: Callable[[Any], int] | None = None,
             dist: Distributed | None = None) -> dict[str, float]:
    """Score ``examples`` in eval mode: each metric's sums over all batches, divided.
    ``epoch_batches``: the task's own batches (called with no generator: in order), as in :func:`fit`.
    ``length``: an example's length; the examples are then batched sorted by length (less padding).
    ``dist``: under torchrun, each process scores every W-th batch and the sums are added
    over the processes (a task's own batches, which may carry state, are scored whole)."""
    if epoch_batches is not None:
        return evaluate_batches(model, epoch_batches(examples, batch_size, None), device, dtype)
    lengths = None if length is None else [length(example) for example in examples]
    if dist is None:
        return evaluate_batches(model, batches(examples, batch_size, collate, lengths=lengths), device, dtype)
    mine = map(collate, dist.share(batches(examples, batch_size, list, lengths=lengths)))
    return evaluate_batches(model, mine, device, dtype, dist)


@torch.no_grad()
def evaluate_batches(model: nn.Module, pass_batches: Iterable[Any], device: torch.device,
                     dtype: torch.dtype | None, dist: Distributed | None = None) -> dict[str, float]:
    model.eval()
    totals: dict[str, list[float]] = {}
    for index, batch in enumerate(pass_batches, start=1):
        with autocast(device.type, dtype):
            metrics = model.metrics(batch.to(device))
        trim_every(device, index)
        for name, (value, count) in metrics.items():
            total = totals.setdefault(name, [0.0, 0])
            total[0] += value
            total[1] += count
    trim_heap(device)
    if dist is not None:  # every process the sums over all of them
        totals = dist.merge_totals(totals)
    finalize = getattr(model, "finalize_metrics", None)  # optional: metrics that are not means (macro-F1)
    if finalize is not None:
        return finalize({name: (value, count) for name, (value, count) in totals.items()})
    return {name: value / count if count else float("nan") for name, (value, count) in totals.items()}


def trim_heap(device: torch.device) -> bool:
    """On the CPU under glibc, return the heap memory freed so far to the OS (``malloc_trim``);
    True if some was returned. The fused CPU recurrent loop frees many step-sized buffers of
    changing sizes; glibc keeps them (its mmap threshold rises after the first large free and
    the heap fragments), so a long CPU run's resident size grew to many times what one batch
    needs (benchmarks/cpu_memory.py). Elsewhere (GPU, macOS, musl) nothing is done."""
    if device.type != "cpu":
        return False
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def trim_every(device: torch.device, count: int) -> None:
    """:func:`trim_heap` after every ``TRIM_EVERY``-th batch of a pass (``count``: batches so far)."""
    if count % TRIM_EVERY == 0:
        trim_heap(device)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``malloc_trim``); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def batches(examples: Sequence[Any], batch_size: int, collate: Callable[..., Any],
            generator: torch.Generator | None = None, start: int = 0, *, lengths: Sequence[int] | None = None,
            max_tokens: int | None = None) -> Iterator[Any]:
    """Collated batches of the examples :func:`batch_indices` picks; ``start``: skip that
    many batches (the order is drawn all the same, so the generator ends where it would)."""
    for group in batch_indices(len(examples), batch_size, generator, lengths, max_tokens)[start:]:
        yield collate([examples[i] for i in group])


def batch_indices(count: int, batch_size: int, generator: torch.Generator | None = None,
                  lengths: Sequence[int] | None = None, max_tokens: int | None = None) -> list[list[int]]:
    """The example indices of each batch of one pass over ``count`` examples.

    Without ``lengths``: ``batch_size`` examples a batch (the last may be smaller),
    shuffled with ``generator`` if one is given, else in order. With ``lengths``
    (``train.bucket``): training batches (a generator) are length-bucketed — shuffle, sort
    windows of BUCKET_WINDOW batches by length, cut, shuffle the batches (see
    :func:`seqlab.data.batching.bucket_batches`), also capped at ``max_tokens`` padded
    tokens; evaluation batches (no generator) take the examples sorted by length.
    Everything is drawn from ``generator``, so its state at an epoch's start fixes the epoch.
    """
    if lengths is None:
        order = torch.randperm(count, generator=generator).tolist() if generator is not None else range(count)
        return [list(order[first:first + batch_size]) for first in range(0, count, batch_size)]
    if generator is None:  # one window over everything: sorted by length, in a fixed order
        return bucket_batches(lengths, batch_size, None, max(1, count), None)
    return bucket_batches(lengths, batch_size, max_tokens, BUCKET_WINDOW, generator)


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """``name`` (``train.device``, or the option ``key`` names) as a torch device: auto picks
    cuda when there is one; a GPU asked for but absent, or a name torch does not know, is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{key}: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}: {name!r} was asked for, but torch sees no CUDA device; use auto or cpu")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """``train.precision`` on ``device``: torch.bfloat16 to autocast to, or None for fp32."""
    if device.type != "cuda":
        if precision == "bf16":
            raise ConfigError(f"train.precision: bf16 autocast needs a cuda device, and this run is on {device}; "
                              "use auto or fp32")
        return None
    if precision == "fp32" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return None
    return torch.bfloat16


def batch_device(model: nn.Module) -> str:
    """The device type ("cpu", "cuda") the model's parameters live on."""
    return next(model.parameters()).device.type


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast to ``dtype``, or nothing when ``dtype`` is None (fp32)."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)
