"""Greedy and beam-search throughput of finished seq2seq runs, through ``seqlab.load(RUN).translate``.

Every run translates the same generated sources (the dates task's test split of the first
run's recipe, so give runs trained on the same data) with each beam size; runs and beam
sizes are interleaved, after one warm-up pass, and the median of the repeats is kept.
Prints a Markdown table of sentences/s and the exact match of each decoding.

    python benchmarks/translate_speed.py RUN [RUN ...] [--beams 1 5 --limit 500 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import seqlab
from seqlab import config
from seqlab.tasks import seq2seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--limit", type=int, default=500, help="test sources translated per pass")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = seq2seq.load_data(config.load(args.runs[0] / "config.yaml"))
    examples = data.test[:args.limit]
    text = lambda vocab, ids: data.tokenizer.detokenize(vocab.decode(ids))  # noqa: E731
    sources = [text(data.src_vocab, example.src) for example in examples]
    references = [text(data.tgt_vocab, example.tgt) for example in examples]
    translators = {run.name: seqlab.load(run) for run in args.runs}
    times = {(name, beam): [] for name in translators for beam in args.beams}
    exact = {}
    for repeat in range(args.repeats + 1):  # the first pass warms up
        for (name, beam), values in times.items():
            start = time.perf_counter()
            outputs = translators[name].translate(sources, beam_size=beam)
            if repeat:
                values.append(time.perf_counter() - start)
            exact[name, beam] = sum(o == r for o, r in zip(outputs, references)) / len(references)
    print(f"{len(sources)} sources, threads={torch.get_num_threads()}\n")
    print("| run | beam | sentences/s | exact match |\n| --- | ---: | ---: | ---: |")
    for (name, beam), values in times.items():
        print(f"| {name} | {beam} | {len(sources) / statistics.median(values):,.0f} | {exact[name, beam]:.4f} |")


if __name__ == "__main__":
    main()
