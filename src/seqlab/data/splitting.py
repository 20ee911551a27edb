"""Dividing examples into train, valid and test: seeded shuffles, chronological blocks,
the splits a source lacks carved from its train rows, and split files saved with a run.

The readers that produce the examples are :mod:`seqlab.data.sources`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import DataError


def seeded_split(
    n: int,
    fractions: Iterable[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: Iterable[str] = ("train", "valid", "test"),
) -> dict[str, list[int]]:
    """Split indices ``0..n-1`` by a seeded permutation (numpy PCG64).

    Every split but the first gets ``int(n * fraction)`` indices; the first gets the rest,
    so no example is lost to rounding. Indices within a split are sorted (file order)."""
    sizes = _split_sizes(n, list(fractions), list(names))
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = sorted(int(i) for i in order[start : start + size])
        start += size
    return out


def carve_missing_splits(
    rows: Mapping[str, Sequence[Any]],
    described: Mapping[str, str],
    valid_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[dict[str, str], dict[str, list[int]], dict[str, object]]:
    """Carve the valid and test splits a source lacks from its train rows (seeded, see
    :func:`seeded_split`). ``rows``: the splits the source has (train at least), each a
    sequence of rows; ``described``: where each came from. Returns (which source each of
    train, valid and test draws from, each split's row numbers in it, a description for
    split.json: each split's source and the fractions carved from train)."""
    carved = [name for name in ("valid", "test") if name not in rows]
    fractions = {"valid": valid_fraction, "test": test_fraction}
    split = seeded_split(len(rows["train"]), [1.0 - sum(fractions[n] for n in carved)]
                         + [fractions[n] for n in carved], seed=seed, names=["train", *carved])
    for name in ("valid", "test"):
        if name not in carved:
            split[name] = list(range(len(rows[name])))
    names = {name: "train" if name in carved else name for name in ("train", "valid", "test")}
    about = {"sources": {name: described[names[name]] for name in names},
             "carved_from_train": {name: fractions[name] for name in carved}}
    return names, split, about


def limit_splits(splits: dict[str, list[Any]], limit_train: int | None, limit_eval: int | None,
                 seed: int) -> None:
    """Cut each split to at most ``limit_train`` (train) or ``limit_eval`` (valid, test) items,
    in place: the first N of a seeded shuffle, kept in their order (data.limit_train/limit_eval)."""
    for i, name in enumerate(("train", "valid", "test")):
        limit = limit_train if name == "train" else limit_eval
        if limit is not None and limit < len(splits[name]):
            keep = np.random.default_rng([seed, i]).permutation(len(splits[name]))[:limit]
            splits[name] = [splits[name][j] for j in sorted(keep.tolist())]


def chronological_split(
    n: int,
    fractions: Iterable[float] = (0.7, 0.1, 0.2),
    names: Iterable[str] = ("train", "valid", "test"),
) -> dict[str, list[int]]:
    """Split ``0..n-1`` into consecutive blocks in time order (no shuffling: the model
    must never train on the future of its test data)."""
    sizes = _split_sizes(n, list(fractions), list(names))
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = list(range(start, start + size))
        start += size
    return out


def _split_sizes(n: int, fractions: list[float], names: list[str]) -> dict[str, int]:
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions {fractions} for {len(names)} names {names}")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions {fractions}: expected non-negative numbers summing to 1")
    rest = [int(n * f) for f in fractions[1:]]
    return dict(zip(names, [n - sum(rest)] + rest))


def save_split(split: dict[str, list[int]], path: str | Path, **about: object) -> None:
    """Write a split as JSON: ``{"about": {...}, "indices": {name: [i, ...]}}``.
    ``about`` records how it was made (seed, fractions, source) for the run dir."""
    Path(path).write_text(json.dumps({"about": about, "indices": split}) + "\n", encoding="utf-8")


def load_split(path: str | Path) -> dict[str, list[int]]:
    """Read the indices written by `save_split`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["indices"]
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a split file written by save_split ({err})") from None


def check_split_labels(train_labels: Iterable[str], labels: Iterable[str], split_name: str) -> None:
    """Raise `DataError` if ``split_name`` has labels that never occur in train."""
    known = set(train_labels)
    unseen = sorted(set(labels) - known)
    if unseen:
        raise DataError(f"split {split_name!r} has labels not seen in train: {unseen}; train has {sorted(known)}")


def char_split(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """The char-LM convention: first ``train_fraction`` of the characters, then the rest."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction={train_fraction!r}: expected a number in (0, 1)")
    cut = int(len(text) * train_fraction)
    return text[:cut], text[cut:]
