"""`seqlab eval RUN [--split test|valid] [--set KEY=VALUE ...]`: score a finished run again."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="score a finished run on its test or validation split",
        description="Reload the run's bundle, rebuild the split from its recipe's data, score it with the "
        "training loop's metric code, print a table and write RUN/eval-SPLIT.json.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a run dir written by seqlab train")
    parser.add_argument("--split", choices=("test", "valid"), default="test", help="which split to score")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override a data.* or eval.* key, e.g. --set eval.batch_size=64 (repeatable)")
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.evaluation import evaluate_run  # imports torch

    result = evaluate_run(args.run_dir, args.split, args.overrides)
    table = Table(title=f"{args.run_dir} — {result['split']} ({result['num_examples']} examples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result["metrics"].items():
        table.add_row(name + (" (headline)" if name == result["headline"] else ""), f"{value:.4f}")
    Console(soft_wrap=True).print(table)
    print(f"wrote {args.run_dir / ('eval-' + result['split'] + '.json')}")
    return 0
