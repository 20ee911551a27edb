"""A decoder that steps: torch.nn.LSTM called on one-step sequences against seqlab's LSTM.step.

    OMP_NUM_THREADS=1 python benchmarks/decoder_step.py
    OMP_NUM_THREADS=1 python benchmarks/decoder_step.py --batch 1 --input 512 --hidden 512 --layers 3 --no-grad

An input-feeding seq2seq decoder and a sampling language model cannot hand the layer the
whole sequence: each step's input depends on the step before. This times a chain of
``--steps`` such steps on random inputs (the same weights for both): forward, then one
backward through the chain (training), or forward alone under ``no_grad`` (decoding). The
median of ``--repeats`` rounds, the two contenders interleaved, in ms per chain.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from seqlab.nn import LSTM, recurrent


def chain(step, x: torch.Tensor, state, steps: int) -> torch.Tensor:
    outputs = []
    for t in range(steps):
        out, state = step(x[t], state)
        outputs.append(out)
    return torch.stack(outputs)


def sequence_step(layer: nn.LSTM):
    """The plain way: the layer on a one-step sequence."""

    def step(x_t: torch.Tensor, state):
        out, state = layer(x_t[None], state)
        return out[0], state

    return step


def generate(hidden: int, layers: int, repeats: int) -> None:
    from seqlab.tasks.lm import LanguageModel

    torch.manual_seed(0)
    model = LanguageModel(65, encoder="lstm", embedding_dim=128, hidden_size=hidden, num_layers=layers).eval()
    times = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        count = len(list(model.generate([5], 200, temperature=0.8, generator=torch.Generator().manual_seed(0))))
        times.append((time.perf_counter() - began) / count)
    print(f"lm generation, {layers} x {hidden} LSTM, batch 1: {count} tokens (until <eos> or 200), "
          f"{statistics.median(times[1:]) * 1e3:.2f} ms per token (median of {repeats}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input", type=int, default=768, help="input size (embedding + fed attentional state)")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-grad", action="store_true", help="forward only, as in decoding")
    parser.add_argument("--generate", action="store_true",
                        help="instead: ms per token of an untrained char lm (vocabulary 65, embedding 128, "
                             "--hidden, --layers) generating 200 tokens at batch 1, after one warm-up")
    parser.add_argument("--cell-ops", action="store_true",
                        help="step through the cell ops at any batch (without it, step hands batches from "
                             "NATIVE_STEP_BATCH on to torch's layer when there are no gradients on the CPU)")
    args = parser.parse_args()
    if args.generate:
        generate(args.hidden, args.layers, args.repeats)
        return
    if args.cell_ops:
        recurrent.NATIVE_STEP_BATCH = 1 << 62
    torch.manual_seed(0)
    ours = LSTM(args.input, args.hidden, args.layers)
    theirs = nn.LSTM(args.input, args.hidden, args.layers)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(args.steps, args.batch, args.input, requires_grad=not args.no_grad)
    zeros = torch.zeros(args.layers, args.batch, args.hidden)
    contenders = {
        "torch.nn.LSTM, one-step sequences": sequence_step(theirs),
        "seqlab LSTM.step": ours.step,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats + 1):  # the first round warms up
        for name, step in contenders.items():
            with torch.set_grad_enabled(not args.no_grad):
                began = time.perf_counter()
                out = chain(step, x, (zeros, zeros), args.steps)
                if not args.no_grad:
                    out.sum().backward()
                times[name].append(time.perf_counter() - began)
    print(f"batch {args.batch}, input {args.input}, hidden {args.hidden}, {args.layers} layers, {args.steps} steps, "
          f"{'forward only (no_grad)' if args.no_grad else 'forward + backward'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    base = statistics.median(times["torch.nn.LSTM, one-step sequences"][1:])
    for name, values in times.items():
        ms = statistics.median(values[1:]) * 1e3
        print(f"  {name:36s} {ms:9.1f} ms per chain  ({base * 1e3 / ms:.2f}x)")


if __name__ == "__main__":
    main()
