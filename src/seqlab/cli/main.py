"""The `seqlab` command: one parser, one module per subcommand.

Each module in :mod:`seqlab.cli` has ``add_parser(subparsers)`` and a short
``run(args) -> int`` that calls one library function. ``main(argv)`` returns the
exit code, so tests call the command in-process. Results go to stdout, logs to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import seqlab

# Set SEQLAB_DEBUG=1 to see the full traceback of an error the CLI would print as one line.
DEBUG_ENV = "SEQLAB_DEBUG"

# The one table from subcommand name to the module that implements it, in the order
# `seqlab --help` lists them. Modules import torch lazily inside run(), so --help is quick.
COMMANDS = {
    "train": "seqlab.cli.train",
    "explain": "seqlab.cli.explain",
    "data": "seqlab.cli.data",
    "eval": "seqlab.cli.eval",
    "predict": "seqlab.cli.predict",
    "translate": "seqlab.cli.translate",
    "generate": "seqlab.cli.generate",
    "forecast": "seqlab.cli.forecast",
    "similar": "seqlab.cli.similar",
    "analogy": "seqlab.cli.analogy",
    "ensemble": "seqlab.cli.ensemble",
    "runs": "seqlab.cli.runs",
    "report": "seqlab.cli.report",
    "serve": "seqlab.cli.serve",
    "export": "seqlab.cli.export",
    "bench": "seqlab.cli.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlab",
        description="Sequence models: train, evaluate, decode, inspect.",
    )
    parser.add_argument("--version", action="version", version=f"seqlab {seqlab.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        module = importlib.import_module(module_name)
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        # Errors raised at the library's boundary carry a message written for the user.
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"seqlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (seqlab report RUN | head): stop quietly, as Unix tools do
        try:  # Python's documented remedy: point stdout at /dev/null so the flush at exit cannot fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout with no file descriptor (tests capturing it)
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
