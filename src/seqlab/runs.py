"""The run dirs under a folder, as `seqlab runs` lists them: finished or not, newest first.

A run dir is a folder holding config.yaml (written first, when a run starts); it is
finished once summary.json is there (written last). Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import DataError

CONFIG = "config.yaml"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunInfo:
    """One run dir as `seqlab runs` shows it; the summary fields are None for an unfinished run."""

    path: Path
    task: str | None
    recipe: str | None
    started: float  # mtime of config.yaml, written first: when the run began (seconds since the epoch)
    finished: bool
    best_epoch: int | None = None
    metric: str | None = None  # the headline metric's name, on test
    value: float | None = None
    wall_time_s: float | None = None
    stopped: str | None = None  # why a finished run ended before its last epoch: early stopping, or the time limit

    @property
    def status(self) -> str:
        """finished, finished (<why it stopped>), or unfinished."""
        return "unfinished" if not self.finished else "finished" if self.stopped is None else f"finished ({self.stopped})"


def read_summary(run_dir: str | Path) -> dict | None:
    """The run's summary.json as a dict; None when it is absent or unreadable (an unfinished run)."""
    try:
        summary = json.loads((Path(run_dir) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def list_runs(folder: str | Path = "runs") -> list[RunInfo]:
    """Every run dir (a folder with config.yaml) directly under ``folder``, newest first."""
    import yaml

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of runs")
    runs = []
    for run_dir in (p for p in folder.iterdir() if (p / CONFIG).is_file()):
        try:
            raw = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            raw = None
        task = raw.get("task") if isinstance(raw, dict) else None
        started = (run_dir / CONFIG).stat().st_mtime
        try:
            summary = read_summary(run_dir)
            headline = summary["headline"]
            stopped = ("time limit" if summary.get("time_limit_reached") else
                       "stopped early" if summary.get("stopped_early") else None)
            runs.append(RunInfo(run_dir, summary.get("task", task), summary.get("recipe"), started, True,
                                summary["best"]["epoch"], headline["metric"], headline["value"],
                                summary.get("wall_time_s"), stopped))
        except (OSError, ValueError, KeyError, TypeError):  # no (readable) summary: not finished
            runs.append(RunInfo(run_dir, task, None, started, False))
    return sorted(runs, key=lambda run: (run.started, run.path.name), reverse=True)
