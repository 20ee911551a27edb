"""CPU training speed of one LSTM / GRU layer: torch.nn vs seqlab's reference loop vs the fast path.

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
import torch.nn.functional as F

from seqlab import nn as snn
from seqlab.kernels.cpu import gru_sequence, lstm_sequence


def fast_lstm(layer: torch.nn.LSTM, x: torch.Tensor):
    """One layer, one direction through the kernel, with ``layer``'s weights. x (T, B, I)."""
    batch, hidden = x.shape[1], layer.hidden_size
    h0 = x.new_zeros(batch, hidden)
    gx = F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)  # (T, B, 4H): all steps at once
    out, h, c = lstm_sequence(gx, h0, h0, layer.weight_hh_l0, layer.bias_hh_l0)
    return out, (h, c)


def fast_gru(layer: torch.nn.GRU, x: torch.Tensor, reset_after: bool = True):
    batch, hidden = x.shape[1], layer.hidden_size
    gx = F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)  # (T, B, 3H)
    out, h = gru_sequence(gx, x.new_zeros(batch, hidden), layer.weight_hh_l0, layer.bias_hh_l0, reset_after=reset_after)
    return out, h


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

    lstm = torch.nn.LSTM(*size)
    reference = snn.LSTM(*size, backend="reference")
    reference.load_state_dict(lstm.state_dict())
    medians = measure(
        {
            "torch.nn.LSTM": (lambda layer, x: layer(x), lstm),
            "seqlab LSTM, reference loop": (lambda layer, x: layer(x), reference),
            "seqlab fast path (kernels.cpu)": (fast_lstm, lstm),
        },
        x,
        args.repeats,
        args.iters,
        args.warmup,
    )
    print(table("LSTM", medians, "torch.nn.LSTM", tokens) + "\n")

    gru = torch.nn.GRU(*size)
    reference = snn.GRU(*size, backend="reference")
    reference.load_state_dict(gru.state_dict())
    reference_before = snn.GRU(*size, reset_after=False, backend="reference")
    reference_before.load_state_dict(gru.state_dict())
    medians = measure(
        {
            "torch.nn.GRU": (lambda layer, x: layer(x), gru),
            "seqlab GRU, reference loop": (lambda layer, x: layer(x), reference),
            "seqlab fast path (kernels.cpu)": (fast_gru, gru),
            "seqlab GRU reset_after=False, reference loop": (lambda layer, x: layer(x), reference_before),
            "seqlab fast path, reset_after=False": (lambda layer, x: fast_gru(layer, x, reset_after=False), gru),
        },
        x,
        args.repeats,
        args.iters,
        args.warmup,
    )
    print(table("GRU", medians, "torch.nn.GRU", tokens))


if __name__ == "__main__":
    main()
