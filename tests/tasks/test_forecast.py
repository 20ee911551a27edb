"""The forecast task: windows, split, normalization, baselines, models, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab import config
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import forecast, forecast_report
from seqlab.tasks.forecast_data import ETT_ROWS, load_data, make_windows, split_rows, window_starts

REPO = Path(__file__).resolve().parents[2]
ETT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets") / "ett_small" / "ETTh1.csv"


def write_series(path: Path, columns: dict[str, list], start_hour: int = 0) -> Path:
    """A timeseries CSV: an hourly `date` column, then the given columns."""
    n = len(next(iter(columns.values())))
    lines = ["date," + ",".join(columns)]
    for i in range(n):
        day, hour = divmod(start_hour + i, 24)
        stamp = f"2020-01-{1 + day:02d} {hour:02d}:00:00"
        lines.append(stamp + "," + ",".join(str(values[i]) for values in columns.values()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def file_cfg(path: Path, **forecast_keys) -> config.Config:
    overrides = {"task": "forecast", "data.name": None, "data.train": str(path), "data.format": "timeseries-csv",
                 "data.valid_fraction": 0.25, "data.test_fraction": 0.25, "model.encoder": "linear",
                 **{f"forecast.{key}": value for key, value in forecast_keys.items()}}
    return config.apply_overrides(config.Config(), overrides)


# -- windows --------------------------------------------------------------------------


def test_windows_follow_keras_stride_and_sampling_rate():
    # 20 rows, column 0 = row number, column 1 = 100 + row number. lookback 3, horizon 2,
    # sampling_rate 2, stride 3: a window starting at s reads rows s, s+2, s+4 and forecasts
    # rows s+6, s+8 (Keras timeseries_dataset_from_array(sequence_length=3, sampling_rate=2,
    # sequence_stride=3) gives the same input rows). The last target s+8 must be <= 19, so
    # s <= 11: s = 0, 3, 6, 9.
    z = torch.stack([torch.arange(20.0), 100 + torch.arange(20.0)], dim=1)
    starts = window_starts(0, 20, lookback=3, horizon=2, rate=2, stride=3)
    assert starts == [0, 3, 6, 9]
    w = make_windows(z, 0, starts, [1], lookback=3, horizon=2, rate=2, out_steps=2)
    x, y, s = w.examples[1]
    assert s == 3
    assert x[:, 0].tolist() == [3, 5, 7]
    assert y[:, 0].tolist() == [109, 111]  # rows 9 and 11 of the target column
    step = make_windows(z, 0, starts, [0], lookback=3, horizon=2, rate=2, out_steps=1)
    assert step.examples[3][1].tolist() == [[17.0]]  # s = 9: only step 2, row 9 + 4 + 4


def test_windows_of_a_split_that_starts_later_are_views_of_its_rows():
    z = torch.arange(30.0).view(-1, 1)
    w = make_windows(z[10:], 10, window_starts(10, 30, 4, 1, 1, 1), [0], 4, 1, 1, 1)
    x, y, _ = w.examples[0]
    assert x[:, 0].tolist() == [10, 11, 12, 13] and y.tolist() == [[14.0]]
    assert x.data_ptr() == z[10:].data_ptr()  # a view, not a copy


def test_fraction_split_and_context_from_the_rows_before(tmp_path):
    # 40 rows, 50/25/25: train rows [0, 20), valid [20, 30), test [30, 40). Valid and test
    # windows read their lookback from the rows before: the first valid forecast is row 20.
    path = write_series(tmp_path / "s.csv", {"a": list(range(40))})
    cfg = file_cfg(path, targets="a", lookback=4, horizon=2, period=2)
    assert split_rows(40, cfg) == {"train": (0, 20), "valid": (20, 30), "test": (30, 40)}
    data = load_data(cfg)
    first_y = [data.columns.denormalize_targets(data.windows[s].examples[0][1])[0, 0].item() for s in ("valid", "test")]
    assert first_y == pytest.approx([20, 30])
    last_y = data.columns.denormalize_targets(data.windows["test"].examples[-1][1])[-1, 0].item()
    assert last_y == pytest.approx(39)
    assert len(data.train) == 20 - 5  # s + 5 <= 19


@pytest.mark.skipif(not ETT.is_file(), reason="ETTh1 not in SEQLAB_DATA_DIR")
def test_ett_split_matches_informer_borders():
    # Informer's Dataset_ETT_hour: test rows [12*30*24 + 4*30*24 - seq_len, 12*30*24 + 8*30*24)
    # = [11424, 14400) for seq_len 96; with pred_len 96 that is 2976 - 192 + 1 = 2785 windows.
    cfg = config.resolve("etth1")
    data = load_data(cfg)
    assert ETT_ROWS == {"train": (0, 8640), "valid": (8640, 11520), "test": (11520, 14400)}
    assert data.windows["test"].starts[0] == 11520 - 96 and len(data.test) == 2785
    assert data.windows["valid"].starts[0] == 8640 - 96 and len(data.valid) == 2880 - 96 + 1
    assert len(data.train) == 8640 - 192 + 1
    # the closed-form ridge figures at horizon 96: linear 0.381, repeat-last 1.294
    base = forecast_report.baseline_metrics(data, cfg)
    assert base["linear"]["mse"] == pytest.approx(0.381, abs=0.001)
    assert base["last_value"]["mse"] == pytest.approx(1.294, abs=0.001)


# -- normalization ---------------------------------------------------------------------


def test_normalization_is_fitted_on_the_training_rows_only(tmp_path):
    # train rows (first half) hold 0..19; later rows are 1000 + i, which must not move the scale
    values = list(range(20)) + [1000 + i for i in range(20)]
    cfg = file_cfg(tmp_path.joinpath("s.csv") and write_series(tmp_path / "s.csv", {"a": values}),
                   targets="a", lookback=4, horizon=1, period=1)
    data = load_data(cfg)
    assert data.columns.mean == pytest.approx([9.5])  # mean of 0..19
    assert data.columns.std == pytest.approx([np.std(np.arange(20))])  # population std, as sklearn
    saved = tmp_path / "run"
    saved.mkdir()
    data.save(saved)
    assert json.loads((saved / "forecast.json").read_text())["mean"] == pytest.approx([9.5])


def test_constant_column_gets_std_one_and_no_nan(tmp_path):
    path = write_series(tmp_path / "s.csv", {"flat": [3.5] * 40, "a": list(range(40))})
    data = load_data(file_cfg(path, targets="a", lookback=4, horizon=2, period=2))
    assert data.columns.std[0] == 1.0
    x, _, _ = data.train[0]
    assert torch.isfinite(x).all() and torch.all(x[:, 0] == 0)


# -- baselines -------------------------------------------------------------------------


def test_last_value_and_seasonal_naive_by_hand():
    # one window of one channel: 1 2 3 4 5 6 (L = 6). Last value: 6 at every step.
    # Period 3, steps 1..4: rows L - 3 + ((h - 1) mod 3) = 3, 4, 5, 3 -> values 4, 5, 6, 4.
    x = torch.tensor([1.0, 2, 3, 4, 5, 6]).view(1, 6, 1)
    assert forecast_report.last_value(x, [0], [1, 2, 3, 4]).flatten().tolist() == [6, 6, 6, 6]
    assert forecast_report.seasonal_naive(x, [0], [1, 2, 3, 4], 3).flatten().tolist() == [4, 5, 6, 4]
    assert forecast_report.seasonal_naive(x, [0], [5], 3).flatten().tolist() == [5]  # step 5 alone


def test_ridge_baseline_equals_numpy_normal_equations():
    torch.manual_seed(0)
    z = torch.randn(60, 2)
    starts = window_starts(0, 60, 5, 3, 1, 1)
    w = make_windows(z, 0, starts, [0, 1], 5, 3, 1, 3)
    ridge = forecast_report.RidgeBaseline(w, [0, 1], ridge=0.5)
    x, y, _ = w.stacked()
    a = x.double().numpy().transpose(0, 2, 1).reshape(-1, 5)  # each window's channels as rows
    a = np.hstack([a, np.ones((len(a), 1))])
    b = y.double().numpy().transpose(0, 2, 1).reshape(-1, 3)
    weight = np.linalg.solve(a.T @ a + 0.5 * np.eye(6), a.T @ b)
    expected = (a @ weight).reshape(len(x), 2, 3).transpose(0, 2, 1)
    assert ridge(x).numpy() == pytest.approx(expected.astype(np.float32), abs=1e-5)


def test_comparison_says_when_the_model_does_not_beat_a_baseline():
    lines = forecast_report.verdict(0.5, {"last_value": {"mse": 1.0}, "linear": {"mse": 0.4}}, 24)
    assert lines[0] == "beats repeat last value: test MSE 50.0% lower"
    assert lines[1].startswith("does NOT beat linear (ridge)")


# -- models ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", forecast.ENCODERS)
def test_every_encoder_maps_a_window_to_horizon_by_targets(tmp_path, encoder):
    path = write_series(tmp_path / "s.csv", {"a": list(range(60)), "b": [i % 7 for i in range(60)]})
    overrides = {"model.encoder": encoder, "model.hidden_size": 8, "model.conv_channels": 8, "model.num_heads": 2,
                 "model.pooling": "mean" if encoder in ("conv", "transformer") else "last"}
    cfg = config.apply_overrides(file_cfg(path, targets="all", lookback=6, horizon=3, period=2), overrides)
    data = load_data(cfg)
    model = forecast.build_model(cfg, data)
    batch = forecast.collate(data.train[:5])
    assert model(batch.x).shape == (5, 3, 2)
    assert set(model.metrics(batch)) == {"loss", "mse", "mae", "mae_orig"}
    model.loss(batch).backward()


def test_revin_is_undone_exactly():
    # with an identity in between, normalizing and undoing gives the input back
    norm = forecast.InstanceNorm("revin", 3)
    with torch.no_grad():
        norm.gamma.copy_(torch.tensor([2.0, 0.5, 1.5]))
        norm.beta.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(4, 10, 3) * 5 + 2
    with torch.no_grad():
        h, m, s = norm(x)
        back = norm.undo(h, m, s, [0, 1, 2])
    assert h.mean(dim=1).numpy() == pytest.approx(norm.beta.detach().expand(4, 3).numpy(), abs=1e-5)
    assert back.numpy() == pytest.approx(x.numpy(), rel=1e-4, abs=1e-3)  # undo divides by gamma + 1e-5


def test_learned_cycle_is_removed_at_the_input_rows_and_restored_at_the_forecast_rows():
    # W = 4 rows, one channel, Q = [0, 10, 20, 30]; a window starting at row 5 with L = 3
    # reads rows 5, 6, 7 (Q = 10, 20, 30) and forecasts rows 8, 9 (Q = 0, 10). With a zero
    # linear map the forecast is exactly Q there; the input's cycle never reaches the output.
    model = forecast.ForecastModel(1, [0], 3, 2, encoder="linear", encoder_module=None, hidden=0, cycle=4)
    with torch.no_grad():
        model.cycle.copy_(torch.tensor([[0.0], [10.0], [20.0], [30.0]]))
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[:, -1] = 1.0  # now: each step = the last input after the cycle is removed
        x = torch.tensor([[[11.0], [22.0], [33.0]]])  # rows 5, 6, 7: 1, 2, 3 above the cycle
        assert model(x, torch.tensor([5])).flatten().tolist() == [0 + 3, 10 + 3]
    with pytest.raises(ValueError, match="needs each window's first row"):
        model(x)


def test_linear_model_is_channel_independent():
    model = forecast.ForecastModel(3, [0, 2], 4, 2, encoder="linear", encoder_module=None, hidden=0,
                                   instance_norm="last")
    x = torch.randn(1, 4, 3)
    changed = x.clone()
    changed[..., 1] += 10  # a channel that is not a target
    changed[..., 2] += 1  # a target: shifts its own forecast by 1 (last-value norm), not the other
    before, after = model(x), model(changed)
    assert after[..., 0].detach().numpy() == pytest.approx(before[..., 0].detach().numpy())
    assert (after[0, :, 1] - before[0, :, 1]).detach().numpy() == pytest.approx([1.0, 1.0], abs=1e-5)


# -- bad input -------------------------------------------------------------------------


def test_non_numeric_cell_names_line_and_column(tmp_path):
    path = write_series(tmp_path / "s.csv", {"a": [1, 2, "high", 4]})
    with pytest.raises(DataError, match=r"s\.csv:4: column 'a' holds 'high'; expected a number"):
        load_data(file_cfg(path, targets="a", lookback=2, horizon=1, period=1))


def test_unsorted_and_duplicate_timestamps_are_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("date,a\n2020-01-01 01:00,1\n2020-01-01 00:00,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="comes before the previous row"):
        load_data(file_cfg(path, targets="a", lookback=2, horizon=1, period=1))
    path.write_text("date,a\n2020-01-01 00:00,1\n2020-01-01 00:00,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="repeats the previous row"):
        load_data(file_cfg(path, targets="a", lookback=2, horizon=1, period=1))


def test_lookback_longer_than_the_series(tmp_path):
    path = write_series(tmp_path / "s.csv", {"a": list(range(40))})
    with pytest.raises(DataError, match=r"the train part .* shorter than one window: forecast.lookback 30"):
        load_data(file_cfg(path, targets="a", lookback=30, horizon=2, period=2))


def test_missing_target_column_lists_the_columns(tmp_path):
    path = write_series(tmp_path / "s.csv", {"a": list(range(40)), "b": list(range(40))})
    with pytest.raises(ConfigError, match=r"forecast.targets: no column 'OT' in .*the columns are \['a', 'b'\]"):
        load_data(file_cfg(path, targets="OT", lookback=4, horizon=2, period=2))


def test_missing_cells_are_refused_or_forward_filled(tmp_path):
    values = list(range(40))
    values[10] = ""
    path = write_series(tmp_path / "s.csv", {"a": values})
    with pytest.raises(DataError, match=r"s\.csv:12: column 'a' is empty or NaN"):
        load_data(file_cfg(path, targets="a", lookback=4, horizon=2, period=2))
    data = load_data(file_cfg(path, targets="a", lookback=4, horizon=2, period=2, missing="ffill"))
    assert data.filled == 1


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="forecast.period: expected an integer <= forecast.lookback"):
        config.apply_overrides(config.Config(), {"forecast.lookback": 12, "forecast.period": 24})
    cfg = config.apply_overrides(config.Config(), {"task": "forecast", "model.pooling": "attention"})
    with pytest.raises(ConfigError, match="model.pooling"):
        forecast._check_model_settings(cfg)


# -- recipes ---------------------------------------------------------------------------

JENA_COLUMNS = ["p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
                "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)",
                "wd (deg)"]


def test_jena_temperature_recipe_reads_hourly_steps_and_the_temperature_a_day_later(tmp_path, monkeypatch):
    # 4000 ten-minute rows in the file's own layout ("01.01.2009 00:10:00", day.month.year);
    # T (degC) = row number, so every window's values name the rows it read.
    import zipfile
    from datetime import datetime, timedelta

    start = datetime(2009, 1, 1, 0, 10)
    lines = ['"Date Time",' + ",".join(f'"{name}"' for name in JENA_COLUMNS)]
    for i in range(4000):
        values = [str(i if name == "T (degC)" else 1000 + i % 7) for name in JENA_COLUMNS]
        lines.append((start + i * timedelta(minutes=10)).strftime("%d.%m.%Y %H:%M:%S") + "," + ",".join(values))
    folder = tmp_path / "jena_climate"
    folder.mkdir()
    with zipfile.ZipFile(folder / "jena_climate_2009_2016.csv.zip", "w") as archive:
        archive.writestr("jena_climate_2009_2016.csv", "\n".join(lines) + "\n")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path))
    cfg = config.resolve("jena-temperature")
    data = load_data(cfg)
    assert data.columns.names == JENA_COLUMNS and data.columns.targets == ["T (degC)"]
    assert split_rows(4000, cfg) == {"train": (0, 2000), "valid": (2000, 3000), "test": (3000, 4000)}
    x, y, _ = data.train[10]  # starts at row 10: reads rows 10, 16, ..., 10 + 6 * 119 = 724
    rows = (x[:, 1] * data.columns.std[1] + data.columns.mean[1]).round()
    assert rows[:3].tolist() == [10, 16, 22] and rows[-1].item() == 724 and len(rows) == 120
    assert data.columns.denormalize_targets(y).round().tolist() == [[724 + 24 * 6]]  # 24 hours later
    assert data.columns.step_seconds == 600


def test_step_output_forecasts_only_the_horizon(tmp_path):
    path = write_series(tmp_path / "s.csv", {"a": list(range(60)), "b": [i % 7 for i in range(60)]})
    cfg = config.apply_overrides(file_cfg(path, targets="b", features="b,a", lookback=6, horizon=3, period=2,
                                          output="step"), {"model.encoder": "gru", "model.hidden_size": 4})
    data = load_data(cfg)
    assert data.columns.names == ["b", "a"] and data.columns.target_index == [0]
    x, y, _ = data.train[0]  # rows 0..5 in, row 5 + 3 = 8 out
    assert data.columns.denormalize_targets(y).round().tolist() == [[8 % 7]]
    assert forecast.build_model(cfg, data)(x.unsqueeze(0)).shape == (1, 1, 1)
    sums = forecast_report.score_test(None, data, cfg)
    assert set(sums) == set(forecast_report.BASELINES) and len(sums["linear"].mse_by_step()) == 1
