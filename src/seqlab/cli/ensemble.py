"""`seqlab ensemble RUN RUN [RUN ...] --out DIR`: average classify (or tag) runs into one predictor."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ensemble",
        help="average the class probabilities of classify or tag runs (one recipe, several seeds) into one predictor",
        description="Check that the runs are classify runs (or tag runs) with the same classes and the same "
        "validation and test "
        "splits (train them with one data.seed: --set seed=S --set data.seed=0), write into --out a bundle "
        "that predict, eval, serve and runs take, and score it and each member on both splits.",
    )
    parser.add_argument("runs", metavar="RUN", type=Path, nargs="+", help="finished classify or tag run dirs (two or more), of one task")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the ensemble")
    parser.add_argument("--device", default="cpu", help="where the members run (cpu, cuda, cuda:N; default cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE",
                        help="how every member predicts, kept with the ensemble (repeatable; eval.* keys only), "
                        "e.g. --set eval.truncate=false to read whole reviews with members trained before it existed")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.ensemble import build  # imports torch
    from seqlab.training.passes import resolve_device

    summary = build(args.runs, args.out, resolve_device(args.device, "--device"), args.overrides)
    metric = summary["headline"]["metric"]
    name = metric.replace("_", " ")
    for member in summary["members"]:
        print(f"member {member['run']}: valid {name} {member['valid_' + metric]:.4f}, "
              f"test {name} {member['test_' + metric]:.4f}")
    print(f"ensemble of {len(summary['members'])}: valid {name} {summary['valid'][metric]:.4f}, "
          f"test {name} {summary['test'][metric]:.4f}")
    print(f"wrote {args.out}")
    return 0
