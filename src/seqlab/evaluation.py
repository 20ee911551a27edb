"""``seqlab eval``: score a finished run again on its test or validation split.

The split is rebuilt from the run's own recipe (``data.*`` and ``eval.*`` may be
overridden: another file, another batch size), scored with the training loop's
:func:`~seqlab.training.loop.evaluate`, and written to ``RUN/eval-SPLIT.json`` atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from seqlab import config as recipes
from seqlab.bundle import CONFIG, load
from seqlab.ensemble import Ensemble, score
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import get_task
from seqlab.training.checkpoint import write_atomic
from seqlab.training.loop import evaluate

SPLITS = ("test", "valid")
_EVAL_SECTIONS = ("data.", "eval.")  # what eval may override: the data it reads and how it batches


def evaluate_run(path: str | Path, split: str = "test", overrides: Sequence[str] = (),
                 device: str | torch.device = "cpu") -> dict:
    """Rebuild ``split`` from the run's recipe (``task.load_data``), score the bundle's model
    on it with the training loop's own :func:`~seqlab.training.loop.evaluate`, and write
    RUN/eval-SPLIT.json atomically. Returns what it wrote.

    ``overrides`` (``data.*`` and ``eval.*`` keys only: the model is the bundle's) change the
    data read or the batch size. The rebuilt vocabularies must equal the bundle's, else the
    data changed since training and the scores would be meaningless: a DataError says so.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    predictor = load(path, device)
    for item in overrides:
        key = str(item).partition("=")[0].strip()
        if not key.startswith(_EVAL_SECTIONS):
            raise ConfigError(f"override {item!r}: eval takes only data.* and eval.* keys; the model and its "
                              f"training come from {predictor.run_dir / CONFIG}")
    if isinstance(predictor, Ensemble):
        return score(predictor, split, overrides)
    cfg = recipes.apply_overrides(predictor.cfg, overrides)
    task = get_task(cfg.task)
    data = task.load_data(cfg)
    _check_same_vocabularies(predictor.run_dir, predictor.saved, data)
    examples = getattr(data, split)
    metrics = evaluate(predictor.model, examples, task.collate, cfg.eval.batch_size, predictor.device,
                       length=task.length if cfg.train.bucket else None)  # the batches training scored with
    result = {"split": split, "num_examples": len(examples), "headline": task.headline, "metrics": metrics,
              "overrides": list(overrides)}
    out = predictor.run_dir / f"eval-{split}.json"
    write_atomic(out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8"))
    return result


def _check_same_vocabularies(run_dir: Path, saved: object, data: object) -> None:
    """A DataError unless ``data`` gives the vocabularies, labels, tags and columns saved with the run."""
    for name in ("vocab", "src_vocab", "tgt_vocab", "labels", "tags", "columns"):
        ours = getattr(saved, name)
        if ours is None or ours == () or not hasattr(data, name):
            continue
        theirs = getattr(data, name)
        if (tuple(theirs) if isinstance(ours, tuple) else theirs) != ours:
            raise DataError(f"{run_dir}: the recipe's data now gives another {name} than the one saved "
                            "with the run (the data files changed since training?); the scores would not "
                            "describe this model")
