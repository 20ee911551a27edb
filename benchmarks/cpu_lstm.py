"""CPU training speed of one LSTM / GRU layer: torch.nn vs seqlab's backends.

The seqlab contenders are the layers users call: ``backend="reference"`` (the per-step
loop), ``backend="fused"`` (seqlab.kernels.cpu) and, with recurrent dropout, ``"auto"``
(which picks the fused loop there, torch's fused layer being unable to run it).

Times forward + backward (a training step without the optimizer) in one process, after
warm-up, as the median of several repeats with the contenders interleaved, so drift on a
shared machine hits all of them alike. Prints a Markdown table of tokens/s (B*T per step)
and the ratio to torch.nn.

    python benchmarks/cpu_lstm.py [--batch 32 --steps 100 --input 128 --hidden 256 --repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlab import nn as snn


def train_step(run, layer: torch.nn.Module, x: torch.Tensor) -> None:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    out, state = run(layer, x)
    final = state[0] if isinstance(state, tuple) else state
    (out.sum() + final.sum()).backward()


def measure(contenders: dict, x: torch.Tensor, repeats: int, iters: int, warmup: int) -> dict[str, float]:
    """Median seconds per training step of each (run, layer) contender, interleaved."""
    for run, layer in contenders.values():
        for _ in range(warmup):
            train_step(run, layer, x)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (run, layer) in contenders.items():
            start = time.perf_counter()
            for _ in range(iters):
                train_step(run, layer, x)
            times[name].append((time.perf_counter() - start) / iters)
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(title: str, medians: dict[str, float], peer: str, tokens: int) -> str:
    rows = [f"| {title} | tokens/s | ms/step | vs {peer} |", "| --- | ---: | ---: | ---: |"]
    for name, seconds in medians.items():
        rows.append(f"| {name} | {tokens / seconds:,.0f} | {seconds * 1e3:.1f} | {medians[peer] / seconds:.2f}× |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iters", type=int, default=3, help="training steps per timed repeat")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = (args.input, args.hidden)
    x = torch.randn(args.steps, args.batch, args.input, requires_grad=True)  # (T, B, I), float32
    tokens = args.batch * args.steps
    print(
        f"CPU, {torch.get_num_threads()} threads, float32, B={args.batch} T={args.steps} I={args.input} H={args.hidden}, "
        f"forward+backward, median of {args.repeats} repeats x {args.iters} steps; torch {torch.__version__}\n"
    )

    call = lambda layer, x: layer(x)  # noqa: E731

    def ours(cls, **kwargs):  # a seqlab layer with the peer's weights
        layer = cls(*size, **kwargs)
        layer.load_state_dict(peer.state_dict())
        return call, layer.train()

    peer = torch.nn.LSTM(*size)
    rows = {
        "torch.nn.LSTM": (call, peer),
        "seqlab LSTM, reference": ours(snn.LSTM, backend="reference"),
        "seqlab LSTM, fused": ours(snn.LSTM, backend="fused"),
        "seqlab LSTM, auto (= native)": ours(snn.LSTM),
        "seqlab LSTM recurrent_dropout=0.25, reference": ours(snn.LSTM, recurrent_dropout=0.25, backend="reference"),
        "seqlab LSTM recurrent_dropout=0.25, auto (= fused)": ours(snn.LSTM, recurrent_dropout=0.25),
    }
    medians = measure(rows, x, args.repeats, args.iters, args.warmup)
    print(table("LSTM", medians, "torch.nn.LSTM", tokens) + "\n")

    peer = torch.nn.GRU(*size)
    rows = {
        "torch.nn.GRU": (call, peer),
        "seqlab GRU, reference": ours(snn.GRU, backend="reference"),
        "seqlab GRU, fused": ours(snn.GRU, backend="fused"),
        "seqlab GRU reset_after=False, reference": ours(snn.GRU, reset_after=False, backend="reference"),
        "seqlab GRU reset_after=False, auto (= fused)": ours(snn.GRU, reset_after=False),
        "seqlab GRU recurrent_dropout=0.25, auto (= fused)": ours(snn.GRU, recurrent_dropout=0.25),
    }
    medians = measure(rows, x, args.repeats, args.iters, args.warmup)
    print(table("GRU", medians, "torch.nn.GRU", tokens))


if __name__ == "__main__":
    main()
