"""`seqlab forecast RUN --input recent.csv [--output next.csv]`: the next steps after a table of readings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "forecast",
        help="forecast the next steps with a finished forecast run",
        description="Read --input (a CSV with the training data's timestamp column and input columns), take "
        "its last lookback steps, and write the forecast of the target columns with their timestamps (the "
        "input's time step) as CSV to --output, or to stdout. Empty or NaN cells are refused.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a forecast run dir written by seqlab train")
    parser.add_argument("--input", type=Path, required=True, help="recent readings, oldest first (CSV)")
    parser.add_argument("--output", type=Path, default=None, help="where to write the forecast CSV (default: stdout)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab import bundle

    _, cfg = bundle.read_config(args.run_dir)
    if cfg.task != "forecast":
        command = bundle.COMMAND_FOR_TASK.get(cfg.task, "another command")
        raise ValueError(f"{args.run_dir} is a {cfg.task} run, not forecast; use seqlab {command}")
    if not args.input.is_file():
        raise FileNotFoundError(f"--input: no such file: {args.input}")
    if args.output is not None and args.output.resolve() == args.input.resolve():
        raise ValueError("--output: the input file is never overwritten; choose another path")
    result = bundle.load(args.run_dir).forecast_file(args.input)
    if args.output is None:
        sys.stdout.write(result.to_csv())
    else:
        result.write_csv(args.output)
        print(f"{len(result.values)} steps of {', '.join(result.names)} -> {args.output}", file=sys.stderr)
    return 0
