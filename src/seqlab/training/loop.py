"""The task-agnostic fit and the run dir it writes.

The loop knows a task only through ``model.loss(batch)``, ``model.metrics(batch)`` and
the table entry's ``collate``; see :mod:`seqlab.tasks`. A run dir holds

    config.yaml        the resolved recipe (written first, so a failed run still has it)
    metrics.jsonl      one JSON object per epoch: train loss and validation metrics
    model.safetensors  the final weights (written atomically)
    vocab.json, ...    what the task needs to decode predictions (its data's save())
    summary.json       test metrics, the headline metric, wall time, parameter count

Runs are seeded: on the CPU the same config gives the same metrics.jsonl, bit for bit.
Timings go to the progress bar (stderr) and summary.json only, never to metrics.jsonl.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from safetensors.torch import save_file
from torch import nn

import seqlab
from seqlab import config as recipes
from seqlab.config import DEFAULT_RECIPE, Config
from seqlab.errors import ConfigError
from seqlab.tasks import get_task


def train(recipe: str | Path = DEFAULT_RECIPE, overrides: Mapping[str, Any] | Iterable[str] = (),
          out: str | Path | None = None) -> Path:
    """Train a recipe (embedded name or YAML path) and return its run dir.

    ``overrides``: ``{"train.epochs": 3}`` or ``["train.epochs=3"]``. ``out``: the run dir
    (created; must be empty if it exists); default ``runs/<recipe>-<YYYYmmdd-HHMMSS>/``
    under the current folder.
    """
    start = time.perf_counter()
    cfg = recipes.resolve(recipe, overrides)
    task = get_task(cfg.task)
    device = resolve_device(cfg.train.device)
    run_dir = make_run_dir(recipes.recipe_name(recipe), out)
    _write_atomic(run_dir / "config.yaml", lambda tmp: recipes.save(cfg, tmp))

    torch.manual_seed(cfg.seed)
    data = task.load_data(cfg)
    data.save(run_dir)  # vocabularies beside the weights, so the run dir is self-contained
    model = task.build_model(cfg, data).to(device)
    console = Console(stderr=True)
    history = fit(model, data.train, data.valid, task.collate, cfg, device, run_dir / "metrics.jsonl", console)
    save_weights(model, run_dir / "model.safetensors")
    test = evaluate(model, data.test, task.collate, cfg.eval.batch_size, device)
    summary = {
        "recipe": recipes.recipe_name(recipe),
        "task": cfg.task,
        "headline": {"metric": task.headline, "split": "test", "value": test[task.headline]},
        "test": test,
        "valid": {key[len("valid_"):]: value for key, value in history[-1].items() if key.startswith("valid_")},
        "epochs": cfg.train.epochs,
        "steps": history[-1]["step"],
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "seqlab_version": seqlab.__version__,
    }
    _write_atomic(run_dir / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    return run_dir


def fit(model: nn.Module, train_set: Sequence[Any], valid_set: Sequence[Any], collate: Callable[..., Any],
        cfg: Config, device: torch.device, metrics_path: Path, console: Console) -> list[dict[str, Any]]:
    """AdamW over ``cfg.train.epochs`` epochs, scoring ``valid_set`` after each.

    Appends one record per epoch to ``metrics_path`` and returns the records.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)  # shuffling only; init and dropout use the global seed
    per_epoch = math.ceil(len(train_set) / cfg.train.batch_size)
    history, step = [], 0
    with _progress_bar(console) as progress:
        bar = progress.add_task("train", total=cfg.train.epochs * per_epoch, epoch=1, loss=float("nan"), speed=0.0)
        for epoch in range(1, cfg.train.epochs + 1):
            model.train()
            loss_sum, tokens, since = 0.0, 0, time.perf_counter()
            for batch in batches(train_set, cfg.train.batch_size, collate, generator):
                batch = batch.to(device)
                loss_sum += train_step(model, optimizer, batch, cfg.train.clip_norm) * batch.num_tokens
                tokens += batch.num_tokens
                step += 1
                progress.update(bar, advance=1, epoch=epoch, loss=loss_sum / tokens,
                                speed=tokens / (time.perf_counter() - since))
            valid = evaluate(model, valid_set, collate, cfg.eval.batch_size, device)
            record = {"epoch": epoch, "step": step, "train_loss": loss_sum / tokens,
                      **{f"valid_{name}": value for name, value in valid.items()}}
            with open(metrics_path, "a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
            history.append(record)
            progress.console.print(f"epoch {epoch}: " + "  ".join(
                f"{name} {value:.4f}" for name, value in record.items() if isinstance(value, float)), soft_wrap=True)
    return history


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any, clip_norm: float | None) -> float:
    """One update: loss, backward, clip the global gradient norm, step. Returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(batch)
    loss.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: nn.Module, examples: Sequence[Any], collate: Callable[..., Any], batch_size: int,
             device: torch.device) -> dict[str, float]:
    """Score ``examples`` in eval mode: each metric's sums over all batches, divided."""
    model.eval()
    totals: dict[str, list[float]] = {}
    for batch in batches(examples, batch_size, collate):
        for name, (value, count) in model.metrics(batch.to(device)).items():
            total = totals.setdefault(name, [0.0, 0])
            total[0] += value
            total[1] += count
    return {name: value / count if count else float("nan") for name, (value, count) in totals.items()}


def batches(examples: Sequence[Any], batch_size: int, collate: Callable[..., Any],
            generator: torch.Generator | None = None) -> Iterator[Any]:
    """Collated batches of ``batch_size`` examples (the last may be smaller); shuffled
    with ``generator`` if one is given, else in order."""
    if generator is None:
        order = list(range(len(examples)))
    else:
        order = torch.randperm(len(examples), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        yield collate([examples[i] for i in order[start:start + batch_size]])


def resolve_device(name: str) -> torch.device:
    """``train.device`` as a torch device: auto picks cuda when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' was asked for, but torch sees no CUDA device; use auto or cpu")
    return torch.device(name)


def make_run_dir(name: str, out: str | Path | None) -> Path:
    """Create the run dir: ``out`` (must be empty if it exists) or a fresh
    ``runs/<name>-<YYYYmmdd-HHMMSS>[-N]`` under the current folder. Returns an absolute path."""
    if out is not None:
        run_dir = Path(out).resolve()
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
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
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    _write_atomic(path, lambda tmp: save_file(tensors, tmp))


def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then move it into place, so a
    reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:,.0f} tok/s"),
        TimeElapsedColumn(), console=console)
