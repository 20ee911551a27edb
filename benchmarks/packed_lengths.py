"""Training step of a 2-layer BiLSTM/BiGRU on a CPU batch of uneven lengths: torch's layer
(packed sequence) against seqlab's fused loop.

torch's CPU layer runs a packed sequence step by step, and the backward of that loop fills a
whole-sequence gradient at every step, so its time grows with T^2; seqlab's fused loop masks
the padded steps in linear time. This is why ``backend="auto"`` takes the fused loop for a
CPU batch of uneven lengths past ``PACKED_SLOW_STEPS`` (40) steps; below that torch's layer
is the faster one. Every other row of the batch is ``--short`` steps short (at least 1 long).

    OMP_NUM_THREADS=1 python benchmarks/packed_lengths.py [--steps 100 300]
    OMP_NUM_THREADS=1 python benchmarks/packed_lengths.py --steps 15 30 45 60 --short 7 --hidden 64
"""

from __future__ import annotations

import argparse
import time

import torch

from seqlab.nn import GRU, LSTM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", type=int, default=[100, 300])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--short", type=int, default=20, help="every other row is this many steps shorter")
    args = parser.parse_args()
    torch.manual_seed(0)
    print("| T | layer | torch packed (native), s/step | seqlab fused, s/step | ratio |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for steps in args.steps:
        x = torch.randn(args.batch, steps, args.hidden, requires_grad=True)
        lengths = torch.full((args.batch,), steps, dtype=torch.int64)
        lengths[::2] = max(1, steps - args.short)
        for cls in (LSTM, GRU):
            best = {}
            for backend in ("native", "fused"):
                layer = cls(args.hidden, args.hidden, num_layers=2, bidirectional=True, batch_first=True,
                            backend=backend)
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    out, _ = layer(x, lengths=lengths)
                    out.sum().backward()
                    times.append(time.perf_counter() - start)
                best[backend] = min(times)
            print(f"| {steps} | {cls.__name__} | {best['native']:.4f} | {best['fused']:.4f} "
                  f"| {best['native'] / best['fused']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
