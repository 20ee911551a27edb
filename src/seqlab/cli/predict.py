"""`seqlab predict RUN --text "..." | --input FILE --output FILE`: label or tag texts with a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.tables import FORMATS

TASKS = ("classify", "tag")  # the tasks whose bundles predict


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="predict labels (classify) or tags (tag) with a finished run",
        description="Print the prediction of each --text (classify: label and probability; tag: token/tag "
        "pairs), or read --input (CSV, TSV, JSONL or TXT) and write --output in the same format with every "
        "input column plus `prediction` (and `probability` for classify).",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a run dir written by seqlab train")
    parser.add_argument("--text", action="append", default=[], help="a text to predict (repeatable)")
    parser.add_argument("--input", type=Path, help="a file of texts (format from its extension or --format)")
    parser.add_argument("--output", type=Path, help="where to write the predictions (with --input)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="format of --input and --output")
    parser.add_argument("--column", default=None, help="the column holding the text (default: the recipe's "
                        "data.text_column; for a run on feature sequences, data.features_column of a JSONL file)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab import bundle, tables
    from seqlab.tasks.classify import reads_features

    if bool(args.text) == bool(args.input):
        raise ValueError("give either --text (repeatable) or --input FILE --output FILE")
    if args.input is not None and args.output is None:
        raise ValueError("--input needs --output FILE (the input file is never overwritten)")
    _, cfg = bundle.read_config(args.run_dir)
    if cfg.task not in TASKS:
        command = bundle.COMMAND_FOR_TASK.get(cfg.task, "another command")
        raise ValueError(f"{args.run_dir} is a {cfg.task} run; predict takes {' or '.join(TASKS)} runs: "
                         f"use seqlab {command}")
    features = cfg.task == "classify" and reads_features(cfg)
    if features and args.input is None:
        raise ValueError(f"{args.run_dir} classifies feature sequences; give --input FILE.jsonl --output FILE.jsonl "
                         f"with the steps under {cfg.data.features_column!r}")
    if args.input is not None:
        fmt = tables.guess_format(args.input, args.format)
        tables.check_not_input(args.input, args.output)
        columns, rows = tables.read_records(args.input, fmt)
        if features:
            texts = tables.values_of(args.input, columns, rows, args.column or cfg.data.features_column)
        else:
            texts = tables.texts_of(args.input, columns, rows, args.column or cfg.data.text_column)
    else:
        texts = args.text
    predictor = bundle.load(args.run_dir)
    if cfg.task == "classify":
        results = predictor.predict(texts)
        added = {"prediction": [label for label, _ in results], "probability": [round(p, 6) for _, p in results]}
    else:
        results = predictor.predict(texts)
        added = {"prediction": [" ".join(tags) for tags in results]}
    if args.input is None:
        for text, result in zip(texts, results):
            if cfg.task == "classify":
                print(f"{result[0]}\t{result[1]:.4f}\t{text}")
            else:
                print(" ".join(f"{token}/{tag}" for token, tag in zip(text.split(), result)))
        return 0
    for n, row in enumerate(rows):
        row.update({name: values[n] for name, values in added.items()})
    tables.write_records(args.output, fmt, [*[c for c in columns if c not in added], *added], rows)
    print(f"wrote {len(rows)} predictions to {args.output}")
    return 0
