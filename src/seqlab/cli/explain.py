"""`seqlab explain NAME`: step-by-step traces of small models, printed as tables."""

from __future__ import annotations

import argparse

# Kept in step with seqlab.explain.EXAMPLES (listed here so --help needs no torch import;
# tests/cli/test_explain_cli.py checks the two agree).
EXAMPLE_NAMES = ("rnn-example", "attention-example", "lstm-example")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explain",
        help="print every number of a small model, step by step",
        description="Print every number of a small model, step by step. "
        "rnn-example: the study note's tiny RNN for 'I love you' -> '난 널 사랑해'; "
        "by default the note's sheet (the one-hot of 'I' fed at every step); the options below are its. "
        "attention-example: the notes' chatbot, one decoder step of dot-product attention (scores, "
        "softmax, attention value, [a; s], tanh, output). lstm-example: one LSTM unit's gates, cell and "
        "output word by word (--inputs: words among not, a, bad, film, but, dull).",
    )
    parser.add_argument(
        "name", metavar="NAME", choices=EXAMPLE_NAMES, help=f"which example: {', '.join(EXAMPLE_NAMES)}"
    )
    parser.add_argument(
        "--inputs",
        metavar="WORDS",
        default=None,
        help='the real input sequence, e.g. "I love you" (rnn-example: words among I, love, you, her; '
        'lstm-example: among not, a, bad, film, but, dull)',
    )
    parser.add_argument(
        "--train", action="store_true", help="first train W, U, B by BPTT on I love you -> 난 널 사랑해"
    )
    parser.add_argument("--steps", type=int, default=None, help="with --train: at most this many updates (default 500)")
    parser.add_argument(
        "--lr", type=float, default=None, help="with --train: gradient-descent learning rate (default 0.1)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.explain import EXAMPLES  # imports torch

    return EXAMPLES[args.name](inputs=args.inputs, train=args.train, steps=args.steps, lr=args.lr)
