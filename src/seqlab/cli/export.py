"""`seqlab export RUN [--output model.onnx]`: a classify run as an ONNX graph."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a classify run as ONNX (token ids and lengths in, probabilities out)",
        description="Write RUN's classifier as an ONNX graph: inputs tokens (B, T) int64 padded with 0 and "
        "lengths (B,) int64, output probabilities (B, C) in labels.json's order; B and T are free. Tokenize "
        "with the run's tokenizer.json and vocab.json (seqlab.load(RUN).encode). LSTM and GRU encoders only. "
        "Needs the export extra: pip install 'seqlab[export]'.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a classify run dir written by seqlab train")
    parser.add_argument("--output", type=Path, default=None, help="where to write the graph (default RUN/model.onnx)")
    return parser


def run(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import logging
    import warnings

    from seqlab.export import export_onnx

    if args.output is not None and (args.output.is_dir() or not args.output.parent.is_dir()):
        raise ValueError(f"--output: {args.output} is a folder; expected a file name such as model.onnx"
                         if args.output.is_dir() else f"--output: no folder {args.output.parent} to write into")
    chatter = io.StringIO()  # the exporter reports its steps on stdout; a failure shows them
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed" (irrelevant here)
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = export_onnx(args.run_dir, args.output)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 (the exporter fails in many classes; say so in one line, with its log)
        raise ValueError(f"{args.run_dir}: ONNX export failed ({type(err).__name__}: {str(err)[:300]}); "
                         f"exporter log: {chatter.getvalue()[-500:]!r}") from None
    print(f"wrote {path}: tokens (B, T) int64 and lengths (B,) int64 in, probabilities (B, C) out")
    return 0
