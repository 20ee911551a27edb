"""`seqlab runs [DIR]`: a table of the run dirs under DIR (default ./runs), newest first."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "runs",
        help="list run dirs: task, recipe, best epoch, headline test metric, wall time",
        description="List the run dirs under DIR, newest first; a run without summary.json is unfinished.",
    )
    parser.add_argument("folder", metavar="DIR", nargs="?", type=Path, default=Path("runs"),
                        help="folder holding run dirs (default: runs)")
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.runs import list_runs

    runs = list_runs(args.folder)
    if not runs:
        print(f"no runs in {args.folder}")
        return 0
    table = Table(title=f"runs in {args.folder}")
    for name, justify in (("run", "left"), ("task", "left"), ("recipe", "left"), ("started", "left"),
                          ("best epoch", "right"), ("test metric", "left"), ("value", "right"),
                          ("wall time", "right"), ("status", "left")):
        table.add_column(name, justify=justify)
    for info in runs:
        table.add_row(
            info.path.name, info.task or "?", info.recipe or "-", f"{datetime.fromtimestamp(info.started):%Y-%m-%d %H:%M}",
            _or_dash(info.best_epoch), info.metric or "-", "-" if info.value is None else f"{info.value:.4f}",
            "-" if info.wall_time_s is None else f"{info.wall_time_s:.1f} s",
            info.status)
    Console(soft_wrap=True, width=200).print(table)
    return 0


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)
