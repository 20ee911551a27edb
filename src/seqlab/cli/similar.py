"""`seqlab similar RUN WORD [--topn N]`: the nearest words of WORD in a word2vec run, by cosine."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "similar",
        help="nearest words of a word in a word2vec run",
        description="Print the words whose vectors are closest to WORD's (cosine similarity), one per line.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a word2vec run dir written by seqlab train")
    parser.add_argument("word", metavar="WORD", help="a word of the run's vocabulary")
    parser.add_argument("--topn", type=int, default=10, help="how many neighbours (default 10)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.embeddings import open_run

    for word, score in open_run(args.run_dir).most_similar(args.word, args.topn):
        print(f"{word}\t{score:.4f}")
    return 0
