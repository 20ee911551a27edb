"""The task-agnostic fit and the run dir it writes.

The loop knows a task only through ``model.loss(batch)``, ``model.metrics(batch)`` and
the table entry's ``collate`` (or its ``epoch_batches``, for tasks that order their own
batches, such as a language model's consecutive windows); see :mod:`seqlab.tasks`. A run dir holds

    config.yaml        the resolved recipe (written first, so a failed run still has it)
    metrics.jsonl      step and epoch records (see :mod:`seqlab.training.records`)
    checkpoints/       last.safetensors (the whole training state) and best.safetensors
                       (see :mod:`seqlab.training.checkpoint`)
    model.safetensors  the weights of the best epoch by ``train.monitor`` (written atomically)
    vocab.json, ...    what the task needs to decode predictions (its data's save())
    plots/curves.png   training loss per step, the monitored metric per epoch
    summary.json       test metrics (of the best weights), the best epoch, wall time, parameter count

Under ``torchrun`` the same fit runs in every process, with DDP averaging the gradients
and process 0 alone writing the run dir; see :mod:`seqlab.training.distributed`.

Runs are seeded: on the CPU the same config gives the same metrics.jsonl, bit for bit,
apart from the timing keys (``records.TIMING_KEYS``). A run killed at any point continues
with ``train(resume=RUN_DIR)`` from its last checkpoint and ends with the same
metrics.jsonl and summary test metrics as a run that was never stopped.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from safetensors.torch import load_file
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import seqlab
from seqlab import config as recipes
from seqlab.config import DEFAULT_RECIPE, Config
from seqlab.errors import ConfigError, TrainingError
from seqlab.initialize import initialize
from seqlab.tasks import get_task
from seqlab.training import checkpoint, distributed
from seqlab.training.checkpoint import write_atomic
from seqlab.training.distributed import Distributed, setup
from seqlab.training.passes import (
    BUCKET_WINDOW,
    EpochBatches,
    autocast,
    autocast_dtype,
    batch_device,
    batch_indices,
    batches,
    evaluate,
    evaluate_batches,
    resolve_device,
    trim_every,
)
from seqlab.training.records import TIMING_KEYS, MetricsLog, TensorBoard, plot_curves, progress_bar
from seqlab.training.schedule import build_scheduler, check_monitor, improved, monitor_mode, monitor_name
from seqlab.training.trainer import LoopState, RunClock, Trainer

__all__ = ["BUCKET_WINDOW", "KILL_AFTER_STEP_ENV", "EpochBatches", "autocast_dtype", "batch_device", "batch_indices",
           "batches", "evaluate", "fit", "make_run_dir", "resolve_device", "train"]

KILL_AFTER_STEP_ENV = "SEQLAB_TEST_KILL_AFTER_STEP"  # tests only: SIGKILL the run right after this step


def train(recipe: str | Path | None = None, overrides: Mapping[str, Any] | Iterable[str] = (),
          out: str | Path | None = None, resume: str | Path | None = None) -> Path:
    """Train a recipe (embedded name or YAML path; None: the default) and return its run dir.

    ``overrides``: ``{"train.epochs": 3}`` or ``["train.epochs=3"]``. ``out``: the run dir
    (created; must be empty if it exists); default ``runs/<recipe>-<YYYYmmdd-HHMMSS>/``
    under the current folder. ``resume``: a run dir to continue from its last checkpoint
    instead; the recipe then comes from its config.yaml (``recipe``/``overrides`` may only
    repeat it).
    """
    start = time.perf_counter()
    if resume is not None:
        run_dir, cfg, state = checkpoint.open_resume(Path(resume), recipe, overrides, out)
        name = state["recipe"]
    else:
        recipe = DEFAULT_RECIPE if recipe is None else recipe
        cfg, name, state = recipes.resolve(recipe, overrides), recipes.recipe_name(recipe), None
    if distributed.launched():
        distributed.check_config(cfg, get_task(cfg.task).train_fn is not None)
    dist, device = setup(resolve_device(cfg.train.device))  # under torchrun: this process's device and group
    try:
        if resume is None:  # under torchrun, process 0 makes the run dir and tells the others its name
            run_dir = _new_run_dir(cfg, name, out) if dist is None else dist.from_main(
                lambda: _new_run_dir(cfg, name, out))
        return _run(cfg, name, run_dir, state, device, dist, start)
    finally:
        if dist is not None:
            dist.close()


def _run(cfg: Config, name: str, run_dir: Path, state: Mapping[str, Any] | None, device: torch.device,
         dist: Distributed | None, start: float) -> Path:
    """:func:`train` once the run dir is there and the device (and process group) chosen."""
    task = get_task(cfg.task)
    check_bucketing(cfg, task)
    length = task.length if cfg.train.bucket else None
    headline = task.headline_for(cfg)
    dtype = autocast_dtype(cfg.train.precision, device)
    main = dist is None or dist.is_main  # only the main process writes the run dir and prints
    torch.manual_seed(cfg.seed)
    data = task.load_data(cfg) if dist is None else dist.main_first(lambda: task.load_data(cfg))
    if main:
        data.save(run_dir)  # vocabularies beside the weights, so the run dir is self-contained
    if task.train_fn is not None:  # a task with its own trainer (word2vec) runs the rest; see seqlab.tasks
        return task.train_fn(cfg, data, run_dir, name, device, start)
    model = task.build_model(cfg, data).to(device)
    if dist is not None:
        torch.manual_seed(cfg.seed + dist.rank)  # the same initial weights, but each process its own dropout
    console = Console(stderr=True, quiet=not main)
    for note in initialize(cfg, model, data, fresh=state is None):  # model.init_from, model.embedding
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    result = fit(model, data.train, data.valid, task.collate, cfg, device, run_dir, console,
                 headline=headline, recipe=name, resume_state=state, dtype=dtype,
                 epoch_batches=task.epoch_batches, length=length, dist=dist)
    best = run_dir / checkpoint.FOLDER / checkpoint.BEST
    if main and best.is_file():  # absent only if the monitored metric was NaN every epoch: keep the last weights
        model.load_state_dict(load_file(best, device=str(device)))
    if dist is not None:
        dist.broadcast_weights(model)  # process 0 read the best weights
    if main:
        save_weights(model, run_dir / "model.safetensors")
    test = evaluate(model, data.test, task.collate, cfg.eval.batch_size, device, dtype,
                    epoch_batches=task.epoch_batches, length=length, dist=dist)
    if not main:
        dist.barrier()  # return once process 0 has written the summary
        return run_dir
    if task.report is not None:  # e.g. classify: confusion matrix as text and plots/confusion.png
        console.print(task.report(model, data, cfg, run_dir, device), markup=False, highlight=False, soft_wrap=True)
    note = plot_curves(MetricsLog(run_dir / "metrics.jsonl").read(), result.monitor, run_dir / "plots" / "curves.png")
    if note is not None:
        console.print(note, markup=False, highlight=False)
    best_record = result.best_record
    summary = {
        "recipe": name,
        "task": cfg.task,
        "headline": {"metric": headline, "split": "test", "value": test[headline]},
        "test": test,
        "valid": {key[len("valid_"):]: value for key, value in best_record.items() if key.startswith("valid_")},
        "best": {"epoch": best_record["epoch"], "metric": result.monitor, "mode": result.mode,
                 "value": best_record[result.monitor]},
        "epochs": result.epochs,
        "stopped_early": result.stopped_early,
        "time_limit_reached": result.out_of_time,
        "steps": result.steps,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "processes": 1 if dist is None else dist.world_size,  # torchrun's WORLD_SIZE; batch_size is per process
        "precision": "bf16" if dtype is not None else "fp32",
        "wall_time_s": round(time.perf_counter() - start, 3),  # of this process only, when resumed
        "seqlab_version": seqlab.__version__,
    }
    if task.summary is not None:  # e.g. forecast: its baselines on the same test windows
        summary.update(task.summary(data, cfg, test))
    write_atomic(run_dir / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    if dist is not None:
        dist.barrier()
    return run_dir


def _new_run_dir(cfg: Config, name: str, out: str | Path | None) -> Path:
    """Create the run dir and write config.yaml into it first, so a failed run still has it."""
    run_dir = make_run_dir(name, out)
    write_atomic(run_dir / "config.yaml", lambda tmp: recipes.save(cfg, tmp))
    return run_dir


@dataclass(frozen=True)
class FitResult:
    monitor: str  # the monitored metric's key in the epoch records, e.g. valid_token_accuracy
    mode: str  # "min" or "max"
    best_record: dict[str, Any]  # the epoch record of the best epoch (the last one if none was best)
    epochs: int  # epochs run
    steps: int
    stopped_early: bool
    out_of_time: bool = False  # train.max_minutes stopped the run before its last epoch's end


def fit(model: nn.Module, train_set: Sequence[Any], valid_set: Sequence[Any], collate: Callable[..., Any],
        cfg: Config, device: torch.device, run_dir: Path, console: Console, *, headline: str, recipe: str = "",
        resume_state: Mapping[str, Any] | None = None, dtype: torch.dtype | None = None,
        epoch_batches: EpochBatches | None = None, length: Callable[[Any], int] | None = None,
        dist: Distributed | None = None) -> FitResult:
    """AdamW over ``cfg.train.epochs`` epochs (fewer if early stopping fires), scoring
    ``valid_set`` after each; records go to RUN_DIR/metrics.jsonl, checkpoints to
    RUN_DIR/checkpoints. ``resume_state``: a loaded checkpoint to continue from.
    ``epoch_batches``: the task's own batches of a pass (see :mod:`seqlab.tasks`); None:
    ``collate`` over shuffled examples. ``length``: an example's length (the task's
    ``length``): batches of similar lengths (``train.bucket``; see :func:`batches`).
    ``dist``: this process's place under torchrun (see :mod:`seqlab.training.distributed`);
    None: one process.
    """
    t = cfg.train
    monitor, explicit = monitor_name(t, headline), t.monitor is not None
    if dist is not None and epoch_batches is not None:  # each process its rows of every batch
        epoch_batches = dist.share_epoch_batches(epoch_batches, cfg.task)
    lengths = None if length is None or epoch_batches is not None else [length(example) for example in train_set]
    if epoch_batches is None:
        probe = evaluate(model, valid_set[:cfg.eval.batch_size], collate, cfg.eval.batch_size, device, dtype)
        # With a token budget the count varies a little from epoch to epoch: the first epoch's plans the schedule.
        per_epoch = len(batch_indices(len(train_set), t.batch_size, torch.Generator().manual_seed(cfg.seed),
                                      lengths, t.max_tokens))
        if dist is not None:  # each process every W-th batch
            per_epoch = dist.per_rank(per_epoch)
    else:  # the first batch of the validation pass names the metrics; one epoch drawn aside gives its length
        probe = evaluate_batches(model, itertools.islice(epoch_batches(valid_set, cfg.eval.batch_size, None), 1),
                                 device, dtype)
        per_epoch = len(epoch_batches(train_set, t.batch_size, torch.Generator().manual_seed(cfg.seed)))
    check_monitor(monitor, [f"valid_{name}" for name in probe], explicit)
    mode = monitor_mode(t, monitor)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    timer = RunClock(t.max_minutes)  # what train.max_minutes counts; the schedule anneals by it too when it binds
    spent = None if timer.limit is None else (lambda: timer.share(timer.agreed))
    trainer = Trainer(model, optimizer, build_scheduler(optimizer, t, t.epochs * per_epoch, mode, spent),
                      torch.Generator().manual_seed(cfg.seed), cfg, run_dir, recipe, MetricsLog(run_dir / "metrics.jsonl"),
                      epoch_batches=epoch_batches, dist=dist, loss=None if dist is None else dist.wrap(model),
                      lengths=lengths, length=length, timer=timer)
    if t.ema_decay is not None:  # a copy of the model whose weights follow the trained ones slowly
        trainer.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay))
    if trainer.writes:
        (run_dir / checkpoint.FOLDER).mkdir(exist_ok=True)
    state = LoopState() if resume_state is None else trainer.restore(resume_state)
    trainer.start_clock(state)  # train.max_minutes counts from here (a resumed run: from where it stopped)
    board = TensorBoard(t.tensorboard and trainer.writes, run_dir / "tensorboard")
    kill_after = int(os.environ[KILL_AFTER_STEP_ENV]) if KILL_AFTER_STEP_ENV in os.environ else None
    try:
        with progress_bar(console) as progress:
            bar = progress.add_task("train", total=t.epochs * per_epoch, completed=state.step, epoch=state.epoch,
                                    loss=float("nan"), speed=0.0)
            while state.epoch <= t.epochs and not state.stopped and not state.out_of_time:
                if state.batch == 0:
                    trainer.shuffle_state = trainer.generator.get_state()
                run_epoch(trainer, state, train_set, collate, device, dtype, per_epoch, board, kill_after,
                          lambda **fields: progress.update(bar, **fields))
                if state.out_of_time:
                    progress.console.print(f"train.max_minutes={t.max_minutes:g} reached in epoch {state.epoch} after "
                                           f"{state.batch} of {per_epoch} batches: validating it, then stopping")
                record = end_epoch(trainer, state, valid_set, collate, device, dtype, monitor, mode, board)
                progress.console.print(f"epoch {record['epoch']}: " + "  ".join(
                    f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float) and k not in TIMING_KEYS)
                    + f"  ({record['train_s']:.0f} s, {record['train_tokens_per_s']:,.0f} tokens/s)", soft_wrap=True)
    finally:
        board.close()
    best = next((r for r in state.history if r["epoch"] == state.best_epoch), state.history[-1])
    return FitResult(monitor, mode, best, len(state.history), state.step, state.stopped, state.out_of_time)


def run_epoch(trainer: Trainer, state: LoopState, train_set: Sequence[Any], collate: Callable[..., Any],
              device: torch.device, dtype: torch.dtype | None, per_epoch: int, board: TensorBoard,
              kill_after: int | None, show: Callable[..., None]) -> None:
    """The rest of the epoch under way, from batch ``state.batch``: updates, step records, checkpoints."""
    t = trainer.cfg.train
    trainer.model.train()
    began = since = time.perf_counter()  # since: the start of the current step record's window
    spent = state.seconds  # this epoch's time before a resume (carried by the checkpoint)
    seen = 0  # tokens trained on since began, for the progress bar's speed
    if trainer.epoch_batches is None and trainer.dist is not None:  # the same order everywhere; every W-th batch
        drawn = batches(train_set, t.batch_size, list, trainer.generator, start=state.batch * trainer.dist.world_size,
                        lengths=trainer.lengths, max_tokens=t.max_tokens)
        epoch = map(collate, trainer.dist.share(drawn, per_epoch - state.batch))
    elif trainer.epoch_batches is None:
        epoch = batches(train_set, t.batch_size, collate, trainer.generator, start=state.batch,
                        lengths=trainer.lengths, max_tokens=t.max_tokens)
    else:
        epoch = itertools.islice(trainer.epoch_batches(train_set, t.batch_size, trainer.generator), state.batch, None)
    for index, batch in enumerate(epoch, start=state.batch):
        batch = batch.to(device)
        lr = trainer.optimizer.param_groups[0]["lr"]
        try:
            loss = train_step(trainer.model, trainer.optimizer, batch, t.clip_norm, dtype, trainer.loss)
        except FloatingPointError as err:
            raise TrainingError(f"{err} at epoch {state.epoch}, step {state.step + 1}, batch {index} of the epoch; "
                                f"stopped before that update; the last good checkpoint is kept: {trainer.last}") from None
        loss_sum, tokens = loss * batch.num_tokens, batch.num_tokens
        elapsed = trainer.clock(state)  # the run's wall time so far, carried by checkpoints
        late = float(trainer.timer.share(elapsed) >= 1.0 and index + 1 < per_epoch)  # train.max_minutes passed
        if trainer.dist is not None:  # the step's sums over every process, so each records the same, all stop
            # together, and a schedule that follows the time reads process 0's clock everywhere
            loss_sum, tokens, late, elapsed = trainer.dist.all_sum(loss_sum, tokens, late,
                                                                   elapsed if trainer.dist.is_main else 0.0)
            tokens = int(tokens)
        trainer.timer.agreed = elapsed
        if t.schedule != "plateau":
            trainer.scheduler.step()
        if trainer.ema is not None:
            trainer.ema.update_parameters(trainer.model)
        state.step, state.batch = state.step + 1, index + 1
        state.loss_sum, state.tokens = state.loss_sum + loss_sum, state.tokens + tokens
        state.window_loss_sum, state.window_tokens = state.window_loss_sum + loss_sum, state.window_tokens + tokens
        if state.step % t.log_every == 0:
            record = {"kind": "step", "epoch": state.epoch, "step": state.step,
                      "train_loss": state.window_loss_sum / state.window_tokens, "lr": lr,
                      "tokens_per_s": round(state.window_tokens / (time.perf_counter() - since), 1)}
            if trainer.writes:
                trainer.log.append(record)
                board.log(record)
            state.window_loss_sum, state.window_tokens, since = 0.0, 0, time.perf_counter()
        seen += tokens
        show(advance=1, epoch=state.epoch, loss=state.loss_sum / state.tokens,
             speed=seen / max(1e-9, time.perf_counter() - began))
        trim_every(device, state.step)
        state.seconds = spent + time.perf_counter() - began  # before a mid-epoch checkpoint, so it carries it
        if t.checkpoint_every is not None and state.step % t.checkpoint_every == 0 and state.batch < per_epoch:
            trainer.save(state)  # mid-epoch; the epoch's end saves after validation
        if kill_after == state.step:
            _kill_self()
        if late:  # train.max_minutes ran out: this epoch ends here
            state.out_of_time = True
            return


def _kill_self() -> None:
    """Tests (SEQLAB_TEST_KILL_AFTER_STEP): die at once, as a run killed by the user or the OS does."""
    os.kill(os.getpid(), signal.SIGKILL)


def end_epoch(trainer: Trainer, state: LoopState, valid_set: Sequence[Any], collate: Callable[..., Any],
              device: torch.device, dtype: torch.dtype | None, monitor: str, mode: str,
              board: TensorBoard) -> dict[str, Any]:
    """Validate, keep the best weights, step plateau, decide on early stopping, checkpoint."""
    t = trainer.cfg.train
    valid = evaluate(trainer.scored, valid_set, collate, trainer.cfg.eval.batch_size, device, dtype,
                     epoch_batches=trainer.epoch_batches, length=trainer.length, dist=trainer.dist)
    record = {"kind": "epoch", "epoch": state.epoch, "step": state.step, "train_loss": state.loss_sum / state.tokens,
              **{f"valid_{name}": value for name, value in valid.items()},
              "train_s": round(state.seconds, 3), "train_tokens_per_s": round(state.tokens / max(state.seconds, 1e-9), 1)}
    if state.out_of_time:  # cut short by train.max_minutes (the batches done: the step records say)
        record["cut_short"] = True
    value = record[monitor]
    if improved(value, state.best, mode):
        state.best, state.best_epoch, state.bad_epochs = value, state.epoch, 0
        if trainer.writes:
            save_weights(trainer.scored, trainer.run_dir / checkpoint.FOLDER / checkpoint.BEST)
    else:
        state.bad_epochs += 1
    if t.schedule == "plateau":
        trainer.scheduler.step(value)
    if trainer.writes:
        trainer.log.append(record)
        board.log(record)
    state.history.append(record)
    state.stopped = t.patience is not None and state.bad_epochs >= t.patience
    elapsed = trainer.clock(state)
    if trainer.timer.limit is not None and state.epoch < t.epochs:  # epochs to go: is there time for them?
        late = float(trainer.timer.share(elapsed) >= 1.0)
        if trainer.dist is not None:  # any process's clock past the limit stops them all, together
            late = trainer.dist.all_sum(late)[0]
        state.out_of_time = state.out_of_time or late > 0
    state.epoch, state.batch, state.loss_sum, state.tokens, state.seconds = state.epoch + 1, 0, 0.0, 0, 0.0
    trainer.shuffle_state = trainer.generator.get_state()  # the next epoch starts from here
    trainer.save(state)
    return record


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any, clip_norm: float | None,
               dtype: torch.dtype | None = None, loss_fn: Callable[[Any], torch.Tensor] | None = None) -> float:
    """One update: loss (under bf16 autocast if ``dtype``), backward, clip the global
    gradient norm, step. Returns the loss; raises FloatingPointError, before the update,
    if it is NaN or infinite. ``loss_fn``: what computes the loss (under torchrun,
    ``model.loss`` behind DDP, which averages the gradients over processes); None: ``model.loss``."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(batch_device(model), dtype):
        loss = (model.loss if loss_fn is None else loss_fn)(batch)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"the training loss is {value}")
    loss.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return value


def check_bucketing(cfg: Config, task: Any) -> None:
    """``train.bucket`` needs a task that says how long its examples are and lets the loop batch them."""
    if cfg.train.bucket and (task.length is None or task.epoch_batches is not None):
        raise ConfigError(f"train.bucket: task {cfg.task!r} orders its own batches or gives no example length; "
                          "expected false")


def make_run_dir(name: str, out: str | Path | None) -> Path:
    """Create the run dir: ``out`` (must be empty if it exists, or hold only the config.yaml of
    a run that failed before it trained) or a fresh ``runs/<name>-<YYYYmmdd-HHMMSS>[-N]`` under
    the current folder. Returns an absolute path."""
    if out is not None:
        run_dir = Path(out).resolve()
        if run_dir.exists() and (not run_dir.is_dir() or {p.name for p in run_dir.iterdir()} - {"config.yaml"}):
            raise ValueError(f"run dir {str(out)!r} already exists and is not an empty folder; choose a new one")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    base = Path.cwd() / "runs" / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    for n in itertools.count(1):
        run_dir = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:  # two runs in the same second: the second gets -2
            continue


def save_weights(model: nn.Module, path: Path) -> None:
    """The model's state dict as safetensors, written atomically (temp file + os.replace)."""
    checkpoint.save_tensors(model.state_dict(), path)
