"""CPU inference (``torch.no_grad``) over batches of uneven lengths: seqlab's fused loop vs
torch's packed layer, the two paths ``backend="auto"`` can take.

In training ``auto`` runs uneven CPU batches in the fused loop (torch's packed backward
grows with T^2); under ``no_grad`` there is no backward, and this measures which forward
is faster. Each shape runs the two paths in turn (``--rounds`` times each, alternating, so
a busy machine slows both alike) and prints the median microseconds per token.

    python benchmarks/cpu_inference.py                 # one thread
    python benchmarks/cpu_inference.py --threads 2
"""

import argparse
import statistics
import time

import torch

from seqlab.nn import GRU, LSTM

# (layer, hidden, layers, batch, steps): the IMDB classifier's evaluation (batch 256, reviews
# cut at 800 words, length-sorted), a tagger's (sentences), a short-sequence case.
SHAPES = [("LSTM", 128, 2, 256, 800), ("LSTM", 128, 2, 256, 230), ("LSTM", 256, 2, 256, 30),
          ("GRU", 128, 2, 256, 230), ("LSTM", 256, 1, 32, 30)]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.rounds} rounds, no_grad")
    print(f"{'layer':>5} {'H':>4} {'L':>2} {'B':>4} {'T':>4} | {'fused us/tok':>12} {'packed us/tok':>13} {'fused/packed':>12}")
    for name, hidden, layers, batch, steps in SHAPES:
        torch.manual_seed(0)
        cls = {"LSTM": LSTM, "GRU": GRU}[name]
        fused = cls(hidden, hidden, layers, batch_first=True, bidirectional=True, backend="fused").eval()
        native = cls(hidden, hidden, layers, batch_first=True, bidirectional=True, backend="native").eval()
        native.load_state_dict(fused.state_dict())
        x = torch.randn(batch, steps, hidden)
        lengths = torch.randint(int(steps * 0.9), steps + 1, (batch,))  # a length-sorted batch: close lengths
        lengths[0] = steps
        with torch.no_grad():
            out_f, _ = fused(x, lengths=lengths)
            out_n, _ = native(x, lengths=lengths)
            torch.testing.assert_close(out_f, out_n, atol=1e-5, rtol=1e-4)  # the same numbers either way
            results = {"fused": [], "packed": []}
            for _ in range(args.rounds):
                results["fused"].append(seconds(lambda: fused(x, lengths=lengths)))
                results["packed"].append(seconds(lambda: native(x, lengths=lengths)))
        tokens = int(lengths.sum())
        f, n = (statistics.median(results[k]) / tokens * 1e6 for k in ("fused", "packed"))
        print(f"{name:>5} {hidden:>4} {layers:>2} {batch:>4} {steps:>4} | {f:>12.2f} {n:>13.2f} {f / n:>12.2f}")


if __name__ == "__main__":
    main()
