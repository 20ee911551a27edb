"""CPU speed of Transformer decoding steps: seqlab's key/value-cached step vs re-reading the prefix.

Search writes one target position per step. Three ways to get the decoder output at
position t for a batch of B sources (S tokens) over T steps:

- ``cached``: seqlab's ``TransformerDecoder.start`` (memory projected once per layer) then
  ``step`` (one position per layer, attention over the cached keys and values);
- ``reread``: seqlab's ``TransformerDecoder.forward`` over the whole prefix 0..t at every
  step, keeping the last row (what a decoder without a cache does);
- ``torch reread``: the named peer, torch.nn.TransformerDecoder (same sizes, batch_first,
  causal mask) over the prefix at every step.

Random weights and inputs (speed does not depend on them), eval mode, no grad. The
contenders are interleaved after warm-up and the median of several repeats is kept.
Prints a Markdown table of sentences/s (B sources through T steps) and the ratio to ``cached``.

    python benchmarks/transformer_decode.py [--batch 500 --src 30 --steps 11 --d-model 64 --layers 2 --heads 4 --ff 256]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlab.nn.encoders import lengths_mask
from seqlab.nn.transformer import TransformerDecoder


def cached(decoder: TransformerDecoder, x: torch.Tensor, memory: torch.Tensor, lengths: torch.Tensor) -> None:
    cache = decoder.start(memory, lengths)
    for t in range(x.shape[1]):
        _, cache, _ = decoder.step(x[:, t], cache)


def reread(decoder: TransformerDecoder, x: torch.Tensor, memory: torch.Tensor, lengths: torch.Tensor) -> None:
    for t in range(x.shape[1]):
        decoder(x[:, :t + 1], memory, lengths)


def torch_reread(decoder: torch.nn.TransformerDecoder, x: torch.Tensor, memory: torch.Tensor,
                 lengths: torch.Tensor) -> None:
    padding = ~lengths_mask(lengths, memory.shape[1])
    for t in range(x.shape[1]):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(t + 1)
        decoder(x[:, :t + 1], memory, tgt_mask=mask, memory_key_padding_mask=padding)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--src", type=int, default=30, help="source tokens")
    parser.add_argument("--steps", type=int, default=11, help="target positions written")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ff", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    B, S, T, D = args.batch, args.src, args.steps, args.d_model
    ours = TransformerDecoder(D, args.layers, args.heads, ff_size=args.ff).eval()
    layer = torch.nn.TransformerDecoderLayer(D, args.heads, args.ff, dropout=0.0, batch_first=True)
    theirs = torch.nn.TransformerDecoder(layer, args.layers).eval()
    x, memory = torch.randn(B, T, D), torch.randn(B, S, D)
    lengths = torch.randint(S // 2, S + 1, (B,))
    contenders = {"cached (seqlab step)": (cached, ours), "reread (seqlab forward)": (reread, ours),
                  "torch reread (nn.TransformerDecoder)": (torch_reread, theirs)}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with torch.no_grad():
        for run, module in contenders.values():
            run(module, x, memory, lengths)  # warm-up
        for _ in range(args.repeats):
            for name, (run, module) in contenders.items():
                start = time.perf_counter()
                run(module, x, memory, lengths)
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["cached (seqlab step)"])
    print(f"B={B} S={S} T={T} d_model={D} layers={args.layers} heads={args.heads} ff={args.ff}, "
          f"threads={torch.get_num_threads()}\n")
    print("| decoding | sentences/s | time vs cached |\n| --- | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {B / median:,.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
