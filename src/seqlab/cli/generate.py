"""`seqlab generate RUN [--prompt TEXT] [--length N] [--temperature T --top-k K --top-p P --seed S]
[--condition CLASS -n N]`: text from a finished lm run, streamed as it is sampled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "generate",
        help="sample text from a finished language-model run",
        description="Continue --prompt with tokens sampled from an lm run, printed as they come. "
        "--temperature 0 is greedy. A model of names (or other whole sequences) writes -n samples, "
        "one per line; a conditioned one needs --condition (e.g. a language for names-generate).",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="an lm run dir written by seqlab train")
    parser.add_argument("--prompt", default="", help="text to continue (default: none)")
    parser.add_argument("--length", type=int, default=500, help="most new tokens per sample (default 500)")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 is greedy")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens only")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set of mass p")
    parser.add_argument("--seed", type=int, default=None, help="seed for repeatable samples")
    parser.add_argument("--condition", default=None, help="the class a conditioned model writes for")
    parser.add_argument("--on-unknown", choices=("unk", "refuse"), default="unk",
                        help="prompt tokens the model never saw: read them as <unk> with a warning (default), "
                        "or stop with an error naming them")
    parser.add_argument("-n", "--num-samples", type=int, default=1, help="samples to write (default 1)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab import bundle

    if args.length < 1:
        raise ValueError(f"--length: expected an integer >= 1, got {args.length}")
    if args.num_samples < 1:
        raise ValueError(f"-n: expected an integer >= 1, got {args.num_samples}")
    _, cfg = bundle.read_config(args.run_dir)
    if cfg.task != "lm":
        command = bundle.COMMAND_FOR_TASK.get(cfg.task, "another command")
        raise ValueError(f"{args.run_dir} is a {cfg.task} run, not lm; use seqlab {command}")
    generator = bundle.load(args.run_dir)
    if generator.conditions and args.condition is None:
        raise ValueError(f"--condition: this model writes for a class; expected one of: "
                         f"{', '.join(generator.conditions)}")
    for n in range(args.num_samples):
        seed = None if args.seed is None else args.seed + n
        sys.stdout.write(args.prompt)
        for piece in generator.stream(args.prompt, args.length, temperature=args.temperature, top_k=args.top_k,
                                      top_p=args.top_p, seed=seed, condition=args.condition,
                                      on_unknown=args.on_unknown):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0
