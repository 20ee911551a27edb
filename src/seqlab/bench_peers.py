"""How ``seqlab bench`` builds and times each contender (see :mod:`seqlab.bench`).

A contender's step on one configuration is a :class:`Call`: torch.nn's layer or
seqlab.nn's with a ``backend=`` (:func:`torch_contender`), or Keras 3 on JAX
(:func:`keras_contender`; ``pip install keras jax`` for the benchmark only, never a
seqlab dependency). The timers here measure them interleaved, after warm-up, with CUDA
events on a GPU and ``time.perf_counter`` on the CPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from seqlab.bench import LayerConfig

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def matmul_peak(
    device: torch.device, dtype: torch.dtype, size: int | None = None, repeats: int = 5, clock: str = "wall"
) -> float:
    """FLOP/s of one square matmul (size × size, 2·size³ FLOPs), the fastest of ``repeats``
    (a peak: on a shared machine the median would count other processes' load)."""
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    torch.mm(a, b)
    _sync(device)
    seconds = min(_time_once(lambda: torch.mm(a, b), device, 1, clock=clock) for _ in range(repeats))
    return 2 * size**3 / seconds


# -- timing -------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(
    call: Callable[[], object], device: torch.device, iters: int, host_clock: bool = False, clock: str = "wall"
) -> float:
    """Seconds per call over ``iters`` calls: CUDA events on a GPU, else ``time.perf_counter``,
    or with ``clock="process"`` the process's CPU time (``time.process_time``: on a shared
    CPU it leaves out the time other processes held the cores; with one thread it is the
    work done, with more it also counts threads waiting for each other)."""
    if device.type == "cuda" and not host_clock:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            call()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    now = time.process_time if clock == "process" else time.perf_counter
    begin = now()
    for _ in range(iters):
        call()
    return (now() - begin) / iters


def interleaved(
    calls: dict[str, Call], device, warmup: int, repeats: int, iters: int, clock: str = "wall"
) -> dict[str, float]:
    """Median seconds per call of each contender, the contenders taking turns each round.

    In each round a contender's timed calls follow one untimed call, so that none is
    timed on the caches its predecessor left (a 2 ms call measured 10% slower after a
    contender that had swept 10 MB).
    """
    for call in calls.values():
        for _ in range(warmup):
            call.run()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            call.run()
            _sync(device)
            times[name].append(_time_once(call.run, device, iters, call.host_clock, clock))
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_memory(call: Callable, device: torch.device) -> int | None:
    """Bytes allocated at the peak of one call (CUDA only; None on the CPU)."""
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    call()
    _sync(device)
    return int(torch.cuda.max_memory_allocated(device))


# -- contenders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One contender's step on one configuration; ``host_clock`` when it blocks until done
    (Keras), so perf_counter times it even on a GPU."""

    run: Callable[[], object]
    host_clock: bool = False


def torch_contender(config: LayerConfig, name: str, device: torch.device, seed: int = 0) -> Call:
    """A training or inference step of torch.nn's layer or of seqlab.nn's with ``backend=name``.

    Every contender gets the same weights (the same seed) and the same input x (B, T, I).
    Raises ValueError (or the error the layer raises) when it cannot run ``config``.
    """
    import importlib.util

    from seqlab import nn as snn

    dtype = DTYPES[config.dtype]
    shape = {"num_layers": config.num_layers, "bidirectional": config.bidirectional, "batch_first": True}
    peers = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
    ours = {"lstm": snn.LSTM, "gru": snn.GRU, "rnn": snn.RNN}
    torch.manual_seed(seed)
    if name == "torch.nn":
        peer = peers[config.cell].__name__
        if config.layer_norm:
            raise ValueError(f"torch.nn.{peer} has no layer norm")
        if config.recurrent_dropout and config.mode == "train":
            raise ValueError(f"torch.nn.{peer} has no recurrent dropout")
        layer = peers[config.cell](config.input_size, config.hidden_size, **shape)
    else:
        if name == "triton" and importlib.util.find_spec("triton") is None:
            raise ValueError("backend='triton' needs the triton package, which is not installed")
        if name == "triton" and device.type != "cuda":
            raise ValueError("backend='triton' needs a CUDA GPU")
        extras = {"recurrent_dropout": config.recurrent_dropout, "layer_norm": config.layer_norm, "backend": name}
        layer = ours[config.cell](config.input_size, config.hidden_size, **shape, **extras)
    layer = layer.to(device=device, dtype=dtype)
    x = torch.randn(config.batch, config.steps, config.input_size, device=device, dtype=dtype)  # (B, T, I)
    if config.mode == "infer":
        layer.eval()

        def infer() -> None:
            with torch.inference_mode():
                layer(x)

        infer()  # fail here, not inside the timing, if the backend cannot run it
        return Call(infer)

    layer.train()
    x.requires_grad_(True)
    params = list(layer.parameters())

    def train() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        output, _ = layer(x)  # (B, T, D*H)
        output.sum(dtype=torch.float32).backward()
        with torch.no_grad():  # plain SGD, p -= lr * grad (torch.optim's first import costs seconds)
            torch._foreach_add_(params, [p.grad for p in params], alpha=-1e-4)

    train()
    return Call(train)


def keras_contender(config: LayerConfig, seed: int = 0) -> Call:
    """The same step in Keras 3 on the JAX backend (``train_on_batch`` / ``predict_on_batch``).

    Needs ``pip install keras jax``; sets ``KERAS_BACKEND=jax`` unless keras is already
    imported. The model stacks ``keras.layers.LSTM / GRU / SimpleRNN`` (wrapped in
    ``Bidirectional`` when asked) with ``recurrent_dropout``; training minimizes the sum
    of the outputs with plain SGD, as the torch contenders do. Raises ImportError when
    keras or jax is missing and ValueError for what Keras cannot run (layer norm).
    """
    import importlib.util
    import os
    import sys

    missing = [pkg for pkg in ("keras", "jax") if importlib.util.find_spec(pkg) is None]
    if missing:
        raise ImportError(f"{' and '.join(missing)} not installed (pip install keras jax)")
    if config.layer_norm:
        raise ValueError("Keras's recurrent layers have no layer norm of the gates")
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    if keras.backend.backend() != "jax":
        raise ValueError(f"keras runs on the {keras.backend.backend()} backend; set KERAS_BACKEND=jax")
    keras.utils.set_random_seed(seed)
    cells = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
    inputs = keras.Input((config.steps, config.input_size), batch_size=config.batch, dtype=config.dtype)
    hidden = inputs
    for _ in range(config.num_layers):
        layer = cells[config.cell](
            config.hidden_size, return_sequences=True, recurrent_dropout=config.recurrent_dropout, dtype=config.dtype
        )
        hidden = (keras.layers.Bidirectional(layer) if config.bidirectional else layer)(hidden)
    model = keras.Model(inputs, hidden)
    x = np.random.default_rng(seed).standard_normal((config.batch, config.steps, config.input_size))
    x = x.astype(config.dtype)
    if config.mode == "infer":
        run = lambda: model.predict_on_batch(x)
    else:
        model.compile(optimizer=keras.optimizers.SGD(1e-4), loss=lambda _, y: keras.ops.sum(y))
        target = np.zeros(tuple(model.output.shape), dtype=config.dtype)
        run = lambda: model.train_on_batch(x, target)
    run()
    return Call(run, host_clock=True)


def build_call(config: LayerConfig, name: str, device: torch.device) -> Call:
    """The Call of contender ``name`` (torch.nn, a seqlab backend, or keras) on ``config``."""
    return keras_contender(config) if name == "keras" else torch_contender(config, name, device)
