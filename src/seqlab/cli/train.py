"""`seqlab train [RECIPE] [--set KEY=VALUE ...] [--out DIR] [--resume RUN_DIR]`: train a recipe, name the run."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from seqlab.config import DEFAULT_RECIPE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a recipe and write a run dir",
        description="Train a recipe and write its run dir: config.yaml, model.safetensors, "
        "metrics.jsonl, checkpoints/, plots/curves.png, summary.json. The last lines printed "
        "name the run dir and the headline test metric. --resume RUN_DIR continues a run that "
        "was stopped, from its last checkpoint, to the same result as an uninterrupted run. "
        "Several GPUs: torchrun --nproc_per_node=N -m seqlab train RECIPE (PyTorch DDP; "
        "train.batch_size is per process; process 0 writes the run dir).",
    )
    parser.add_argument("recipe", metavar="RECIPE", nargs="?", default=None,
                        help=f"an embedded recipe name or a path to a .yaml file (default: {DEFAULT_RECIPE})")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override one recipe key, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="run dir to create (default: runs/<recipe>-<YYYYmmdd-HHMMSS>/)")
    parser.add_argument("--resume", metavar="RUN_DIR", type=Path, default=None,
                        help="continue a stopped run from its last checkpoint; the recipe comes from "
                        "RUN_DIR/config.yaml")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.training.distributed import is_main_process
    from seqlab.training.loop import train  # imports torch

    run_dir = train(args.recipe, args.overrides, args.out, resume=args.resume)
    if not is_main_process():  # under torchrun, process 0 alone names the run
        return 0
    headline = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["headline"]
    print(f"run: {_shown(run_dir)}")
    print(f"{headline['split']} {headline['metric']}: {headline['value']:.4f}")
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies under it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)
