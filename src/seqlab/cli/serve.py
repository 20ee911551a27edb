"""`seqlab serve RUN [--host 127.0.0.1] [--port 8000]`: an HTTP server over a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="serve a finished run over HTTP (FastAPI)",
        description="Load RUN once and answer JSON requests: GET /health, GET /info, and the task's endpoint "
        "(POST /predict, /translate, /generate, /forecast, /similar or /analogy); the OpenAPI page is at "
        "/docs. Needs the serve extra: pip install 'seqlab[serve]'.",
    )
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a run dir written by seqlab train")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this "
                        "machine only; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:1, ..., or auto (cuda when there is one)")
    parser.add_argument("--max-items", type=int, default=256,
                        help="most texts (or sequences, samples) one request may carry (default 256)")
    parser.add_argument("--max-length", type=int, default=2000,
                        help="most new tokens one generated sample may ask for (default 2000)")
    return parser


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port: expected an integer in 1..65535, got {args.port}")
    try:
        import uvicorn

        from seqlab.serve import create_app
    except ImportError as err:
        raise ValueError(f"{err}; seqlab serve needs FastAPI and uvicorn: pip install 'seqlab[serve]'") from None
    app = create_app(args.run_dir, device=args.device, max_items=args.max_items, max_length=args.max_length)
    print(f"serving {args.run_dir} at http://{args.host}:{args.port} (API page: /docs; Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
