"""A finished forecast run as a predictor: recent readings in, the next steps out.

``seqlab.load(run)`` returns a :class:`Forecaster` for a forecast run. It reads the last
``lookback`` steps (``(lookback - 1) * sampling_rate + 1`` rows) of what it is given,
normalizes them with the training statistics saved in ``forecast.json``, runs the model and
returns the forecast in the targets' own units, with timestamps when the input has them::

    fc = seqlab.load("runs/etth1-20261123-101500")
    result = fc.forecast_file("recent.csv")       # or fc.forecast(rows, timestamps)
    result.timestamps[0], result.values[0]        # the first forecast step: time, one value per target
    result.write_csv("next.csv")

The time step of the output is the most common gap between the input's timestamps (the
training data's when the input has fewer than two rows), times ``sampling_rate``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from torch import nn

from seqlab.config import Config
from seqlab.data import sources
from seqlab.errors import DataError
from seqlab.tasks.forecast_data import Columns, step_delta, time_step
from seqlab.tasks.forecast_report import forecast_steps


@dataclass
class ForecastResult:
    """values[i][j]: target ``names[j]`` at step ``steps[i]`` after the input's last row, at
    ``timestamps[i]`` (None when the input had no timestamps)."""

    names: list[str]
    steps: list[int]
    values: list[list[float]]
    timestamps: list[datetime] | None
    time_column: str = "date"

    def to_csv(self) -> str:
        """One row per step: the timestamp (or the step number) and each target."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([self.time_column if self.timestamps is not None else "step", *self.names])
        for i, row in enumerate(self.values):
            first = self.timestamps[i].isoformat(sep=" ") if self.timestamps is not None else self.steps[i]
            writer.writerow([first, *(f"{value:.6g}" for value in row)])
        return buffer.getvalue()

    def write_csv(self, path: str | Path) -> None:
        Path(path).write_text(self.to_csv(), encoding="utf-8")


@dataclass
class Forecaster:
    """A loaded forecast bundle (see the module docstring)."""

    run_dir: Path
    cfg: Config
    model: nn.Module
    saved: object  # runfiles.Saved with ``columns``
    device: torch.device

    @property
    def task(self) -> str:
        return self.cfg.task

    @property
    def columns(self) -> Columns:
        return self.saved.columns

    @property
    def rows_needed(self) -> int:
        """Rows the last window spans: (lookback - 1) * sampling_rate + 1."""
        f = self.cfg.forecast
        return (f.lookback - 1) * f.sampling_rate + 1

    def forecast(self, rows: Sequence[Sequence[float]], timestamps: Sequence[datetime] | None = None,
                 source: str = "input") -> ForecastResult:
        """rows (N, C): readings of the input columns (``columns.names``, in that order), oldest
        first; the last ``rows_needed`` are read. ``timestamps``: N increasing times, or None."""
        f, names = self.cfg.forecast, self.columns.names
        if len(rows) < self.rows_needed:
            raise DataError(f"{source}: {len(rows)} rows; the model reads the last {f.lookback} steps at sampling "
                            f"rate {f.sampling_rate}, which needs at least {self.rows_needed} rows")
        if timestamps is not None and len(timestamps) != len(rows):
            raise ValueError(f"{source}: {len(timestamps)} timestamps for {len(rows)} rows; expected one per row")
        recent = rows[len(rows) - self.rows_needed:]
        for i, row in enumerate(recent):
            if len(row) != len(names):
                raise DataError(f"{source}: row {len(rows) - self.rows_needed + i} has {len(row)} values; expected "
                                f"{len(names)} ({', '.join(names)})")
            bad = [names[j] for j, value in enumerate(row) if not math.isfinite(float(value))]
            if bad:
                raise DataError(f"{source}: row {len(rows) - self.rows_needed + i} has NaN or infinite {bad}; "
                                "the forecast needs every reading of the last window")
        z = self.columns.normalize(torch.tensor([list(map(float, row)) for row in recent], dtype=torch.float64))
        x = z[::f.sampling_rate].unsqueeze(0)  # (1, L, C)
        start = None
        if f.cycle:  # the learned cycle is indexed by rows since the training series' first row
            if timestamps is None or self.columns.first_time is None or not self.columns.step_seconds:
                raise DataError(f"{source}: this model removes a learned {f.cycle}-row cycle, so it needs the "
                                "rows' timestamps to place them in it")
            since = timestamps[len(rows) - self.rows_needed] - datetime.fromisoformat(self.columns.first_time)
            start = torch.tensor([round(since.total_seconds() / self.columns.step_seconds)])
        y = self.model.predict_windows(x, self.device, start)[0]  # (H', T), normalized
        values = self.columns.denormalize_targets(y.double()).tolist()
        steps = forecast_steps(self.cfg)
        stamps = None
        if timestamps is not None:
            seconds = time_step(list(timestamps)) or self.columns.step_seconds
            stamps = [timestamps[-1] + step_delta(seconds * f.sampling_rate * h) for h in steps]
        return ForecastResult(list(self.columns.targets), steps, values, stamps, f.time_column)

    def forecast_file(self, path: str | Path) -> ForecastResult:
        """Read a timeseries CSV (the training file's timestamp column and input columns; others
        are ignored), refusing empty or NaN cells, and forecast from its last rows."""
        f = self.cfg.forecast
        header = _header(path)
        missing = [name for name in self.columns.names if name not in header]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}; the model reads {self.columns.names} and the file "
                            f"has {header}")
        time_column = f.time_column if self.cfg.data.name is None else _time_column(header, self.columns.names)
        series = sources.read_timeseries(path, time_column, feature_columns=list(self.columns.names), missing="error")
        return self.forecast(series.rows, series.timestamps, str(path))


def _header(path: str | Path) -> list[str]:
    for _, line in sources.iter_raw_lines(path):
        return [name.strip() for name in next(csv.reader([line]))]
    raise DataError(f"{path}: empty file; expected a header and rows")


def _time_column(header: list[str], names: list[str]) -> str:
    """A registry dataset's timestamp column: the one column of the file that is not an input."""
    others = [name for name in header if name not in names]
    if len(others) != 1:
        raise DataError(f"expected one timestamp column besides the inputs {names}; the file has {header}")
    return others[0]
