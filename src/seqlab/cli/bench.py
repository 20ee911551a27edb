"""`seqlab bench`: time recurrent layers side by side (torch.nn, seqlab's backends, Keras 3).

    seqlab bench --preset cpu-small --json bench.json --markdown bench.md
    seqlab bench --cell lstm,gru --batch 32 --steps 100 --hidden-size 256 --mode train,infer
    seqlab bench --grid grid.yaml --contenders torch.nn,auto,keras

Grid flags take one value or a comma-separated list; every combination is run (with a
preset or a grid file they override those configurations' fields).
"""

from __future__ import annotations

import argparse
import sys

# flag -> LayerConfig field, and how one value is read
_GRID_FLAGS = {
    "cell": str,
    "batch": int,
    "steps": int,
    "input_size": int,
    "hidden_size": int,
    "num_layers": int,
    "bidirectional": "bool",
    "recurrent_dropout": float,
    "layer_norm": "bool",
    "dtype": str,
    "mode": str,
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="time recurrent layers: torch.nn vs seqlab's backends (and Keras 3)",
        description=__doc__.splitlines()[0] + " Prints a Markdown table; --json/--markdown save it.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--preset", help="a named grid: tiny, cpu-small, h100")
    where.add_argument("--grid", metavar="YAML", help="a grid file: {field: value(s)} or a list of such mappings")
    for flag in _GRID_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, metavar="V[,V...]", help=f"grid: {flag}")
    parser.add_argument(
        "--contenders",
        default=None,
        help="comma-separated: torch.nn, reference, native, fused, auto, triton, keras "
        "(default torch.nn,reference,fused,auto,triton)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is a GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls per contender (default 2)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved timed rounds (default 5)")
    parser.add_argument("--iters", type=int, default=None, help="calls per contender per round (default 2)")
    parser.add_argument(
        "--clock",
        default=None,
        help="wall (default) or process: CPU time of this process, steadier on a shared CPU (best with --threads 1)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the table as Markdown")
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab import bench

    flags = {name: _values(name, kind, getattr(args, name)) for name, kind in _GRID_FLAGS.items()}
    flags = {name: value for name, value in flags.items() if value is not None}
    configs = bench.configs_from(args.preset, args.grid, flags)
    contenders = bench.parse_contenders(args.contenders or list(bench.DEFAULT_CONTENDERS))
    settings = {k: getattr(args, k) for k in ("warmup", "repeats", "iters", "clock") if getattr(args, k) is not None}
    settings = bench.BenchSettings(**settings)
    device = bench.resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    report = bench.run_bench(configs, contenders, device, settings, log=lambda line: print(line, file=sys.stderr))
    bench.write_report(report, args.json, args.markdown)
    print(bench.to_markdown(report), end="")
    return 0


def _values(name: str, kind, text: str | None):
    """'32,64' -> [32, 64]; one value stays a scalar. Bad values raise ValueError naming the flag."""
    if text is None:
        return None
    flag = f"--{name.replace('_', '-')}"
    values = []
    for item in (part.strip() for part in text.split(",")):
        try:
            if kind == "bool":
                if item.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                values.append(item.lower() in ("true", "1", "yes"))
            else:
                values.append(kind(item))
        except ValueError:
            expected = {int: "integers", float: "numbers", "bool": "true/false", str: "names"}[kind]
            raise ValueError(f"{flag}: expected comma-separated {expected}, got {item!r} in {text!r}") from None
    return values[0] if len(values) == 1 else values
