"""ETTh1/ETTh2 at the standard horizons: a forecast recipe's test MSE/MAE beside its baselines.

Trains ``RECIPE`` (default: etth1, switched to each table by ``forecast.table``; etth2 is
etth1 with ``forecast.table: ETTh2``, so the ETTh2 rows are the etth2 recipe) at each
horizon with ``seqlab.train`` and prints a Markdown table built from each run's summary.json:
the model's test MSE and MAE (normalized space, all 7 variables), the three baselines on the
same windows, and the run's wall time. Extra ``--set`` overrides apply to every run.

    OMP_NUM_THREADS=1 python benchmarks/forecast_ett.py [--tables ETTh1 ETTh2] [--horizons 96 192 336 720]
        [--recipe etth1] [--out runs/bench-ett] [--set model.encoder=linear ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import seqlab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["ETTh1", "ETTh2"])
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--recipe", default="etth1")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-ett"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    print("| table | H | model MSE | model MAE | linear (ridge) MSE | repeat-last MSE | seasonal naive MSE "
          "| beats both floors | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for table in args.tables:
        for horizon in args.horizons:
            out = args.out / f"{table}-{horizon}-{time.strftime('%H%M%S')}"
            start = time.perf_counter()
            run = seqlab.train(args.recipe, [f"forecast.table={table}", f"forecast.horizon={horizon}",
                                             *args.overrides], out=out)
            wall = time.perf_counter() - start
            s = json.loads((run / "summary.json").read_text())
            b, vs = s["baselines"], s["vs_baselines"]
            floors = vs["linear"]["beats"] and vs["last_value"]["beats"]
            print(f"| {table} | {horizon} | {s['test']['mse']:.4f} | {s['test']['mae']:.4f} | "
                  f"{b['linear']['mse']:.4f} | {b['last_value']['mse']:.4f} | {b['seasonal_naive']['mse']:.4f} | "
                  f"{'yes' if floors else 'no'} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
