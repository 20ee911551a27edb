"""`seqlab explain NAME`: step-by-step traces of small models, printed as tables."""

from __future__ import annotations

import argparse

# Kept in step with seqlab.explain.EXAMPLES (listed here so --help needs no torch import;
# tests/cli/test_explain_cli.py checks the two agree).
EXAMPLE_NAMES = ("rnn-example", "attention-example", "lstm-example", "gradient-flow")
FLAGS = ("inputs", "train", "steps", "lr", "length", "hidden", "seed", "forget_bias", "plot")  # every example's options


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explain",
        help="print every number of a small model, step by step",
        description="Print every number of a small model, step by step. "
        "rnn-example: the study note's tiny RNN for 'I love you' -> '난 널 사랑해'; by default the note's sheet "
        "(the one-hot of 'I' fed at every step); options --inputs, --train, --steps, --lr. "
        "attention-example: the notes' chatbot, one decoder step of dot-product attention (scores, softmax, "
        "attention value, [a; s], tanh, output); no options. lstm-example: one LSTM unit's gates, cell and "
        "output word by word; option --inputs (words among not, a, bad, film, but, dull). gradient-flow: "
        "how much gradient reaches each input step of an RNN, an LSTM and a GRU; options --length, --hidden, "
        "--seed, --forget-bias, --plot.",
    )
    parser.add_argument(
        "name", metavar="NAME", choices=EXAMPLE_NAMES, help=f"which example: {', '.join(EXAMPLE_NAMES)}"
    )
    parser.add_argument("--inputs", metavar="WORDS", default=None,
                        help='the input words, e.g. "I love you" (rnn-example: among I, love, you, her; '
                        'lstm-example: among not, a, bad, film, but, dull)')
    parser.add_argument("--train", action="store_true",
                        help="rnn-example: first train W, U, B by BPTT on I love you -> 난 널 사랑해")
    parser.add_argument("--steps", type=int, default=None,
                        help="rnn-example with --train: at most this many updates (default 500)")
    parser.add_argument("--lr", type=float, default=None,
                        help="rnn-example with --train: gradient-descent learning rate (default 0.1)")
    parser.add_argument("--length", type=int, default=None, help="gradient-flow: sequence length T (default 100)")
    parser.add_argument("--hidden", type=int, default=None, help="gradient-flow: units per layer (default 32)")
    parser.add_argument("--seed", type=int, default=None, help="gradient-flow: seed of weights and inputs (default 0)")
    parser.add_argument("--forget-bias", type=float, default=None,
                        help="gradient-flow: added to the LSTM's forget-gate bias (default 0: torch's init)")
    parser.add_argument("--plot", metavar="PNG", default=None, help="gradient-flow: also draw the shares to PNG")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.explain import EXAMPLES, OPTIONS  # imports torch

    # given: the flags on the command line (None and a store_true's False are "not given"; 0 is a value)
    values = {flag: getattr(args, flag) for flag in FLAGS}
    given = {flag: value for flag, value in values.items() if value is not None and value is not False}
    refused = [_flag(name) for name in given if name not in OPTIONS[args.name]]
    if refused:
        takes = f"only {', '.join(map(_flag, OPTIONS[args.name]))}" if OPTIONS[args.name] else "no options"
        raise ValueError(f"{', '.join(refused)}: {args.name} takes {takes}")
    return EXAMPLES[args.name](**given)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
