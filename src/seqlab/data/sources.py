"""Readers for user data files, one function per format, all streaming.

Every reader yields plain Python records one at a time, so a file larger than memory
works; none reads a whole file at once. Files ending in ``.gz`` are decompressed on
the fly; a ``.zip`` holding one data file is read from inside the archive.

Example types, by format:

| format           | reader              | one example                                  |
| ---------------- | ------------------- | -------------------------------------------- |
| `text`           | `read_text`         | ``str`` (a line or a blank-line paragraph)   |
| `csv/tsv`        | `read_table`        | ``(text, label)`` or ``(text, None)``        |
| `jsonl`          | `read_jsonl`        | ``(text, label)`` or ``(text, None)``        |
| `parallel`       | `read_parallel`     | ``(src, tgt)``                               |
| `conllu`         | `read_conllu`       | ``(tokens, tags)``, two lists of ``str``     |
| `timeseries-csv` | `read_timeseries`   | one `TimeSeries` (timestamps, names, rows)   |

Bad input raises `DataError` naming the file, the line (or byte offset) and what was
expected. Split helpers (seeded, chronological, saved as JSON with the run) close
this module.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import math
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from seqlab.errors import DataError

FORMATS = ("text", "csv", "tsv", "jsonl", "parallel", "conllu", "timeseries-csv")

# Cells a time-series CSV may use for "no reading here".
MISSING_CELLS = ("", "nan", "NaN", "NA", "null")

# Timestamp layouts tried after ISO 8601, in order. Jena climate writes day.month.year.
TIME_FORMATS = ("%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%m/%d/%Y %H:%M")

# Python's csv module refuses fields over 128 KiB by default; one IMDB review is 13,704
# characters and user documents can be far longer. This raises a process-wide limit.
csv.field_size_limit(2**31 - 1)


# ----------------------------------------------------------------------------- lines


@contextlib.contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    """Open ``path`` for reading bytes, decompressing ``.gz`` and ``.zip`` on the fly."""
    path = Path(path)
    if not path.is_file():
        looked = "a folder, not a file" if path.exists() else "no such file"
        raise DataError(f"{path}: {looked}; expected a readable data file")
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            yield f
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(_zip_member(path, archive)) as f:
            yield f
    else:
        with open(path, "rb") as f:
            yield f


def _zip_member(path: Path, archive: zipfile.ZipFile) -> str:
    # macOS archivers add __MACOSX/ resource forks; they are never the data.
    names = [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
    if len(names) != 1:
        raise DataError(f"{path}: expected a zip archive holding one data file, found {names}")
    return names[0]


def iter_raw_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with the line ending kept; line numbers start at 1.

    Bytes that are not valid ``encoding`` raise `DataError` with the line and byte
    offset (in the decompressed stream for ``.gz``/``.zip``). An empty file raises too.
    """
    offset = 0
    number = 0
    with open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}:{number}: byte 0x{raw[err.start]:02x} at byte offset "
                    f"{offset + err.start} is not valid {encoding}; expected {encoding} text "
                    f"(pass encoding='latin-1' if the file is Latin-1)"
                ) from None
            offset += len(raw)
            yield number, text
    if number == 0:
        raise DataError(f"{path}: the file is empty; expected at least one example")


def read_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Like `iter_raw_lines` but with the line ending (``\\n`` or ``\\r\\n``) removed."""
    for number, text in iter_raw_lines(path, encoding):
        yield number, text.rstrip("\r\n")


# ----------------------------------------------------------------------------- text


def read_text(path: str | Path, per: str = "line", encoding: str = "utf-8") -> Iterator[str]:
    """Yield text examples: ``per="line"`` one per non-blank line, ``per="paragraph"``
    one per block of lines separated by blank lines (lines joined with ``\\n``)."""
    if per not in ("line", "paragraph"):
        raise ValueError(f"per={per!r}: expected 'line' or 'paragraph'")
    block: list[str] = []
    for _, line in read_lines(path, encoding):
        if per == "line":
            if line.strip():
                yield line
        elif line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


# ----------------------------------------------------------------------------- tables


def read_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(text, label)`` from a CSV/TSV file whose first row names the columns.

    ``label_column=None`` reads unlabeled text and yields ``(text, None)``. CSV follows
    RFC 4180 quoting (fields may span lines); TSV (``delimiter="\\t"``) has no quoting,
    as in GLUE, so a ``"`` inside a sentence is just a character.
    """
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    lines = (text for _, text in iter_raw_lines(path, encoding))
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: no header row; expected column names on line 1")
    text_at = _column_index(path, header, text_column)
    label_at = None if label_column is None else _column_index(path, header, label_column)
    for row in reader:
        if not row:
            continue
        text = row[text_at].strip() if text_at < len(row) else ""
        if label_at is None:
            yield text, None
            continue
        label = row[label_at].strip() if label_at < len(row) else ""
        if not label:
            raise DataError(
                f"{path}:{reader.line_num}: the {label_column!r} column is empty; "
                f"expected a label on every row (row starts {text[:40]!r})"
            )
        yield text, label


def _column_index(path: str | Path, header: list[str], column: str) -> int:
    names = [name.strip() for name in header]
    if column not in names:
        raise DataError(f"{path}: no column {column!r}; the file has columns {names}")
    return names.index(column)


def read_jsonl(
    path: str | Path, text_key: str = "text", label_key: str | None = "label"
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(text, label)`` from a JSON-lines file (one object per non-blank line).

    Labels are returned as ``str`` so that ``1`` and ``"1"`` name the same class."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg}); expected one object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: got {type(record).__name__}; expected a JSON object")
        if text_key not in record:
            raise DataError(f"{path}:{number}: no key {text_key!r}; the record has keys {sorted(record)}")
        if label_key is None:
            yield str(record[text_key]), None
            continue
        label = record.get(label_key)
        if label is None or label == "":
            raise DataError(
                f"{path}:{number}: the {label_key!r} label is missing; the record has keys {sorted(record)}"
            )
        yield str(record[text_key]), str(label)


# ----------------------------------------------------------------------------- parallel


def read_parallel(src: str | Path, tgt: str | Path | None = None, encoding: str = "utf-8") -> Iterator[tuple[str, str]]:
    """Yield ``(src, tgt)`` sentence pairs.

    With two paths, line *i* of ``src`` pairs with line *i* of ``tgt``; files of
    different lengths raise `DataError` with both line counts. With one path, each line
    is ``source<TAB>target`` (further columns, such as Tatoeba's attribution, are ignored).
    """
    if tgt is None:
        for number, line in read_lines(src, encoding):
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataError(f"{src}:{number}: expected 'source<TAB>target', got {line[:60]!r}")
            yield fields[0], fields[1]
        return
    src_lines = read_lines(src, encoding)
    tgt_lines = read_lines(tgt, encoding)
    count = 0
    while True:
        left, right = next(src_lines, None), next(tgt_lines, None)
        if left is None or right is None:
            break
        count += 1
        yield left[1], right[1]
    if left is None and right is None:
        return
    # One file ended first; count what is left of the other for the message.
    src_total = count + (left is not None) + sum(1 for _ in src_lines)
    tgt_total = count + (right is not None) + sum(1 for _ in tgt_lines)
    raise DataError(
        f"parallel files differ in length: {src} has {src_total} lines, "
        f"{tgt} has {tgt_total}; expected line-aligned files"
    )


# ----------------------------------------------------------------------------- conllu

# CoNLL-U columns (https://universaldependencies.org/format.html): ID FORM LEMMA UPOS
# XPOS FEATS HEAD DEPREL DEPS MISC.
CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}


def read_conllu(path: str | Path, tag_column: str = "upos") -> Iterator[tuple[list[str], list[str]]]:
    """Yield ``(tokens, tags)`` per sentence of a CoNLL-U file.

    Only syntactic words (integer IDs) are kept; multiword-token ranges (``1-2``) and
    empty nodes (``8.1``) carry no tag of their own and are skipped, as
    ``conllu.parse_incr`` users do by filtering on ``isinstance(token["id"], int)``.
    The tests check this reader against ``conllu.parse_incr`` on UD English-EWT. It is
    our own loop, not the library's, so that a malformed line names its file and line
    (``conllu`` silently accepts lines with missing fields).
    """
    if tag_column not in CONLLU_TAG_COLUMNS:
        raise ValueError(f"tag_column={tag_column!r}: expected one of {sorted(CONLLU_TAG_COLUMNS)}")
    tag_at = CONLLU_TAG_COLUMNS[tag_column]
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in read_lines(path):
        if not line.strip():
            if tokens:
                yield tokens, tags
                tokens, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataError(
                f"{path}:{number}: a CoNLL-U word line needs 10 tab-separated fields, got {len(fields)}: {line[:60]!r}"
            )
        word_id = fields[0]
        if word_id.isdigit():
            tokens.append(fields[1])
            tags.append(fields[tag_at])
        elif not _is_range_or_empty_node(word_id):
            raise DataError(f"{path}:{number}: ID {word_id!r} is not an integer, a range 'a-b' or an empty node 'a.b'")
    if tokens:
        yield tokens, tags


def _is_range_or_empty_node(word_id: str) -> bool:
    for separator in ("-", "."):
        parts = word_id.split(separator)
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            return True
    return False


# ----------------------------------------------------------------------------- time series


@dataclass
class TimeSeries:
    """A table of readings: ``rows[i][j]`` is feature ``names[j]`` at ``timestamps[i]``.

    ``filled`` counts the cells that ``missing="ffill"`` filled in (0 otherwise)."""

    timestamps: list[datetime]
    names: list[str]
    rows: list[list[float]]
    filled: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def slice(self, start: int, stop: int) -> TimeSeries:
        """Rows ``start:stop``, chronological order kept (``filled`` is not carried)."""
        return TimeSeries(self.timestamps[start:stop], list(self.names), self.rows[start:stop])


def parse_time(text: str, time_format: str | None = None) -> datetime:
    """Parse a timestamp: ``time_format`` (strptime) if given, else ISO 8601, else the
    layouts in `TIME_FORMATS`. Raises ValueError when none fits."""
    if time_format is not None:
        return datetime.strptime(text, time_format)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for layout in TIME_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    raise ValueError(f"timestamp {text!r} matches neither ISO 8601 nor {list(TIME_FORMATS)}")


def read_timeseries(
    path: str | Path,
    time_column: str = "date",
    feature_columns: list[str] | None = None,
    missing: str = "error",
    duplicates: str = "error",
    time_format: str | None = None,
) -> TimeSeries:
    """Read a CSV with a timestamp column and numeric feature columns.

    Rows stream from the file; the result holds them all (a forecaster slices windows).
    ``feature_columns=None`` takes every column but the timestamp.

    - Timestamps must increase strictly: an earlier one is an error naming both lines'
      values; a repeated one is an error unless ``duplicates="keep-first"``.
    - Empty or NaN cells (`MISSING_CELLS`): ``missing="error"`` raises with file:line and
      column; ``missing="ffill"`` forward-fills each column from its last reading and
      back-fills a column's leading gap from its first reading; ``TimeSeries.filled``
      reports how many cells were filled.
    """
    if missing not in ("error", "ffill"):
        raise ValueError(f"missing={missing!r}: expected 'error' or 'ffill'")
    if duplicates not in ("error", "keep-first"):
        raise ValueError(f"duplicates={duplicates!r}: expected 'error' or 'keep-first'")
    reader = csv.reader(text for _, text in iter_raw_lines(path))
    header = [name.strip() for name in next(reader)]
    time_at = _column_index(path, header, time_column)
    names = feature_columns or [n for i, n in enumerate(header) if i != time_at]
    columns = [_column_index(path, header, name) for name in names]
    timestamps: list[datetime] = []
    rows: list[list[float]] = []
    for row in reader:
        if not row:
            continue
        where = f"{path}:{reader.line_num}"
        if len(row) != len(header):
            raise DataError(f"{where}: {len(row)} cells; expected {len(header)} as in the header {header}")
        try:
            stamp = parse_time(row[time_at].strip(), time_format)
        except ValueError as err:
            raise DataError(f"{where}: column {time_column!r}: {err}") from None
        if timestamps and stamp <= timestamps[-1]:
            if stamp == timestamps[-1] and duplicates == "keep-first":
                continue
            problem = "repeats" if stamp == timestamps[-1] else "comes before"
            raise DataError(
                f"{where}: timestamp {row[time_at]!r} {problem} the previous row's "
                f"{timestamps[-1].isoformat(sep=' ')}; expected strictly increasing time"
            )
        timestamps.append(stamp)
        rows.append([_cell(row[i], where, header[i], missing) for i in columns])
    if not rows:
        raise DataError(f"{path}: a header but no rows; expected at least one reading")
    filled = _fill_gaps(path, names, rows) if missing == "ffill" else 0
    return TimeSeries(timestamps, names, rows, filled)


def _cell(text: str, where: str, column: str, missing: str) -> float:
    text = text.strip()
    if text in MISSING_CELLS:
        if missing == "error":
            raise DataError(f"{where}: column {column!r} is empty or NaN; pass missing='ffill' to fill gaps")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: column {column!r} holds {text!r}; expected a number") from None
    if math.isnan(value) and missing == "error":
        raise DataError(f"{where}: column {column!r} is NaN; pass missing='ffill' to fill gaps")
    return value


def _fill_gaps(path: str | Path, names: list[str], rows: list[list[float]]) -> int:
    """Forward-fill NaN in place, back-fill each column's leading NaN; return the count."""
    filled = 0
    for j, name in enumerate(names):
        first = next((row[j] for row in rows if not math.isnan(row[j])), None)
        if first is None:
            raise DataError(f"{path}: column {name!r} has no numeric value at all; nothing to fill from")
        last = first  # leading gap: back-fill from the first reading
        for row in rows:
            if math.isnan(row[j]):
                row[j] = last
                filled += 1
            else:
                last = row[j]
    return filled


def read_source(
    path: str | Path,
    fmt: str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    tgt: str | Path | None = None,
    time_column: str = "date",
) -> Iterable:
    """Open a user file by format name (one of `FORMATS`); returns that reader's examples."""
    if fmt == "text":
        return read_text(path)
    if fmt in ("csv", "tsv"):
        return read_table(path, text_column, label_column, delimiter="," if fmt == "csv" else "\t")
    if fmt == "jsonl":
        return read_jsonl(path, text_column, label_column)
    if fmt == "parallel":
        return read_parallel(path, tgt)
    if fmt == "conllu":
        return read_conllu(path)
    if fmt == "timeseries-csv":
        return read_timeseries(path, time_column)
    raise ValueError(f"format {fmt!r}: expected one of {list(FORMATS)}")


# ----------------------------------------------------------------------------- splits


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
