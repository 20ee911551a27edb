"""Learning-rate schedules and the monitored validation metric (best epoch, early stop).

``train.schedule``:

- ``constant``: ``train.lr`` throughout;
- ``warmup_cosine``: linear warmup over W steps, then a half cosine from ``lr`` down to
  ``lr * min_lr_ratio`` at the last step: for step s (0-based, counting updates)

      factor(s) = (s + 1) / W                                   for s < W
      factor(s) = r + (1 - r) * (1 + cos(pi * (s - W) / (S - W))) / 2   otherwise

  with S the total number of updates and r = ``min_lr_ratio`` (torch's LambdaLR, stepped
  after every update). With ``train.max_minutes`` the cosine's progress is the larger of
  (s - W) / (S - W) and the share of the time limit spent, so a run that the limit stops
  ends at ``lr * min_lr_ratio`` too (the schedule of a budget: Li et al. 2020, "Budgeted
  training"); a limit never reached changes nothing;
- ``plateau``: torch's ReduceLROnPlateau on ``train.monitor``, stepped after each epoch's
  validation: the lr is multiplied by ``plateau_factor`` after ``plateau_patience`` epochs
  without improvement, never below ``lr * min_lr_ratio``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from seqlab.config import TrainConfig, did_you_mean
from seqlab.errors import ConfigError

LOWER_IS_BETTER = ("loss", "perplexity", "error", "mae", "mse", "rmse", "cer", "wer")  # name parts: mode auto -> min


def build_scheduler(optimizer: torch.optim.Optimizer, t: TrainConfig, total_steps: int, mode: str,
                    spent: Callable[[], float] | None = None) -> LRScheduler | ReduceLROnPlateau:
    """The scheduler ``t.schedule`` names; ``mode`` ("min" or "max") is the monitor's, for plateau.
    ``spent``: the share of ``train.max_minutes`` used so far (warmup_cosine follows it too)."""
    if t.schedule == "plateau":
        return ReduceLROnPlateau(optimizer, mode=mode, factor=t.plateau_factor, patience=t.plateau_patience,
                                 min_lr=t.lr * t.min_lr_ratio)
    if t.schedule == "warmup_cosine":
        warmup = t.warmup_steps or math.ceil(t.warmup_fraction * total_steps)
        cosine = WarmupCosine(warmup, total_steps, t.min_lr_ratio)
        if spent is None:
            return LambdaLR(optimizer, cosine)
        # a plain function: LambdaLR's state dict (checkpointed as JSON) keeps no function
        return LambdaLR(optimizer, lambda step: cosine(step, spent()))
    return LambdaLR(optimizer, constant)


def constant(step: int) -> float:
    return 1.0


class WarmupCosine:
    """The warmup_cosine factor (module docstring) as a function of the 0-based step and
    ``spent``, the share of a time limit used so far, which the cosine's progress follows
    when it is ahead of the steps."""

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio

    def __call__(self, step: int, spent: float = 0.0) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, max((step - self.warmup) / max(1, self.total - self.warmup), spent))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def monitor_name(t: TrainConfig, headline: str) -> str:
    """``train.monitor``, or ``valid_<headline>`` when it is null."""
    return t.monitor if t.monitor is not None else f"valid_{headline}"


def monitor_mode(t: TrainConfig, monitor: str) -> str:
    """``train.mode``, with auto resolved: "min" when a part of the name is loss-like, else "max"."""
    if t.mode != "auto":
        return t.mode
    return "min" if any(part in LOWER_IS_BETTER for part in monitor.split("_")) else "max"


def check_monitor(monitor: str, available: Iterable[str], explicit: bool) -> None:
    """A ConfigError naming train.monitor unless the validation produces ``monitor``."""
    available = list(available)
    if monitor not in available:
        source = "train.monitor" if explicit else "train.monitor (null: the task's headline)"
        raise ConfigError(f"{source}: {monitor!r} is not a validation metric of this task; "
                          f"available: {', '.join(available)}{did_you_mean(monitor, available)}")


def improved(value: float, best: float | None, mode: str) -> bool:
    """Is ``value`` strictly better than ``best`` (None: nothing yet)? NaN never is."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best
