"""Record files for batch prediction: read every column of a CSV, TSV or JSON-lines file,
and write the same format back with columns added.

Unlike :mod:`seqlab.data.sources` (which reads only the text and label of training
files), these keep every input column, so ``seqlab predict --input a.csv --output b.csv``
gives ``b.csv`` = ``a.csv`` plus prediction columns. ``txt`` is one record per line,
the text in a column named ``text``; a txt output holds the added columns alone (tab-separated). Outputs are written atomically.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from seqlab.errors import DataError
from seqlab.training.checkpoint import write_atomic

FORMATS = ("csv", "tsv", "jsonl", "txt")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
TXT_COLUMN = "text"  # the one column of a txt file


def guess_format(path: Path, given: str | None = None) -> str:
    """``given`` if set, else the format named by the file's extension."""
    if given is not None:
        if given not in FORMATS:
            raise DataError(f"format {given!r}: expected one of {', '.join(FORMATS)}")
        return given
    if path.suffix.lower() not in _EXTENSIONS:
        raise DataError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                        f"use .csv, .tsv, .jsonl or .txt, or give --format ({', '.join(FORMATS)})")
    return _EXTENSIONS[path.suffix.lower()]


def read_records(path: Path, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names (in file order) and one dict per record, every column kept."""
    if not path.is_file():
        raise DataError(f"{path}: no such input file")
    text = path.read_text(encoding="utf-8")
    if fmt == "txt":
        return [TXT_COLUMN], [{TXT_COLUMN: line} for line in text.splitlines()]
    if fmt in ("csv", "tsv"):
        quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL  # TSV has no quoting, as in GLUE
        reader = csv.DictReader(text.splitlines(keepends=True), delimiter="," if fmt == "csv" else "\t",
                                quoting=quoting)
        if not reader.fieldnames:
            raise DataError(f"{path}: no header row; expected column names on line 1")
        rows = []
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{reader.line_num}: more fields than the {len(reader.fieldnames)} columns "
                                "of the header")
            rows.append({key: "" if value is None else value for key, value in row.items()})
        return list(reader.fieldnames), rows
    columns: dict[str, None] = {}
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg}); expected one object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: got {type(record).__name__}; expected a JSON object")
        columns.update(dict.fromkeys(record))
        rows.append(record)
    return list(columns), rows


def texts_of(path: Path, columns: list[str], rows: list[dict[str, Any]], column: str) -> list[str]:
    """The ``column`` of every record as text; a DataError naming the columns there are if it is absent."""
    return ["" if value is None else str(value) for value in values_of(path, columns, rows, column)]


def values_of(path: Path, columns: list[str], rows: list[dict[str, Any]], column: str) -> list[Any]:
    """The ``column`` of every record as it was read (a JSON list stays a list); DataErrors as texts_of."""
    if column not in columns:
        raise DataError(f"{path}: no column {column!r}; the file has columns {columns}")
    for n, row in enumerate(rows, start=1):
        if column not in row:
            raise DataError(f"{path}: record {n} has no {column!r}; it has {sorted(row)}")
    return [row[column] for row in rows]


def write_records(path: Path, fmt: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write records in ``fmt`` (all of ``columns``, in order), atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as file:
            if fmt == "jsonl":
                file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            elif fmt == "txt":
                added = [column for column in columns if column != TXT_COLUMN]  # one line per record
                file.writelines("\t".join(str(row[column]) for column in added) + "\n" for row in rows)
            else:
                options = {"quoting": csv.QUOTE_NONE, "escapechar": "\\"} if fmt == "tsv" else {}
                writer = csv.DictWriter(file, columns, delimiter="," if fmt == "csv" else "\t",
                                        lineterminator="\n", **options)
                writer.writeheader()
                writer.writerows(rows)

    write_atomic(path, write)


def check_not_input(input_path: Path, output_path: Path) -> None:
    """Refuse to write the output over the input file."""
    if output_path.resolve() == input_path.resolve() or (output_path.exists() and output_path.samefile(input_path)):
        raise DataError(f"{output_path}: is the input file; choose another --output so the input is kept")
