"""The etth1-smoke recipe through `seqlab train`, then `seqlab forecast` on its bundle.

The linear model must beat repeat-last-value and seasonal naive on the test windows, and
the run must carry its baselines, plots and normalization. Skipped, with the reason, when
ETTh1 is not in the data folder.
"""

import csv
import json
import os
from pathlib import Path

import pytest

from seqlab.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "ett_small" / "ETTh1.csv").is_file(), reason=f"ETTh1 not in {ROOT}")
def test_etth1_smoke_beats_the_common_sense_baselines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", "etth1-smoke", "--out", str(out)]) == 0
    console = capsys.readouterr().err
    assert "the model beats repeat last value" in console
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["mode"] == "min" and summary["headline"]["metric"] == "mse"
    assert summary["vs_baselines"]["last_value"]["beats"] and summary["vs_baselines"]["seasonal_naive"]["beats"]
    assert summary["forecast"]["test_windows"] == len(range(11520 - 48, 14400 - (48 - 1 + 24), 4))
    for name in ("forecast.json", "model.safetensors", "plots/forecast.png", "plots/error-by-step.png"):
        assert (out / name).is_file(), name
    recent = tmp_path / "recent.csv"
    lines = (ROOT / "ett_small" / "ETTh1.csv").read_text().splitlines()
    recent.write_text("\n".join([lines[0], *lines[1001:1101]]) + "\n")  # rows 1000..1099
    assert main(["forecast", str(out), "--input", str(recent), "--output", str(tmp_path / "next.csv")]) == 0
    rows = list(csv.reader(open(tmp_path / "next.csv")))
    assert rows[0] == lines[0].split(",") and len(rows) == 1 + 24
    assert rows[1][0] == "2016-08-15 20:00:00"  # row 1099 is 2016-07-01 00:00 + 1099 h = 45 days 19 h later
