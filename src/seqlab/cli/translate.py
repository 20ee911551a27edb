"""`seqlab translate RUN --text "..." | --input FILE --output FILE [--beam K] [--show-attention]`."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from seqlab.tables import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "translate",
        help="translate texts with a finished seq2seq run",
        description="Translate each --text (printed as SOURCE -> OUTPUT) or every record of --input into "
        "--output (CSV, TSV, JSONL: every input column plus `translation`; TXT: one translation per line). "
        "An empty source gives an empty translation.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a seq2seq run dir written by seqlab train")
    parser.add_argument("--text", action="append", default=[], help="a source text (repeatable)")
    parser.add_argument("--input", type=Path, help="a file of sources (format from its extension or --format)")
    parser.add_argument("--output", type=Path, help="where to write the translations (with --input)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="format of --input and --output")
    parser.add_argument("--column", default=None, help="column holding the source (default: the recipe's "
                        "data.text_column; a txt file has one source per line)")
    parser.add_argument("--beam", type=int, default=1, help="beam size; 1 is greedy search (default)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="most output tokens (default: 2 x source tokens + 10, as in training)")
    parser.add_argument("--length-penalty", type=float, default=0.0, help="GNMT length penalty alpha for beams")
    parser.add_argument("--max-source-len", type=int, default=None,
                        help="longest source in tokens (default: the recipe's data.max_tokens_per_example, "
                        "if set; else no limit)")
    parser.add_argument("--on-long", choices=("truncate", "refuse"), default="truncate",
                        help="a source over the maximum: cut it (with a warning) or stop with an error")
    parser.add_argument("--show-attention", action="store_true",
                        help="print each translation's attention weights and write a heat map PNG")
    parser.add_argument("--plots", type=Path, default=None, help="folder for the heat maps (default: RUN/plots)")
    return parser


def run(args: argparse.Namespace) -> int:
    from seqlab import bundle, tables

    if bool(args.text) == bool(args.input):
        raise ValueError("give either --text (repeatable) or --input FILE --output FILE")
    if args.input is not None and args.output is None:
        raise ValueError("--input needs --output FILE (the input file is never overwritten)")
    if args.beam < 1:
        raise ValueError(f"--beam: expected an integer >= 1, got {args.beam}")
    if args.max_len is not None and args.max_len <= 0:
        raise ValueError(f"--max-len: expected an integer > 0, got {args.max_len}")
    if args.max_source_len is not None and args.max_source_len <= 0:
        raise ValueError(f"--max-source-len: expected an integer > 0, got {args.max_source_len}")
    _, cfg = bundle.read_config(args.run_dir)
    if cfg.task != "seq2seq":
        command = bundle.COMMAND_FOR_TASK.get(cfg.task, "another command")
        raise ValueError(f"{args.run_dir} is a {cfg.task} run, not seq2seq; use seqlab {command}")
    if args.input is not None:
        fmt = tables.guess_format(args.input, args.format)
        tables.check_not_input(args.input, args.output)
        columns, rows = tables.read_records(args.input, fmt)
        column = tables.TXT_COLUMN if fmt == "txt" else args.column or cfg.data.text_column
        texts = tables.texts_of(args.input, columns, rows, column)
    else:
        texts = args.text
    translator = bundle.load(args.run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = translator.translate(texts, beam_size=args.beam, max_len=args.max_len,
                                       length_penalty=args.length_penalty, return_attention=True,
                                       max_source_len=args.max_source_len, on_long=args.on_long)
    for warning in caught:
        print(f"seqlab translate: warning: {warning.message}", file=sys.stderr)
    if args.input is not None:
        for row, result in zip(rows, results):
            row["translation"] = result.text
        tables.write_records(args.output, fmt, [*[c for c in columns if c != "translation"], "translation"], rows)
        print(f"wrote {len(rows)} translations to {args.output}")
        return 0
    plots = args.plots if args.plots is not None else args.run_dir / "plots"
    for n, (text, result) in enumerate(zip(texts, results), start=1):
        print(f"{text} -> {result.text}")
        if args.show_attention:
            _show_attention(result, plots / f"translate-attention-{n}.png", f"{text} -> {result.text}")
    return 0


def _show_attention(result, path: Path, title: str) -> None:
    """Print the (output × source) weights as a table and write the heat map PNG."""
    from rich.console import Console
    from rich.table import Table

    from seqlab.viz import plot_attention

    if not result.source_tokens:
        print("  (empty source: no attention)")
        return
    rows = [*result.output_tokens, "<eos>"][:result.attention.shape[0]]  # no <eos> row if the limit cut it
    table = Table(title="attention (rows: output, columns: source)")
    table.add_column("")
    for token in result.source_tokens:
        table.add_column(_shown(token), justify="right")
    for token, weights in zip(rows, result.attention.tolist()):
        table.add_row(_shown(token), *(f"{w:.2f}" for w in weights))
    Console(soft_wrap=True, width=max(80, 8 * (len(result.source_tokens) + 2))).print(table)
    plot_attention(result.attention, result.source_tokens, rows, path, title=title)
    print(f"  attention heat map: {path}")


def _shown(token: str) -> str:
    """A token as a table header: a space is shown as ␣ so it can be seen."""
    return token.replace(" ", "␣") or "''"
