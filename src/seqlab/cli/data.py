"""`seqlab data list | fetch NAME | inspect SOURCE`: see, get and look at datasets.

`inspect` takes a registry name or a file path with ``--format`` and prints a few
examples, a text histogram of lengths in tokens, the vocabulary size at ``--min-freq``,
the unknown-token rate of the first non-train split against the train vocabulary, and
the label balance.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

# Splits that count as "held out" when inspect measures the unknown-token rate, in the
# order it looks for one.
HELD_OUT = ("dev", "val", "valid", "test", "test_2016_flickr", "eval")
HISTOGRAM_BINS = 10
BAR_WIDTH = 40


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
    return inspect_source(args)


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


# ----------------------------------------------------------------------------- inspect


def inspect_source(args: argparse.Namespace) -> int:
    splits, labeled = _load_splits(args)
    tokenize = word_tokenizer()
    train_name = "train" if "train" in splits else next(iter(splits))
    for name, examples in splits.items():
        print(f"== {name}: {_count(examples)} examples")
        for example in _first(examples, args.examples):
            print(f"  {_show(example)}")
    texts, labels = _texts_and_labels(splits[train_name], labeled)
    if texts is None:
        return 0  # time series / analogy sets: examples are the summary
    counts = [len(tokenize(t)) for t in texts]
    print(f"\nlengths in tokens ({train_name}):")
    print(length_histogram(counts))
    freq = Counter(tok for t in texts for tok in tokenize(t))
    vocab = {tok for tok, n in freq.items() if n >= args.min_freq}
    print(f"\nvocabulary ({train_name}, min_freq={args.min_freq}): {len(vocab)} types of {len(freq)}")
    held = next((s for s in HELD_OUT if s in splits and s != train_name), None)
    if held is not None:
        held_texts, _ = _texts_and_labels(splits[held], labeled)
        rate = unknown_rate(held_texts, vocab, tokenize)
        print(f"unknown-token rate on {held}: {rate:.2%}")
    if labels:
        print(f"\nlabel balance ({train_name}):")
        for label, n in Counter(labels).most_common(20):
            print(f"  {label!s:>12}  {n:8d}  {n / len(labels):6.1%}")
    return 0


def _load_splits(args: argparse.Namespace) -> tuple[dict[str, object], bool]:
    """The examples of each split, and whether pairs are (text, label) or (src, tgt)."""
    from seqlab.data import registry, sources

    if args.source in registry.DATASETS and args.fmt is None:
        dataset = registry.get(args.source)
        names = [args.split] if args.split else list(dataset.splits)
        return {name: registry.load(args.source, name) for name in names}, dataset.task != "seq2seq"
    if args.fmt is None:
        raise ValueError(
            f"{args.source!r} is not a dataset name ({sorted(registry.DATASETS)}); "
            f"for a file, pass --format, one of {list(sources.FORMATS)}"
        )
    label = args.label_column or None
    examples = sources.read_source(
        Path(args.source), args.fmt, text_column=args.text_column, label_column=label, tgt=args.tgt
    )
    loaded = examples if hasattr(examples, "names") else list(examples)
    return {"file": loaded}, args.fmt != "parallel"


def _texts_and_labels(examples: object, labeled: bool) -> tuple[list[str] | None, list[str]]:
    """The text side and the labels of a split (``None`` texts: nothing to tokenize)."""
    if hasattr(examples, "names"):  # a TimeSeries
        return None, []
    items = list(examples)
    if not items:
        return [], []
    first = items[0]
    if isinstance(first, str):
        return items, []
    if isinstance(first[0], list):  # tagging: (tokens, tags); the tags are the labels
        return [" ".join(tokens) for tokens, _ in items], [tag for _, tags in items for tag in tags]
    if len(first) == 2 and isinstance(first[0], str) and (first[1] is None or isinstance(first[1], str)):
        # (text, label) or (src, tgt): the same shape; only the source says which.
        labels = [b for _, b in items if b is not None] if labeled else []
        return [a for a, _ in items], labels
    return None, []  # analogy sections, similarity triples


def word_tokenizer() -> Callable[[str], list[str]]:
    """seqlab's word tokenizer if the tokenize module has one, else words and punctuation."""
    try:
        from seqlab.data import tokenize as module
    except ImportError:
        module = None
    for name in ("word_tokenize", "tokenize_words"):
        if module is not None and callable(getattr(module, name, None)):
            return getattr(module, name)
    pattern = re.compile(r"\w+|[^\w\s]")
    return pattern.findall


def length_histogram(lengths: list[int], bins: int = HISTOGRAM_BINS) -> str:
    """A text histogram: one row per equal-width length bin, bars scaled to the largest."""
    if not lengths:
        return "  (no examples)"
    low, high = min(lengths), max(lengths)
    width = max(1, -(-(high - low + 1) // bins))  # ceil: every length falls in a bin
    counts = Counter((n - low) // width for n in lengths)
    top = max(counts.values())
    rows = []
    for b in range(-(-(high - low + 1) // width)):
        start = low + b * width
        bar = "#" * round(BAR_WIDTH * counts.get(b, 0) / top)
        rows.append(f"  {start:6d}-{start + width - 1:<6d} {counts.get(b, 0):8d} {bar}")
    mean = sum(lengths) / len(lengths)
    rows.append(f"  min {low}, mean {mean:.1f}, max {high}")
    return "\n".join(rows)


def unknown_rate(texts: Iterable[str], vocab: set[str], tokenize: Callable[[str], list[str]]) -> float:
    """Fraction of tokens in ``texts`` outside ``vocab`` (0.0 for no tokens)."""
    total = unknown = 0
    for text in texts:
        for tok in tokenize(text):
            total += 1
            unknown += tok not in vocab
    return unknown / total if total else 0.0


def _count(examples: object) -> int:
    return len(examples)  # type: ignore[arg-type]


def _first(examples: object, n: int) -> list:
    if hasattr(examples, "names"):
        ts = examples
        return [f"features {ts.names}"] + [
            (t.isoformat(sep=" "), row) for t, row in zip(ts.timestamps[:n], ts.rows[:n])
        ]
    return list(examples)[:n]  # type: ignore[call-overload]


def _show(example: object, limit: int = 160) -> str:
    text = repr(example)
    return text if len(text) <= limit else text[:limit] + "..."
