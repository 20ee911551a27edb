"""`seqlab report RUN [--output report.md]`: a finished (or unfinished) run as one Markdown page."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="a run as Markdown: what changed from its recipe, every epoch, test metrics, plots",
        description="Print (or write with --output) a Markdown page of a run dir: task, recipe, wall time and "
        "size; the keys set away from its recipe; every epoch record with the best marked; the test metrics; "
        "a classifier's confusion matrix; links to its plots. Read from the files the run wrote.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a run dir written by seqlab train")
    parser.add_argument("--output", type=Path, default=None, help="write the page here instead of printing it")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.report import run_report

    text = run_report(args.run_dir)
    if args.output is None:
        print(text)
        return 0
    if args.output.is_dir():
        raise ValueError(f"--output: {args.output} is a folder; expected a file name such as report.md")
    if not args.output.parent.is_dir():
        raise ValueError(f"--output: no folder {args.output.parent} to write {args.output.name} into")
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, args.output)  # atomic: a reader never sees half a page
    print(f"wrote {args.output}")
    return 0
