"""What a run tells as it goes: metrics.jsonl, plots/curves.png, TensorBoard, the progress bar.

metrics.jsonl has two kinds of line, told apart by ``kind``:

    {"kind": "step", "epoch": 1, "step": 10, "train_loss": ..., "lr": ..., "tokens_per_s": ...}
        every ``train.log_every`` updates; train_loss is the mean loss per token over the
        updates since the previous step line, lr the learning rate they used;
    {"kind": "epoch", "epoch": 1, "step": 63, "train_loss": ..., "lr": ..., "valid_loss": ..., ...}
        after each epoch's validation; train_loss is the epoch's mean loss per token, train_s
        the seconds its batches took (validation not included) and train_tokens_per_s their pace.

Everything but the keys in :data:`TIMING_KEYS` is the same, bit for bit, for the same
config on the CPU; :func:`without_timings` drops those keys for comparing runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from seqlab.errors import ConfigError

# keys that vary from run to run of the same config: step records' throughput, epoch records' training
# time (the epoch's batches, validation not included; a resumed epoch adds its time up to the checkpoint
# it resumed from) and throughput
TIMING_KEYS = ("tokens_per_s", "train_s", "train_tokens_per_s")


class MetricsLog:
    """Appends records to metrics.jsonl and can cut it back to an earlier length (resume)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    def size(self) -> int:
        """Bytes written so far (a checkpoint stores it, so resume can drop later lines)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Drop everything after the first ``size`` bytes: lines a killed run wrote after its checkpoint."""
        with open(self.path, "r+b" if self.path.exists() else "w+b") as file:
            file.truncate(size)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]


def without_timings(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records with :data:`TIMING_KEYS` removed: what must match between runs of one config."""
    return [{key: value for key, value in record.items() if key not in TIMING_KEYS} for record in records]


def plot_curves(records: list[dict[str, Any]], monitor: str, path: Path) -> str | None:
    """Write the training loss per step line and ``monitor`` per epoch to ``path`` (PNG).

    Returns a one-line note instead when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        return "plots/curves.png skipped: matplotlib is not installed (pip install matplotlib)"
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["step"] for r in steps], [r["train_loss"] for r in steps], label="train loss (per logged step)")
    left.plot([r["step"] for r in epochs], [r["train_loss"] for r in epochs], "o-", label="train loss (epoch mean)")
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.legend()
    right.plot([r["epoch"] for r in epochs], [r[monitor] for r in epochs], "o-")
    right.set_xlabel("epoch")
    right.set_ylabel(monitor)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


class TensorBoard:
    """Scalars to RUN_DIR/tensorboard when ``train.tensorboard`` is true; otherwise does nothing."""

    def __init__(self, enabled: bool, log_dir: Path) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard: true needs the tensorboard package (pip install tensorboard), "
                              "which is not installed; install it or set train.tensorboard=false") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, record: Mapping[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in record.items():
            if key not in ("kind", "epoch", "step") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def progress_bar(console: Console) -> Progress:
    """epoch, bar, steps done/total, running loss, tokens/s, elapsed and ETA (on stderr)."""
    return Progress(
        TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:,.0f} tok/s"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console)
