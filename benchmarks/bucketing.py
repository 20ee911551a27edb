"""train.bucket on and off, the same recipe, interleaved in one process.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/bucketing.py [RECIPE] [--repeats N] [--set KEY=VALUE ...]
    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/bucketing.py imdb-bilstm --padding-only --set ...

Default: imdb-smoke with reviews cut at 400 tokens (so lengths vary and padding matters).
Prints each run's wall time and test accuracy, then the median time ratio off / on.
``--padding-only``: no training; the share of padded cells in one epoch's training
batches without and with bucketing (classify recipes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import seqlab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="imdb-smoke")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--padding-only", action="store_true")
    args = parser.parse_args()
    if args.recipe == "imdb-smoke":
        args.overrides.insert(0, "data.max_tokens_per_example=400")
    if args.padding_only:
        padding(args.recipe, args.overrides)
        return
    torch.set_num_threads(1)
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for bucket in (False, True):
                run = seqlab.train(args.recipe, [*args.overrides, f"train.bucket={str(bucket).lower()}",
                                                 "train.device=cpu"], out=Path(folder) / f"{repeat}-{bucket}")
                summary = json.loads((run / "summary.json").read_text())
                times[bucket].append(summary["wall_time_s"])
                print(f"bucket={bucket!s:5} wall {summary['wall_time_s']:7.1f} s  test "
                      f"{summary['headline']['metric']} {summary['headline']['value']:.4f}", flush=True)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"median wall time: off {off:.1f} s, on {on:.1f} s; off / on = {off / on:.2f}x")


def padding(recipe: str, overrides: list[str]) -> None:
    from seqlab import config
    from seqlab.tasks import classify
    from seqlab.training.loop import batch_indices

    cfg = config.resolve(recipe, overrides)
    lengths = [len(example.tokens) for example in classify.load_data(cfg).train]
    for name, by_length in (("off", None), ("on", lengths)):
        groups = batch_indices(len(lengths), cfg.train.batch_size, torch.Generator().manual_seed(cfg.seed), by_length)
        cells = sum(len(group) * max(lengths[i] for i in group) for group in groups)
        print(f"{recipe} bucket {name}: {len(groups)} batches, padding {1 - sum(lengths) / cells:.1%} of the cells")


if __name__ == "__main__":
    main()
