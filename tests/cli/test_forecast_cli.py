"""`seqlab forecast RUN --input recent.csv [--output next.csv]` and the Forecaster bundle."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta

import pytest
import torch

import seqlab
from seqlab.cli.main import main
from seqlab.errors import DataError
from seqlab.forecasting import Forecaster
from seqlab.tasks.forecast_data import load_data

START = datetime(2021, 3, 1)


def write_table(path, n: int, step: timedelta = timedelta(hours=1), nan_row: int | None = None) -> None:
    """Two columns with a daily cycle: `load` and `temp`."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["time", "load", "temp"])
        for i in range(n):
            load = 10 + 3 * math.sin(2 * math.pi * i / 24) + 0.01 * i
            temp = "nan" if i == nan_row else f"{20 + math.cos(2 * math.pi * i / 24):.4f}"
            writer.writerow([(START + i * step).isoformat(sep=" "), f"{load:.4f}", temp])


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    write_table(folder / "series.csv", 400)
    overrides = {"task": "forecast", "data.name": None, "data.train": str(folder / "series.csv"),
                 "data.format": "timeseries-csv", "forecast.time_column": "time", "forecast.targets": "load",
                 "forecast.lookback": 24, "forecast.horizon": 6, "forecast.period": 24,
                 "forecast.instance_norm": "last", "forecast.cycle": 24, "model.encoder": "linear",
                 "train.epochs": 2}
    recipe = folder / "recipe.yaml"
    recipe.write_text("task: forecast\n", encoding="utf-8")
    return seqlab.train(recipe, overrides=overrides, out=folder / "run")


def test_load_gives_a_forecaster_that_matches_the_model_on_the_last_test_window(forecast_run, tmp_path):
    fc = seqlab.load(forecast_run)
    assert isinstance(fc, Forecaster)
    data = load_data(fc.cfg)
    x, _, start = data.test[-1]  # the last test window, normalized as training did it
    normalized = fc.model.predict_windows(x.unsqueeze(0), None, torch.tensor([start]))[0]
    expected = data.columns.denormalize_targets(normalized.double())
    # the same readings, raw, ending where that window ends
    write_table(tmp_path / "all.csv", 400)
    table = list(csv.DictReader(open(tmp_path / "all.csv")))
    series_rows = [[float(r["load"]), float(r["temp"])] for r in table]
    stamps = [datetime.fromisoformat(r["time"]) for r in table]
    end = data.windows["test"].starts[-1] + 24
    result = fc.forecast(series_rows[end - 30:end], stamps[end - 30:end])  # the cycle's phase from the times
    assert result.names == ["load"] and result.steps == [1, 2, 3, 4, 5, 6]
    assert result.timestamps[0] == stamps[end - 1] + timedelta(hours=1)
    assert torch.tensor(result.values).numpy() == pytest.approx(expected.numpy(), abs=1e-4)
    with pytest.raises(DataError, match="learned 24-row cycle, so it needs the rows' timestamps"):
        fc.forecast(series_rows[:end])


def test_forecast_writes_timestamps_at_the_input_step(forecast_run, tmp_path, capsys):
    recent = tmp_path / "recent.csv"
    write_table(recent, 30, step=timedelta(minutes=30))  # a finer step than training: the input's is used
    out = tmp_path / "next.csv"
    assert main(["forecast", str(forecast_run), "--input", str(recent), "--output", str(out)]) == 0
    rows = list(csv.reader(open(out, encoding="utf-8")))
    last = START + 29 * timedelta(minutes=30)
    assert rows[0] == ["time", "load"]
    assert [row[0] for row in rows[1:]] == [(last + h * timedelta(minutes=30)).isoformat(sep=" ") for h in range(1, 7)]
    assert all(math.isfinite(float(row[1])) for row in rows[1:])
    assert main(["forecast", str(forecast_run), "--input", str(recent)]) == 0  # to stdout
    assert capsys.readouterr().out.splitlines()[1:] == [",".join(row) for row in rows[1:]]


def test_nan_in_the_input_is_refused(forecast_run, tmp_path, capsys):
    recent = tmp_path / "recent.csv"
    write_table(recent, 30, nan_row=28)
    assert main(["forecast", str(forecast_run), "--input", str(recent)]) == 2
    assert "recent.csv:30: column 'temp' is empty or NaN" in capsys.readouterr().err
    with pytest.raises(DataError, match="row 23 has NaN or infinite"):
        seqlab.load(forecast_run).forecast([[1.0, 2.0]] * 23 + [[1.0, float("nan")]])


def test_too_few_rows_and_missing_columns(forecast_run, tmp_path, capsys):
    recent = tmp_path / "short.csv"
    write_table(recent, 10)
    assert main(["forecast", str(forecast_run), "--input", str(recent)]) == 2
    assert "10 rows; the model reads the last 24 steps at sampling rate 1, which needs at least 24" in \
        capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("time,load\n2021-03-01 00:00,1\n", encoding="utf-8")
    assert main(["forecast", str(forecast_run), "--input", str(other)]) == 2
    assert "no column 'temp'; the model reads ['load', 'temp'] and the file has ['time', 'load']" in \
        capsys.readouterr().err


def test_unsorted_input_is_refused(forecast_run, tmp_path, capsys):
    recent = tmp_path / "recent.csv"
    write_table(recent, 30)
    lines = recent.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    recent.write_text("\n".join(lines) + "\n")
    assert main(["forecast", str(forecast_run), "--input", str(recent)]) == 2
    assert "comes before the previous row" in capsys.readouterr().err


def test_forecast_run_summary_reports_the_baselines(forecast_run):
    import json

    summary = json.loads((forecast_run / "summary.json").read_text())
    assert summary["headline"]["metric"] == "mse" and summary["best"]["mode"] == "min"
    assert set(summary["baselines"]) == {"last_value", "seasonal_naive", "linear"}
    for name, entry in summary["vs_baselines"].items():
        assert entry["beats"] == (summary["test"]["mse"] < summary["baselines"][name]["mse"])
    assert (forecast_run / "plots" / "forecast.png").is_file()
    assert (forecast_run / "plots" / "error-by-step.png").is_file()


def test_eval_rescores_the_test_windows(forecast_run):
    import json

    assert main(["eval", str(forecast_run), "--split", "test"]) == 0
    scored = json.loads((forecast_run / "eval-test.json").read_text())
    summary = json.loads((forecast_run / "summary.json").read_text())
    assert scored["metrics"]["mse"] == pytest.approx(summary["test"]["mse"], rel=1e-6)
