"""`seqlab data inspect`: a quick look at a dataset before training on it.

:func:`inspect` takes a registry name (all its splits, or one) or a file path with its
format and returns a plain-text report: a few examples per split, a histogram of lengths
in word tokens, the vocabulary size at ``min_freq``, the unknown-token rate of the first
held-out split against the train vocabulary, and the label balance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from seqlab.data import registry, sources
from seqlab.data.tokenize import word_tokenize

# Splits that count as "held out" for the unknown-token rate, in the order looked for.
HELD_OUT = ("dev", "val", "valid", "test", "test_2016_flickr", "eval")
HISTOGRAM_BINS = 10
BAR_WIDTH = 40


def inspect(
    source: str,
    fmt: str | None = None,
    *,
    split: str | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    tgt: str | None = None,
    min_freq: int = 1,
    examples: int = 3,
) -> str:
    """A report on a named dataset or a file: a few examples per split, a histogram of
    lengths in word tokens, the vocabulary at ``min_freq``, the unknown-token rate of the
    first held-out split against the train vocabulary, and the label balance."""
    splits, labeled = _load_splits(source, fmt, split, text_column, label_column, tgt)
    lines = []
    train_name = "train" if "train" in splits else next(iter(splits))
    for name, items in splits.items():
        lines.append(f"== {name}: {len(items)} examples")
        lines += [f"  {_show(example)}" for example in _first(items, examples)]
    texts, labels = _texts_and_labels(splits[train_name], labeled)
    if texts is None:
        return "\n".join(lines)  # time series / analogy sets: examples are the summary
    tokenized = [word_tokenize(text) for text in texts]
    lines += [f"\nlengths in tokens ({train_name}):", length_histogram([len(tokens) for tokens in tokenized])]
    freq = Counter(token for tokens in tokenized for token in tokens)
    vocab = {token for token, n in freq.items() if n >= min_freq}
    lines.append(f"\nvocabulary ({train_name}, min_freq={min_freq}): {len(vocab)} types of {len(freq)}")
    held = next((s for s in HELD_OUT if s in splits and s != train_name), None)
    if held is not None:
        held_texts, _ = _texts_and_labels(splits[held], labeled)
        lines.append(f"unknown-token rate on {held}: {unknown_rate(held_texts, vocab, word_tokenize):.2%}")
    if labels:
        lines.append(f"\nlabel balance ({train_name}):")
        lines += [f"  {label!s:>12}  {n:8d}  {n / len(labels):6.1%}" for label, n in Counter(labels).most_common(20)]
    return "\n".join(lines)


def _load_splits(source, fmt, split, text_column, label_column, tgt) -> tuple[dict[str, object], bool]:
    """The examples of each split, and whether pairs are (text, label) or (src, tgt)."""
    if source in registry.DATASETS and fmt is None:
        dataset = registry.get(source)
        names = [split] if split else list(dataset.splits)
        return {name: registry.load(source, name) for name in names}, dataset.task != "seq2seq"
    if fmt is None:
        raise ValueError(
            f"{source!r} is not a dataset name ({sorted(registry.DATASETS)}); "
            f"for a file, pass --format, one of {list(sources.FORMATS)}"
        )
    read = sources.read_source(Path(source), fmt, text_column=text_column, label_column=label_column or None, tgt=tgt)
    loaded = read if hasattr(read, "names") else list(read)
    return {"file": loaded}, fmt != "parallel"


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
