"""`seqlab ensemble RUN RUN [RUN ...] --out DIR`: average classify runs into one predictor."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ensemble",
        help="average the class probabilities of classify runs (one recipe, several seeds) into one predictor",
        description="Check that the runs are classify runs with the same labels and the same validation and test "
        "splits (train them with one data.seed: --set seed=S --set data.seed=0), write into --out a bundle "
        "that predict, eval, serve and runs take, and score it and each member on both splits.",
    )
    parser.add_argument("runs", metavar="RUN", type=Path, nargs="+", help="finished classify run dirs (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the ensemble")
    parser.add_argument("--device", default="cpu", help="where the members run (cpu, cuda, cuda:N; default cpu)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.ensemble import build  # imports torch
    from seqlab.training.passes import resolve_device

    summary = build(args.runs, args.out, resolve_device(args.device, "--device"))
    for member in summary["members"]:
        print(f"member {member['run']}: valid accuracy {member['valid_accuracy']:.4f}, "
              f"test accuracy {member['test_accuracy']:.4f}")
    print(f"ensemble of {len(summary['members'])}: valid accuracy {summary['valid']['accuracy']:.4f}, "
          f"test accuracy {summary['test']['accuracy']:.4f} (macro-F1 {summary['test']['macro_f1']:.4f})")
    print(f"wrote {args.out}")
    return 0
