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
expected. Dividing the records into train/valid/test is :mod:`seqlab.data.splitting`.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import math
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

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
