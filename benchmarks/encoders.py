"""CPU training speed of sequence encoders at one size: LSTM vs 1D convolutions vs Transformer.

Each contender maps (B, T, I) to (B, T, H) (the conv with ``padding="same"``, no pooling),
is called the way seqlab's classify calls it (with ``lengths``; here every row is full
length, so the masks cost but change nothing), and is timed for forward + backward of
``outputs.sum()`` without the optimizer. The named peers torch.nn.LSTM and
torch.nn.TransformerEncoderLayer (same sizes, no lengths) run in the same process; the
contenders are interleaved, after warm-up, and the median of several repeats is kept, so
drift on a shared machine hits all alike. Prints a Markdown table of tokens/s (B*T per step).

    python benchmarks/encoders.py [--batch 32 --steps 128 --input 128 --hidden 256 --layers 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlab import nn as snn


def train_step(run, module: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> None:
    module.zero_grad(set_to_none=True)
    x.grad = None
    run(module, x, lengths).sum().backward()


def measure(contenders: dict, x: torch.Tensor, lengths: torch.Tensor, repeats: int, iters: int,
            warmup: int) -> dict[str, float]:
    """Median seconds per training step of each (run, module) contender, interleaved."""
    for run, module in contenders.values():
        for _ in range(warmup):
            train_step(run, module, x, lengths)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (run, module) in contenders.items():
            start = time.perf_counter()
            for _ in range(iters):
                train_step(run, module, x, lengths)
            times[name].append((time.perf_counter() - start) / iters)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--kernel", type=int, default=5, help="conv kernel size")
    parser.add_argument("--heads", type=int, default=4, help="transformer heads")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iters", type=int, default=3, help="training steps per timed repeat")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    I, H, L = args.input, args.hidden, args.layers
    x = torch.randn(args.batch, args.steps, I, requires_grad=True)  # (B, T, I), float32
    lengths = torch.full((args.batch,), args.steps)
    print(f"CPU, {torch.get_num_threads()} threads, float32, B={args.batch} T={args.steps} I={I} H={H} layers={L}, "
          f"conv kernel {args.kernel}, transformer {args.heads} heads and ff 4H; forward+backward, median of "
          f"{args.repeats} repeats x {args.iters} steps; torch {torch.__version__}\n")

    peer_layer = torch.nn.TransformerEncoderLayer(H, args.heads, 4 * H, dropout=0.0, batch_first=True)
    peer_transformer = torch.nn.Sequential(torch.nn.Linear(I, H),
                                           torch.nn.TransformerEncoder(peer_layer, L, enable_nested_tensor=False))
    contenders = {
        "torch.nn.LSTM": (lambda m, x, n: m(x)[0], torch.nn.LSTM(I, H, L, batch_first=True)),
        "seqlab LSTM (auto), lengths": (lambda m, x, n: m(x, lengths=n)[0], snn.LSTM(I, H, L, batch_first=True)),
        f"seqlab ConvEncoder k={args.kernel}": (lambda m, x, n: m(x, n)[0], snn.ConvEncoder(I, H, args.kernel, L)),
        "torch.nn.TransformerEncoder": (lambda m, x, n: m(x), peer_transformer),
        "seqlab TransformerEncoder": (lambda m, x, n: m(x, n)[0],
                                      snn.TransformerEncoder(I, H, L, args.heads, positional="sinusoidal")),
    }
    medians = measure(contenders, x, lengths, args.repeats, args.iters, args.warmup)
    tokens, peer = args.batch * args.steps, "torch.nn.LSTM"
    print(f"| encoder | parameters | tokens/s | ms/step | vs {peer} |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in medians.items():
        params = sum(p.numel() for p in contenders[name][1].parameters())
        print(f"| {name} | {params:,} | {tokens / seconds:,.0f} | {seconds * 1e3:.1f} | "
              f"{medians[peer] / seconds:.2f}× |")


if __name__ == "__main__":
    main()
