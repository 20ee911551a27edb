"""Forecasting baselines, the run's comparison with them, and its plots.

Every forecast run scores three baselines on the same test windows as the model, in the
same normalized space (a forecast of y (H', T) from a window x (L, C); T the target channels):

- ``last_value``: every step repeats the window's last reading (Chollet's "common-sense"
  baseline): y_hat[h] = x[L - 1].
- ``seasonal_naive``: the reading one period p earlier (Hyndman & Athanasopoulos,
  *Forecasting: Principles and Practice*, 3rd ed., section 5.2): y_hat[h] = x[L - p + ((h - 1) mod p)]
  for step h = 1..H (0-based rows of the window; p = ``forecast.period`` <= L).
- ``linear``: one map from a channel's L steps to its H' steps, shared by the target
  channels, fitted in closed form on the training windows (ridge regression with penalty
  lambda = ``forecast.ridge`` on every weight, bias included):
  [W; b] = (A^T A + lambda I)^-1 A^T Y, with A the (windows * T, L + 1) inputs and a ones column.

summary.json gets each baseline's ``mse``, ``mae`` and ``mae_orig`` and, under
``vs_baselines``, how much lower the model's test MSE is than each (as a fraction of the
baseline's), or that it is not lower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqlab.config import Config
from seqlab.tasks.forecast_data import ForecastData, Windows

BASELINES = ("last_value", "seasonal_naive", "linear")
LABELS = {"last_value": "repeat last value", "seasonal_naive": "seasonal naive", "linear": "linear (ridge)"}
CHUNK = 1024  # windows per piece when fitting and scoring (bounds memory for long horizons)


def forecast_steps(cfg: Config) -> list[int]:
    """The steps h (1-based) the outputs stand for: 1..H, or H alone."""
    f = cfg.forecast
    return list(range(1, f.horizon + 1)) if f.output == "sequence" else [f.horizon]


def last_value(x: Tensor, target_index: list[int], steps: list[int]) -> Tensor:
    """x (n, L, C) -> (n, H', T): the last reading of each target channel, at every step."""
    return x[:, -1:, target_index].expand(-1, len(steps), -1)


def seasonal_naive(x: Tensor, target_index: list[int], steps: list[int], period: int) -> Tensor:
    """x (n, L, C) -> (n, H', T): each step's reading one period p before (see the module docstring)."""
    lookback = x.shape[1]
    rows = [lookback - period + (h - 1) % period for h in steps]
    return x[:, rows][..., target_index]


class RidgeBaseline:
    """The closed-form linear baseline (see the module docstring): fit, then predict."""

    def __init__(self, windows: Windows, target_index: list[int], ridge: float) -> None:
        lookback = windows.examples[0][0].shape[0]
        out_steps = windows.examples[0][1].shape[0]
        gram = torch.zeros(lookback + 1, lookback + 1, dtype=torch.float64)
        cross = torch.zeros(lookback + 1, out_steps, dtype=torch.float64)
        for lo in range(0, len(windows.examples), CHUNK):
            x, y, _ = windows.stacked(lo, lo + CHUNK)
            a = self._inputs(x, target_index)  # (n * T, L + 1)
            gram += a.T @ a
            cross += a.T @ y.double().transpose(1, 2).reshape(-1, out_steps)
        self.weight = torch.linalg.solve(gram + ridge * torch.eye(lookback + 1, dtype=torch.float64), cross)
        self.target_index = target_index

    @staticmethod
    def _inputs(x: Tensor, target_index: list[int]) -> Tensor:
        channels = x[..., target_index].double().transpose(1, 2).reshape(-1, x.shape[1])  # (n * T, L)
        return torch.cat([channels, torch.ones(len(channels), 1, dtype=torch.float64)], dim=1)

    def __call__(self, x: Tensor) -> Tensor:
        """x (n, L, C) -> (n, H', T)."""
        out = self._inputs(x, self.target_index) @ self.weight  # (n * T, H')
        return out.view(x.shape[0], len(self.target_index), -1).transpose(1, 2).float()


class ErrorSums:
    """Running sums of a forecaster's errors: overall mse/mae/mae_orig and mse per step."""

    def __init__(self, out_steps: int, target_std: Tensor) -> None:
        self.sq, self.abs, self.abs_orig, self.count = 0.0, 0.0, 0.0, 0
        self.per_step = torch.zeros(out_steps, dtype=torch.float64)
        self.per_step_count = 0
        self.target_std = target_std

    def add(self, pred: Tensor, y: Tensor) -> None:
        error = (pred.float() - y.float()).double()  # (n, H', T)
        self.sq += float((error ** 2).sum())
        self.abs += float(error.abs().sum())
        self.abs_orig += float((error.abs() * self.target_std).sum())
        self.count += error.numel()
        self.per_step += (error ** 2).sum(dim=(0, 2))
        self.per_step_count += error.shape[0] * error.shape[2]

    def metrics(self) -> dict[str, float]:
        return {"mse": self.sq / self.count, "mae": self.abs / self.count, "mae_orig": self.abs_orig / self.count}

    def mse_by_step(self) -> list[float]:
        return (self.per_step / self.per_step_count).tolist()


def score_test(model: torch.nn.Module | None, data: ForecastData, cfg: Config, device: torch.device | None = None,
               ridge: RidgeBaseline | None = None) -> dict[str, ErrorSums]:
    """Errors on the test windows of the three baselines and (if given) the model."""
    f = cfg.forecast
    index, steps = data.columns.target_index, forecast_steps(cfg)
    std = torch.tensor([data.columns.std[i] for i in index], dtype=torch.float64)
    ridge = ridge or RidgeBaseline(data.windows["train"], index, f.ridge)
    forecasters = {"last_value": lambda x: last_value(x, index, steps),
                   "seasonal_naive": lambda x: seasonal_naive(x, index, steps, f.period), "linear": ridge}
    if model is not None:
        model.eval()
        forecasters["model"] = lambda x, start: model.predict_windows(x, device, start)
    sums = {name: ErrorSums(len(steps), std) for name in forecasters}
    test = data.windows["test"]
    for lo in range(0, len(test.examples), CHUNK):
        x, y, start = test.stacked(lo, lo + CHUNK)
        for name, forecaster in forecasters.items():
            sums[name].add(forecaster(x, start) if name == "model" else forecaster(x), y)
    return sums


def baseline_metrics(data: ForecastData, cfg: Config) -> dict[str, dict[str, float]]:
    """Each baseline's test mse, mae and mae_orig (computed once per data object)."""
    if not data.baselines:
        sums = score_test(None, data, cfg)
        data.baselines.update({name: sums[name].metrics() for name in BASELINES})
    return data.baselines


def comparison(model_mse: float, baselines: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """For each baseline: its MSE, the model's, the fraction by which the model's is lower, and whether it is."""
    return {name: {"baseline_mse": b["mse"], "model_mse": model_mse,
                   "mse_reduction": (b["mse"] - model_mse) / b["mse"] if b["mse"] > 0 else 0.0,
                   "beats": model_mse < b["mse"]}
            for name, b in baselines.items()}


def summary(data: ForecastData, cfg: Config, test: dict[str, float]) -> dict[str, Any]:
    """summary.json's forecast entries: the setting, the baselines, and the model against them."""
    f = cfg.forecast
    baselines = baseline_metrics(data, cfg)
    return {"forecast": {"lookback": f.lookback, "horizon": f.horizon, "output": f.output,
                         "sampling_rate": f.sampling_rate, "targets": data.columns.targets,
                         "inputs": data.columns.names, "test_windows": len(data.test),
                         "cells_filled": data.filled},
            "baselines": baselines, "vs_baselines": comparison(test["mse"], baselines)}


def verdict(model_mse: float, baselines: dict[str, dict[str, float]], period: int) -> list[str]:
    """One line per baseline: by how much the model's test MSE is lower, or that it is not."""
    lines = []
    for name, c in comparison(model_mse, baselines).items():
        label = LABELS[name] + (f" (period {period})" if name == "seasonal_naive" else "")
        if c["beats"]:
            lines.append(f"beats {label}: test MSE {100 * c['mse_reduction']:.1f}% lower")
        else:
            lines.append(f"does NOT beat {label}: test MSE {c['model_mse']:.4f} vs {c['baseline_mse']:.4f}")
    return lines


def report(model: torch.nn.Module, data: ForecastData, cfg: Config, run_dir: Path, device: torch.device) -> str:
    """After the test evaluation: the table of model vs baselines, plots/forecast.png and
    (for multi-step outputs) plots/error-by-step.png."""
    ridge = RidgeBaseline(data.windows["train"], data.columns.target_index, cfg.forecast.ridge)
    sums = score_test(model, data, cfg, device, ridge)
    data.baselines.update({name: sums[name].metrics() for name in BASELINES})
    rows = [("model (" + cfg.model.encoder + ")", sums["model"].metrics())]
    rows += [(LABELS[name], sums[name].metrics()) for name in BASELINES]
    head = (f"test: {len(data.test)} windows, {data.out_steps} step(s) x {data.num_targets} target(s) "
            f"({', '.join(data.columns.targets)})")
    lines = [head, f"{'':<26}{'mse':>10}{'mae':>10}{'mae (units)':>14}"]
    lines += [f"{label:<26}{m['mse']:>10.4f}{m['mae']:>10.4f}{m['mae_orig']:>14.4f}" for label, m in rows]
    lines += ["the model " + line for line in verdict(sums["model"].metrics()["mse"], data.baselines,
                                                        cfg.forecast.period)]
    plot_forecast(model, data, cfg, ridge, run_dir / "plots" / "forecast.png", device)
    if data.out_steps > 1:
        plot_error_by_step({"model": sums["model"].mse_by_step(),
                            **{LABELS[n]: sums[n].mse_by_step() for n in BASELINES}},
                           run_dir / "plots" / "error-by-step.png")
    return "\n".join(lines)


def plot_forecast(model: torch.nn.Module, data: ForecastData, cfg: Config, ridge: RidgeBaseline, path: Path,
                  device: torch.device | None = None) -> None:
    """Prediction vs truth over a stretch of the test split, for the last target (ETT's OT
    comes last), in its units: consecutive non-overlapping forecasts (4 windows H steps apart; one-step
    outputs: 200 consecutive windows), with the linear and last-value baselines."""
    from matplotlib.figure import Figure

    f, test, columns = cfg.forecast, data.windows["test"], data.columns
    out_steps = data.out_steps
    gap = max(1, out_steps * f.sampling_rate // f.stride) if out_steps > 1 else 1
    picks = list(range(0, len(test.examples), gap))[:4 if out_steps > 1 else 200]
    x = torch.stack([test.examples[i][0] for i in picks])
    y = torch.stack([test.examples[i][1] for i in picks])
    start = torch.tensor([test.examples[i][2] for i in picks])
    curves = {"truth": y, "model": model.predict_windows(x, device, start),
              "linear (ridge)": ridge(x), "repeat last value": last_value(x, columns.target_index,
                                                                           forecast_steps(cfg))}
    steps = forecast_steps(cfg)
    times = [data.timestamps[test.starts[i] + (f.lookback - 1 + h) * f.sampling_rate] for i in picks for h in steps]
    figure = Figure(figsize=(10, 3.8))
    axes = figure.add_subplot()
    styles = {"truth": "k-", "model": "C0-", "linear (ridge)": "C1--", "repeat last value": "C2:"}
    for name, values in curves.items():
        units = columns.denormalize_targets(values.float())[..., -1].reshape(-1)  # last target, (n * H',)
        axes.plot(times, units.numpy(), styles[name], label=name, linewidth=1.2)
    axes.set_ylabel(columns.targets[-1])
    axes.set_title(f"test forecasts of {columns.targets[-1]}: {len(picks)} window(s), horizon {f.horizon}",
                   fontsize=9)
    axes.legend(fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def plot_error_by_step(curves: dict[str, list[float]], path: Path) -> None:
    """Test MSE (normalized) at each step 1..H, one line per forecaster."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 3.8))
    axes = figure.add_subplot()
    for name, values in curves.items():
        axes.plot(range(1, len(values) + 1), values, label=name, linewidth=1.2)
    axes.set_xlabel("step ahead")
    axes.set_ylabel("test MSE (normalized)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
