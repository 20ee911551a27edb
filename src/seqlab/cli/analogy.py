"""`seqlab analogy RUN A B C [--topn N]`: the words nearest A − B + C in a word2vec run
(king man woman → queen: king is to man as queen is to woman)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analogy",
        help="word arithmetic in a word2vec run: A - B + C",
        description="Print the words nearest to A - B + C (unit vectors, cosine; A, B and C left out): "
        "`seqlab analogy RUN king man woman` asks for king - man + woman.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a word2vec run dir written by seqlab train")
    parser.add_argument("a", metavar="A", help="the word to start from (king)")
    parser.add_argument("b", metavar="B", help="the word to take away (man)")
    parser.add_argument("c", metavar="C", help="the word to add (woman)")
    parser.add_argument("--topn", type=int, default=5, help="how many answers (default 5)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab.embeddings import open_run

    # A - B + C is "B is to A as C is to ?", which WordVectors.analogy(b, a, c) answers
    for word, score in open_run(args.run_dir).analogy(args.b, args.a, args.c, args.topn):
        print(f"{word}\t{score:.4f}")
    return 0
