"""Forecasting data: a table of readings -> chronological split -> z-normalized windows.

Windows follow Keras's ``timeseries_dataset_from_array`` (``sequence_length`` = lookback,
``sequence_stride`` = stride, ``sampling_rate`` = r). A window whose first row is s reads

    inputs   rows s, s + r, ..., s + (L - 1) r                      x (L, C)  every input column
    targets  rows s + (L - 1) r + h r  for h = 1..H  (output sequence)  y (H, T)  the target columns
             or h = H only                          (output step)      y (1, T)

Splits are row ranges in time order. A split's windows are those whose input and target
rows lie in ``[start - L r, stop)`` with ``start`` the split's first row for valid and test
(their first forecast is the split's first row, read from the rows just before it, as in
the Informer/Autoformer loaders), and ``[0, stop)`` for train:

- ``forecast.split: ett`` is Informer's split of the hourly ETT tables (Zhou et al. 2021,
  ``data/data_loader.py``, ``Dataset_ETT_hour``: ``border1s = [0, 12*30*24 - seq_len,
  12*30*24 + 4*30*24 - seq_len]``, ``border2s = [12*30*24, 12*30*24 + 4*30*24, 12*30*24 +
  8*30*24]``): train rows [0, 8640), valid [8640, 11520), test [11520, 14400); later rows unused.
- ``fractions``: the first ``int(n (1 - data.valid_fraction - data.test_fraction))`` rows
  train, the next ``int(n data.valid_fraction)`` validate, the rest test (Chollet's Jena
  split: 50% / 25% / 25%).

Normalization (z-score per input column) is fitted on the training rows only, as
Informer's ``StandardScaler`` is; a constant column gets std 1 (it becomes all zeros, never
a division by zero). Missing cells: ``forecast.missing: error`` refuses them naming file,
line and column; ``ffill`` forward-fills each column from its last reading (a leading gap
from the first reading) and the number filled is reported.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import torch
from torch import Tensor

from seqlab.config import Config
from seqlab.data import registry, sources
from seqlab.errors import ConfigError, DataError

FILE = "forecast.json"  # what a bundle needs besides the weights: columns, normalization, time step
# Informer's 12 / 4 / 4 months of 30 days x 24 hourly rows (see the module docstring).
ETT_ROWS = {"train": (0, 8640), "valid": (8640, 11520), "test": (11520, 14400)}


@dataclass
class Columns:
    """The columns a run reads and forecasts, their training mean and std, and the time step."""

    names: list[str]  # input columns, in order
    targets: list[str]  # forecast columns, each among names
    mean: list[float]  # per input column, over the training rows
    std: list[float]  # likewise; 1.0 for a constant column
    step_seconds: float  # the most common time between consecutive rows
    first_time: str | None = None  # the series' first timestamp (ISO 8601): row 0 of a learned cycle

    @property
    def target_index(self) -> list[int]:
        return [self.names.index(name) for name in self.targets]

    @property
    def num_inputs(self) -> int:
        return len(self.names)

    @property
    def num_targets(self) -> int:
        return len(self.targets)

    def normalize(self, rows: Tensor) -> Tensor:
        """(N, C) readings -> (N, C) z-scores, float32."""
        mean = torch.tensor(self.mean, dtype=torch.float64)
        std = torch.tensor(self.std, dtype=torch.float64)
        return ((rows.double() - mean) / std).float()

    def denormalize_targets(self, z: Tensor) -> Tensor:
        """(..., T) z-scores of the target columns -> readings in their original units."""
        index = self.target_index
        mean = torch.tensor([self.mean[i] for i in index], dtype=z.dtype, device=z.device)
        std = torch.tensor([self.std[i] for i in index], dtype=z.dtype, device=z.device)
        return z * std + mean

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Columns:
        if not path.is_file():
            raise DataError(f"{path} is missing; a forecast run dir keeps its columns and normalization there")
        return cls(**json.loads(path.read_text(encoding="utf-8")))


@dataclass
class Windows:
    """One split's windows as views into its normalized rows (see the module docstring).

    ``examples[i]`` is ``(x (L, C), y (H', T), s)`` with s the window's first row (counted in
    the whole series: a learned cycle is indexed by it); ``starts`` the first row of each window,
    counted in the whole series; ``z`` (N, C) the split's rows and ``first_row`` the row
    of the series where they begin."""

    z: Tensor
    first_row: int
    starts: list[int]
    examples: list[tuple[Tensor, Tensor]] = field(repr=False)

    def stacked(self, lo: int = 0, hi: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Windows lo..hi as one batch: x (n, L, C), y (n, H', T) (copies), first rows (n,)."""
        chunk = self.examples[lo:hi]
        return (torch.stack([x for x, _, _ in chunk]), torch.stack([y for _, y, _ in chunk]),
                torch.tensor([s for _, _, s in chunk], dtype=torch.long))


@dataclass
class ForecastData:
    """What load_data gives the loop: the three splits' windows and the columns."""

    columns: Columns
    windows: dict[str, Windows]  # train, valid, test
    timestamps: list  # datetime of every row of the series (for plots and the summary)
    lookback: int
    out_steps: int  # H (output sequence) or 1 (output step)
    filled: int = 0  # cells forward-filled (forecast.missing: ffill)
    baselines: dict = field(default_factory=dict)  # test metrics of each baseline, once computed

    @property
    def train(self) -> list[tuple[Tensor, Tensor]]:
        return self.windows["train"].examples

    @property
    def valid(self) -> list[tuple[Tensor, Tensor]]:
        return self.windows["valid"].examples

    @property
    def test(self) -> list[tuple[Tensor, Tensor]]:
        return self.windows["test"].examples

    @property
    def num_inputs(self) -> int:
        return self.columns.num_inputs

    @property
    def num_targets(self) -> int:
        return self.columns.num_targets

    def save(self, run_dir: Path) -> None:
        self.columns.save(Path(run_dir) / FILE)


# -- reading ---------------------------------------------------------------------------


def read_series(cfg: Config) -> sources.TimeSeries:
    """The whole table: a registry dataset (data.name, forecast.table) or data.train."""
    d, f = cfg.data, cfg.forecast
    if d.name is not None:
        dataset = registry.get(d.name)
        if dataset.task != "forecast":
            raise ConfigError(f"data.name: {d.name!r} is a {dataset.task} dataset; task 'forecast' reads "
                              f"{', '.join(n for n, s in registry.DATASETS.items() if s.task == 'forecast')}")
        tables = sorted({s.split("/")[0] for s in dataset.splits if "/" in s})
        if tables and f.table not in tables:
            raise ConfigError(f"forecast.table: dataset {d.name!r} has the tables {', '.join(tables)}; got {f.table!r}")
        if not tables and f.table is not None:
            raise ConfigError(f"forecast.table: dataset {d.name!r} has one table; expected null, got {f.table!r}")
        return registry.load(d.name, f"{f.table}/all" if tables else "all")
    if d.train is None:
        raise ConfigError("data.train: task 'forecast' with data.name null reads a timeseries-csv file; got null")
    if d.format != "timeseries-csv":
        raise ConfigError(f"data.format: task 'forecast' reads timeseries-csv files; got {d.format!r}")
    if d.valid is not None or d.test is not None:
        raise ConfigError("data.valid/data.test: task 'forecast' splits its one series in time order "
                          "(forecast.split); expected null")
    return sources.read_timeseries(d.train, f.time_column, missing=f.missing)


def pick_columns(series: sources.TimeSeries, cfg: Config, source: str) -> tuple[list[str], list[str]]:
    """forecast.features and forecast.targets as column names, checked against the table."""
    f = cfg.forecast
    names = _names(f.features, series.names, "forecast.features", source) if f.features else list(series.names)
    if f.targets.strip() == "all":
        return names, list(names)
    targets = _names(f.targets, series.names, "forecast.targets", source)
    outside = [name for name in targets if name not in names]
    if outside:
        raise ConfigError(f"forecast.targets: {outside} are not among the inputs (forecast.features: {names}); "
                          "a forecast target must also be read")
    return names, targets


def _names(text: str, columns: list[str], key: str, source: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{key}: expected comma-separated column names, got {text!r}")
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise ConfigError(f"{key}: no column {unknown[0]!r} in {source}; the columns are {columns}")
    return names


def time_step(timestamps: list) -> float:
    """The most common difference between consecutive timestamps, in seconds (0 for one row)."""
    if len(timestamps) < 2:
        return 0.0
    gaps = Counter((b - a).total_seconds() for a, b in zip(timestamps, timestamps[1:]))
    return gaps.most_common(1)[0][0]


def step_delta(step_seconds: float) -> timedelta:
    return timedelta(seconds=step_seconds)


# -- splitting and windows ---------------------------------------------------------------


def split_rows(n: int, cfg: Config) -> dict[str, tuple[int, int]]:
    """Each split's rows [start, stop) of an n-row series (see the module docstring)."""
    if cfg.forecast.split == "ett":
        if n < ETT_ROWS["test"][1]:
            raise DataError(f"forecast.split: ett needs {ETT_ROWS['test'][1]} hourly rows (12 + 4 + 4 months); "
                            f"the series has {n}")
        return dict(ETT_ROWS)
    n_train = int(n * (1.0 - cfg.data.valid_fraction - cfg.data.test_fraction))
    n_valid = int(n * cfg.data.valid_fraction)
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n)}


def window_starts(first: int, stop: int, lookback: int, horizon: int, rate: int, stride: int) -> list[int]:
    """First rows of the windows in rows [first, stop): first, first + stride, ... while the
    last target row s + (lookback - 1 + horizon) * rate is below stop."""
    span = (lookback - 1 + horizon) * rate  # rows from a window's first input to its last target
    return list(range(first, stop - span, stride))


def make_windows(z: Tensor, first_row: int, starts: list[int], target_index: list[int], lookback: int,
                 horizon: int, rate: int, out_steps: int) -> Windows:
    """Windows as views into ``z`` (N, C), the normalized rows from series row ``first_row``."""
    zt = z[:, target_index].contiguous()  # (N, T): targets sliced once, so each y is a view
    examples = []
    for s in starts:
        i = s - first_row
        last = i + (lookback - 1) * rate
        x = z[i:last + 1:rate]  # (L, C)
        if out_steps == 1:
            y = zt[last + horizon * rate:last + horizon * rate + 1]  # (1, T)
        else:
            y = zt[last + rate:last + horizon * rate + 1:rate]  # (H, T)
        examples.append((x, y, s))
    return Windows(z, first_row, starts, examples)


def load_data(cfg: Config) -> ForecastData:
    """Read, split, normalize on the training rows, and cut each split into windows."""
    f = cfg.forecast
    series = read_series(cfg)
    source = cfg.data.name or cfg.data.train
    names, targets = pick_columns(series, cfg, source)
    index = [series.names.index(name) for name in names]
    rows = torch.tensor(series.rows, dtype=torch.float64)[:, index]  # (N, C)
    bounds = split_rows(len(rows), cfg)
    train_rows = rows[bounds["train"][0]:bounds["train"][1]]
    if len(train_rows) == 0:
        raise DataError(f"{source}: the training part has no rows (series of {len(rows)} rows)")
    mean, std = train_rows.mean(0), train_rows.std(0, unbiased=False)
    std = torch.where(std > 1e-12 * mean.abs().clamp(min=1.0), std, torch.ones_like(std))  # constant: std 1
    columns = Columns(names, targets, mean.tolist(), std.tolist(), time_step(series.timestamps),
                      series.timestamps[0].isoformat(sep=" "))
    z = columns.normalize(rows)
    out_steps = f.horizon if f.output == "sequence" else 1
    span_in = f.lookback * f.sampling_rate  # rows before a valid/test split's first forecast row
    windows = {}
    for name, (start, stop) in bounds.items():
        first = start if name == "train" else max(start - span_in, 0)
        starts = window_starts(first, stop, f.lookback, f.horizon, f.sampling_rate, f.stride)
        if not starts:
            need = (f.lookback - 1 + f.horizon) * f.sampling_rate + 1
            raise DataError(
                f"{source}: the {name} part (rows {first}..{stop - 1}, {stop - first} rows) is shorter than one "
                f"window: forecast.lookback {f.lookback} + forecast.horizon {f.horizon} steps at "
                f"forecast.sampling_rate {f.sampling_rate} need {need} rows")
        windows[name] = make_windows(z[first:stop], first, starts, columns.target_index, f.lookback, f.horizon,
                                     f.sampling_rate, out_steps)
    return ForecastData(columns, windows, series.timestamps, f.lookback, out_steps, series.filled)
