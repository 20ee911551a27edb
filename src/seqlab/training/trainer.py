"""The state one fit carries: where the loop is (:class:`LoopState`) and the pieces an
update and a checkpoint need (:class:`Trainer`), with the checkpoint's save and restore.

A checkpoint (checkpoints/last.safetensors, see :mod:`seqlab.training.checkpoint`) holds
the model, optimizer, scheduler, random states, the loop's place and the length of
metrics.jsonl then, so a resumed run continues exactly where the killed one stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from seqlab import config as recipes
from seqlab.config import Config
from seqlab.errors import ConfigError, TrainingError
from seqlab.training import checkpoint
from seqlab.training.distributed import Distributed
from seqlab.training.passes import EpochBatches
from seqlab.training.records import MetricsLog


@dataclass
class LoopState:
    """Where the loop is: everything besides tensors that a checkpoint must carry."""

    epoch: int = 1  # the epoch under way (1-based); epochs + 1 once all are done
    step: int = 0  # updates done in the whole run
    batch: int = 0  # batches done in the epoch under way
    loss_sum: float = 0.0  # sum of loss * tokens over the epoch's batches so far
    tokens: int = 0  # tokens in the epoch's batches so far
    window_loss_sum: float = 0.0  # likewise since the last step record
    window_tokens: int = 0
    seconds: float = 0.0  # time spent on the epoch's batches so far (validation not included)
    best: float | None = None  # best value of the monitor so far
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the monitor last improved
    stopped: bool = False  # early stopping fired
    elapsed: float = 0.0  # wall seconds of training and validation in the whole run (train.max_minutes counts them)
    out_of_time: bool = False  # train.max_minutes ran out with epochs or batches still to go
    history: list[dict[str, Any]] = field(default_factory=list)  # the epoch records


class RunClock:
    """Wall seconds of a run's training and validation, counted on across resumes, and
    ``train.max_minutes`` in seconds (``limit``; None: no limit). ``agreed``: the time the loop
    read at the last update, the same in every process under torchrun (process 0's): what a
    schedule that follows the time reads, so every process steps with one lr."""

    def __init__(self, max_minutes: float | None = None) -> None:
        self.limit = None if max_minutes is None else 60.0 * max_minutes
        self.began = perf_counter()  # when the run's elapsed time was 0
        self.agreed = 0.0

    def share(self, seconds: float) -> float:
        """``seconds`` as a share of the limit, 1 or more once it is reached; 0 without a limit."""
        return 0.0 if self.limit is None else seconds / self.limit

    def restart(self, elapsed: float) -> None:
        """Go on from ``elapsed`` seconds already spent."""
        self.began, self.agreed = perf_counter() - elapsed, elapsed

    def elapsed(self) -> float:
        return perf_counter() - self.began


@dataclass
class Trainer:
    """The pieces one update and one checkpoint need, gathered so helpers take one argument."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # LambdaLR or ReduceLROnPlateau
    generator: torch.Generator  # shuffling only; init and dropout use the global seed
    cfg: Config
    run_dir: Path
    recipe: str
    log: MetricsLog
    shuffle_state: torch.Tensor = field(default_factory=lambda: torch.empty(0))  # generator state at epoch start
    epoch_batches: EpochBatches | None = None  # the task's own batches of a pass; None: shuffled, collated examples
    dist: Distributed | None = None  # under torchrun: this process's place (see seqlab.training.distributed)
    loss: Callable[[Any], torch.Tensor] | None = None  # under torchrun: model.loss behind DDP; None: model.loss
    lengths: list[int] | None = None  # train.bucket: each training example's length; None: plain shuffled batches
    length: Callable[[Any], int] | None = None  # train.bucket: the task's example -> length, for evaluation passes
    ema: AveragedModel | None = None  # train.ema_decay: the moving average of the weights; None: off
    timer: RunClock = field(default_factory=RunClock)  # the run's wall time (train.max_minutes)

    def start_clock(self, state: LoopState) -> None:
        """Count the run's time on from ``state.elapsed`` (a resumed run: the time spent before it stopped)."""
        self.timer.restart(state.elapsed)

    def clock(self, state: LoopState) -> float:
        """Bring ``state.elapsed`` up to now; returns it."""
        state.elapsed = self.timer.elapsed()
        return state.elapsed

    @property
    def scored(self) -> nn.Module:
        """The weights that are validated and kept as the best: the moving average if there is one."""
        return self.model if self.ema is None else self.ema.module

    @property
    def last(self) -> Path:
        return self.run_dir / checkpoint.FOLDER / checkpoint.LAST

    @property
    def writes(self) -> bool:
        """Whether this process writes the run dir (always, but for torchrun processes other than 0)."""
        return self.dist is None or self.dist.is_main

    def save(self, state: LoopState) -> None:
        """Write the whole training state to checkpoints/last.safetensors, atomically."""
        bad = [name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingError(f"weights became non-finite ({bad[0]}) by epoch {state.epoch}, step {state.step}; "
                                f"stopped; the last good checkpoint is kept: {self.last}")
        rng = {"torch": torch.get_rng_state(), "shuffle": self.shuffle_state}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        config_dict = recipes.to_dict(self.cfg)
        carried = getattr(self.model, "carried_state", None)  # optional: state carried from batch to batch (lm)
        carried = carried() if carried is not None else {}
        ranks = []  # under torchrun: each process's own rng and carried state, process 0's also at the top
        if self.dist is not None:
            ranks = self.dist.gather({"rng": rng, "carried": {k: v.cpu() for k, v in carried.items()}})
        if not self.writes:
            return
        checkpoint.save(self.last, {
            "recipe": self.recipe, "config": config_dict, "config_sha256": checkpoint.config_hash(config_dict),
            "metrics_bytes": self.log.size(), "loop": asdict(state), "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "rng": rng,
            "carried": carried, "processes": len(ranks) or 1, "ranks": ranks,
            "ema": {} if self.ema is None else self.ema.state_dict()})

    def restore(self, saved: Mapping[str, Any]) -> LoopState:
        """Load a checkpoint's state into the pieces; cut metrics.jsonl back to its length then."""
        processes = 1 if self.dist is None else self.dist.world_size
        if saved.get("processes", 1) != processes:  # absent from checkpoints written before torchrun runs
            raise ConfigError(f"resume: {self.last} was written by a run of {saved['processes']} processes "
                              f"(torchrun); this one has {processes}; resume it with the same number")
        if self.dist is not None:  # this process's own random and carried state
            saved = {**saved, **saved["ranks"][self.dist.rank]}
        self.model.load_state_dict(saved["model"])
        if saved.get("carried"):  # absent from checkpoints written before models could carry state
            self.model.load_carried_state(saved["carried"])
        if self.ema is not None:
            self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
        self.shuffle_state = saved["rng"]["shuffle"]
        self.generator.set_state(self.shuffle_state)
        if self.writes:
            self.log.truncate(saved["metrics_bytes"])
        return LoopState(**saved["loop"])
