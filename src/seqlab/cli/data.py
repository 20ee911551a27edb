"""`seqlab data list | fetch NAME | inspect SOURCE`: see, get and look at datasets.

`inspect` prints the report of :func:`seqlab.data.inspect.inspect` for a registry name or
a file path with ``--format``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="list, fetch and inspect datasets", description=__doc__.splitlines()[0])
    nested = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    nested.add_parser("list", help="the named datasets, and whether each is cached")
    fetch = nested.add_parser("fetch", help="download a named dataset into the cache")
    fetch.add_argument("name", metavar="NAME")
    inspect = nested.add_parser("inspect", help="examples, lengths, vocabulary and labels of a dataset")
    inspect.add_argument("source", metavar="SOURCE", help="a registry name or a file path")
    inspect.add_argument("--format", dest="fmt", help="file format (needed for a path)")
    inspect.add_argument("--split", help="only this split of a named dataset")
    inspect.add_argument("--text-column", default="text", help="csv/tsv/jsonl text column (default: text)")
    inspect.add_argument("--label-column", default="label", help="csv/tsv/jsonl label column (default: label)")
    inspect.add_argument("--tgt", help="target-side file of a two-file parallel corpus")
    inspect.add_argument("--min-freq", type=int, default=1, help="vocabulary cutoff (default: 1)")
    inspect.add_argument("--examples", type=int, default=3, help="how many examples to print (default: 3)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        return list_datasets()
    if args.data_command == "fetch":
        from seqlab.data import registry

        folder = registry.fetch(args.name)
        print(f"{args.name}: all files verified in {folder}")
        return 0
    from seqlab.data.inspect import inspect

    report = inspect(
        args.source,
        args.fmt,
        split=args.split,
        text_column=args.text_column,
        label_column=args.label_column,
        tgt=args.tgt,
        min_freq=args.min_freq,
        examples=args.examples,
    )
    print(report)
    return 0


def list_datasets() -> int:
    from rich.console import Console
    from rich.table import Table

    from seqlab.data import registry

    table = Table("name", "task", "size", "license", "cached", title=f"datasets (cache: {registry.cache_dir()})")
    for dataset in registry.DATASETS.values():
        size = f"{dataset.size / 1e6:.1f} MB" if dataset.size else "?"
        cached = "yes" if registry.is_cached(dataset) else "no"
        table.add_row(dataset.name, dataset.task, size, dataset.license, cached)
    Console(width=160).print(table)
    return 0
