"""A run dir as one Markdown page: ``seqlab report RUN``.

What a run was and what it gave, from the files it wrote (nothing is recomputed, nothing
imports torch): the task, recipe, wall time, device and size (summary.json); the keys the
run set away from its recipe, or from seqlab's defaults when it came from a recipe file
(config.yaml); every epoch record (metrics.jsonl), the best epoch marked; the test metrics
of the best weights; the confusion matrix of a classifier (confusion.txt); and the plots and
rescorings on disk. An unfinished run (no summary.json yet) reports its epochs so far.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from seqlab import config as recipes
from seqlab.errors import DataError
from seqlab.runs import SUMMARY, read_summary

METRICS = "metrics.jsonl"
CHECKPOINT_KEY = "seqlab_checkpoint"  # = seqlab.training.checkpoint.METADATA_KEY (not imported: it imports torch)
TIMING = {"train_s": "train s", "train_tokens_per_s": "tokens/s"}  # epoch-record keys shown last, renamed


def run_report(run_dir: str | Path) -> str:
    """The Markdown report of ``run_dir``; a DataError if it is not a run dir."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise DataError(f"{run_dir}: not a run dir (no config.yaml); expected a folder written by seqlab train")
    try:
        cfg = recipes.load(run_dir / "config.yaml")
    except ValueError as err:
        raise DataError(f"{run_dir / 'config.yaml'}: {err}") from None
    summary = read_summary(run_dir)
    epochs = [record for record in _records(run_dir / METRICS) if record.get("kind") == "epoch"]
    parts = [f"# {run_dir.name}", "", _headline(cfg, summary, len(epochs)), ""]
    if summary and "members" in summary:  # written by seqlab ensemble: its members instead of epochs
        parts += _members(summary)
    else:
        parts += _changes(cfg, summary.get("recipe") if summary else _checkpoint_recipe(run_dir))
        parts += _epochs(epochs, summary)
    if summary:
        parts += _test(summary)
    if (run_dir / "confusion.txt").is_file():
        parts += ["## Confusion matrix (test)", "", "```", (run_dir / "confusion.txt").read_text(encoding="utf-8").rstrip(),
                  "```", ""]
    files = sorted(str(p.relative_to(run_dir)) for p in [*run_dir.glob("plots/*.png"), *run_dir.glob("eval-*.json")])
    if files:
        parts += ["## Files", "", *(f"- [{name}]({name})" for name in files), ""]
    return "\n".join(parts)


def _headline(cfg: Any, summary: Mapping[str, Any] | None, epochs: int) -> str:
    if not summary:
        return f"task {cfg.task} · **unfinished** (no {SUMMARY} yet) · {epochs} epoch(s) recorded"
    wall = summary.get("wall_time_s")
    items = [f"task {summary.get('task', cfg.task)}", f"recipe {summary.get('recipe', '?')}",
             f"{len(summary['members'])} members" if "members" in summary else
             f"{summary.get('epochs', epochs)} epoch(s)" + (", stopped early" if summary.get("stopped_early") else "")
             + (", stopped at train.max_minutes" if summary.get("time_limit_reached") else ""),
             "wall time " + (_duration(wall) if isinstance(wall, (int, float)) else "?"),
             f"{summary.get('device', '?')} × {summary.get('processes', 1)}, {summary.get('precision', '?')}",
             f"{summary.get('num_parameters', 0):,} parameters", f"seqlab {summary.get('seqlab_version', '?')}"]
    headline = summary.get("headline") or {}
    if "metric" in headline:
        items.insert(0, f"**{headline.get('split', 'test')} {headline['metric']} {_number(headline['value'])}**")
    return " · ".join(items)


def _changes(cfg: Any, recipe: str | None) -> list[str]:
    """The keys set away from the shipped recipe the run names, else from seqlab's defaults for its task."""
    if recipe in recipes.embedded_recipes():
        base, title = recipes.load(recipe), f"## Changed from the recipe `{recipe}` as shipped now"
    else:
        base, title = recipes.from_dict({"task": cfg.task}), "## Set away from seqlab's defaults"
    changed = list(_diff(recipes.to_dict(base), recipes.to_dict(cfg)))
    if not changed:
        return [title, "", "nothing: the run used it as it is", ""]
    return [title, "", "| key | there | this run |", "| --- | --- | --- |",
            *(f"| `{key}` | {_value(old)} | {_value(new)} |" for key, old, new in changed), ""]


def _diff(base: Mapping[str, Any], mine: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    for key, value in mine.items():
        other = base.get(key)
        if isinstance(value, Mapping) and isinstance(other, Mapping):
            yield from _diff(other, value, f"{prefix}{key}.")
        elif value != other:
            yield f"{prefix}{key}", other, value


def _epochs(records: list[dict[str, Any]], summary: Mapping[str, Any] | None) -> list[str]:
    if not records:
        return ["## Epochs", "", "none recorded yet", ""]
    keys = [k for k in dict.fromkeys(k for r in records for k in r)
            if k not in ("kind", "epoch", "step", "cut_short", *TIMING)]
    keys += [k for k in TIMING if any(k in r for r in records)]
    best = (summary or {}).get("best") or {}
    lines = ["## Epochs", "", "| epoch | " + " | ".join(TIMING.get(k, k) for k in keys) + " |",
             "| ---: | " + " | ".join("---:" for _ in keys) + " |"]
    for record in records:
        epoch = f"**{record['epoch']}**" if record.get("epoch") == best.get("epoch") else str(record.get("epoch"))
        epoch += " (cut short)" if record.get("cut_short") else ""  # by train.max_minutes
        lines.append(f"| {epoch} | " + " | ".join(_number(record.get(k), 1 if k in TIMING else None) for k in keys)
                     + " |")
    if best.get("epoch") is not None:
        lines += ["", f"Best epoch {best['epoch']} (in bold) by {best.get('metric')} ({best.get('mode')})."]
    return [*lines, ""]


def _members(summary: Mapping[str, Any]) -> list[str]:
    """An ensemble's members (their paths relative to it) beside the ensemble itself."""
    metric = (summary.get("headline") or {}).get("metric", "accuracy")
    name = metric.replace("_", " ")
    lines = ["## Members", "", f"| run | valid {name} | test {name} |", "| --- | ---: | ---: |"]
    lines += [f"| [{m.get('run')}]({m.get('run')}) | {_number(m.get('valid_' + metric), 4)} | "
              f"{_number(m.get('test_' + metric), 4)} |" for m in summary["members"]]
    lines.append(f"| **the ensemble** | **{_number(summary.get('valid', {}).get(metric), 4)}** | "
                 f"**{_number(summary.get('test', {}).get(metric), 4)}** |")
    if summary.get("overrides"):
        lines += ["", "Every member predicts with " + ", ".join(f"`{item}`" for item in summary["overrides"]) + "."]
    return [*lines, ""]


def _test(summary: Mapping[str, Any]) -> list[str]:
    test = summary.get("test") or {}
    if not test:
        return []
    title = "## Test (the ensemble)" if "members" in summary else "## Test (the best epoch's weights)"
    return [title, "", "| metric | value |", "| --- | ---: |",
            *(f"| {name} | {_number(value)} |" for name, value in test.items() if not isinstance(value, (list, dict))),
            ""]


def _checkpoint_recipe(run_dir: Path) -> str | None:
    """The recipe name an unfinished run's last checkpoint records (its header only is read)."""
    from safetensors import safe_open

    path = run_dir / "checkpoints" / "last.safetensors"
    try:
        with safe_open(str(path), framework="np") as file:
            state = json.loads((file.metadata() or {})[CHECKPOINT_KEY])["state"]
        recipe = dict(state["dict"]).get("recipe")  # the state's plain part: a dict as [key, value] pairs
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or not a seqlab checkpoint
        return None
    return recipe if isinstance(recipe, str) else None


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run
        if isinstance(record, dict):
            yield record


def _number(value: Any, digits: int | None = None) -> str:
    """A metric as the tables show it: 4 decimals below 10 (accuracies, losses), 2 from 10 (BLEU,
    perplexity), 1 from 1000 (or ``digits``); ints with thousands separators."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        if digits is None:
            digits = 4 if abs(value) < 10 else 2 if abs(value) < 1000 else 1
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _value(value: Any) -> str:
    return "`null`" if value is None else f"`{value}`"


def _duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {s:02d} s" if minutes else f"{seconds:.1f} s"
