"""``seqlab ensemble``: classify runs trained alike, averaged into one predictor.

An ensemble of K classifiers predicts p(y | x) = (1/K) Σ_k p_k(y | x), the mean of its
members' class probabilities (Hansen & Salamon 1990; the usual way to add a point of
accuracy that one more model cannot). The members are typically one recipe trained with
K seeds, all keeping one validation split::

    seqlab train imdb-bilstm-w2v --set seed=1 --set data.seed=0 --out runs/imdb-s1

(``data.seed`` seeds the split alone), so the ensemble is scored, like each member was
chosen, on reviews none of them trained on. :func:`build` refuses members whose
validation or test splits differ.

The folder :func:`build` writes is a bundle like a run dir: :func:`seqlab.load` gives an
:class:`Ensemble` with the classifier's ``predict`` and ``predict_proba``, and ``seqlab
predict``, ``eval``, ``serve`` and ``runs`` take it. It holds

    ensemble.json     the members (paths relative to the folder) and the labels
    config.yaml       the first member's resolved recipe: the data every member reads
    summary.json      valid and test metrics of the ensemble and of each member
    eval-valid.json, eval-test.json, confusion.txt, plots/confusion.png

The members stay where they are (the ensemble names them, it does not copy them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

import seqlab
from seqlab import config as recipes
from seqlab.bundle import CONFIG, Classifier, ClassProbabilities, load, read_config
from seqlab.config import Config
from seqlab.data import splitting
from seqlab.errors import ConfigError, DataError
from seqlab.runs import read_summary
from seqlab.training.checkpoint import write_atomic

ENSEMBLE = "ensemble.json"
SCORED = ("valid", "test")  # the splits an ensemble is scored on


@dataclass
class Ensemble(ClassProbabilities):
    """Classify runs whose class probabilities are averaged. ``labels``: the classes, in the
    order of ``predict_proba``'s columns (the first member's)."""

    run_dir: Path
    cfg: Config  # the first member's recipe: the data the members read
    members: list[Classifier]
    labels: list[str]

    task = "classify"

    @property
    def reads_features(self) -> bool:
        return self.members[0].reads_features

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    def member_probabilities(self, texts: Sequence) -> list[Tensor]:
        """Each member's (N, C) probabilities, its columns put in the order of ``labels``."""
        return [member.probabilities(texts)[:, [member.labels.index(label) for label in self.labels]]
                for member in self.members]

    def probabilities(self, texts: Sequence) -> Tensor:
        """(N, C) class probabilities of each text: the members' mean."""
        return torch.stack(self.member_probabilities(texts)).mean(dim=0)


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / ENSEMBLE).is_file()


def load_ensemble(path: str | Path, device: str | torch.device = "cpu") -> Ensemble:
    """The ensemble written by :func:`build` in ``path``, its members loaded onto ``device``."""
    path = Path(path)
    try:
        about = json.loads((path / ENSEMBLE).read_text(encoding="utf-8"))
        names, labels = list(about["members"]), list(about["labels"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path / ENSEMBLE}: not an ensemble written by seqlab ensemble ({err})") from None
    members = []
    for name in names:
        member = path / name
        if not (member / CONFIG).is_file():
            raise DataError(f"{path / ENSEMBLE}: member {name!r} is not a run dir (no {member / CONFIG}); "
                            "the ensemble names its members, it does not copy them")
        members.append(load(member, device))
    _, cfg = read_config(path)
    return Ensemble(path, cfg, members, labels)


def build(runs: Sequence[str | Path], out: str | Path, device: str | torch.device = "cpu") -> dict:
    """Check that ``runs`` can be averaged, write the ensemble into the new folder ``out``,
    score it (and each member) on the validation and test splits and return the summary."""
    start = time.perf_counter()
    out = Path(out)
    runs = [Path(run) for run in runs]
    if len(runs) < 2:
        raise ValueError(f"an ensemble needs at least two runs, got {len(runs)}")
    if len({run.resolve() for run in runs}) < len(runs):
        raise ValueError("a run is named twice; an ensemble's members are different runs")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out}: exists and is not an empty folder; the ensemble goes into a new one")
    configs = [read_config(run)[1] for run in runs]  # each names its file if it is not a run dir
    for run, cfg in zip(runs, configs):
        if cfg.task != "classify":
            raise ValueError(f"{run} is a {cfg.task} run; an ensemble averages classify runs")
        if read_summary(run) is None:
            raise ValueError(f"{run}: not finished (no summary.json); finish it first (seqlab train --resume {run})")
    splits = [_scored_split(run) for run in runs]
    for run, split in zip(runs[1:], splits[1:]):
        if split != splits[0]:
            raise ConfigError(f"{run}: its validation or test split is not {runs[0]}'s (train the members with "
                              "one data.seed and the same data settings: --set data.seed=0), so the ensemble "
                              "would be scored on texts some member trained on")
    members = [load(run, device) for run in runs]
    for run, member in zip(runs[1:], members[1:]):
        if sorted(member.labels) != sorted(members[0].labels):
            raise DataError(f"{run}: its labels {member.labels} are not {runs[0]}'s {members[0].labels}")
    out.mkdir(parents=True, exist_ok=True)
    about = {"task": "classify", "labels": members[0].labels,
             "members": [os.path.relpath(run.resolve(), out.resolve()) for run in runs]}
    _write_json(out / ENSEMBLE, about)
    _write_json(out / "labels.json", members[0].labels)
    write_atomic(out / CONFIG, lambda tmp: recipes.save(configs[0], tmp))
    ensemble = Ensemble(out, configs[0], members, members[0].labels)
    scores = {split: score(ensemble, split) for split in SCORED}
    recipes_read = sorted({str(read_summary(run).get("recipe")) for run in runs})
    summary = {"recipe": "ensemble: " + ", ".join(recipes_read), "task": "classify",
               "headline": {"metric": "accuracy", "split": "test", "value": scores["test"]["metrics"]["accuracy"]},
               "test": scores["test"]["metrics"], "valid": scores["valid"]["metrics"],
               "best": {"epoch": None, "metric": "valid_accuracy", "mode": "max",
                        "value": scores["valid"]["metrics"]["accuracy"]},
               "members": [{"run": name, **{f"{split}_accuracy": scores[split]["members"][n] for split in SCORED}}
                           for n, name in enumerate(about["members"])],
               "device": str(ensemble.device), "processes": 1,
               "precision": "/".join(sorted({str(next(m.model.parameters()).dtype).removeprefix("torch.")
                                             for m in members})),
               "num_parameters": sum(p.numel() for m in members for p in m.model.parameters()),
               "seqlab_version": seqlab.__version__, "wall_time_s": round(time.perf_counter() - start, 3)}
    _write_json(out / "summary.json", summary)  # written last: its presence marks the ensemble finished
    return summary


def score(ensemble: Ensemble, split: str = "test", overrides: Sequence[str] = ()) -> dict:
    """Rebuild ``split`` from the ensemble's recipe (``data.*``/``eval.*`` overrides allowed),
    score the ensemble and each member on it, and write ENSEMBLE/eval-SPLIT.json atomically;
    for the test split also confusion.txt and plots/confusion.png. Returns what it wrote."""
    from seqlab.tasks.classify import format_confusion, macro_f1, plot_confusion
    from seqlab.tasks.classify_data import split_rows

    cfg = recipes.apply_overrides(ensemble.cfg, overrides)
    rows, indices, _ = split_rows(cfg)
    if not overrides and indices[split] != _scored_split(ensemble.members[0].run_dir)[split][1]:
        raise DataError(f"{ensemble.run_dir}: the recipe's data now gives another {split} split than the one "
                        "the members were scored on (the data files changed since training?)")
    texts = [text for text, _ in rows[split]]
    label_ids = {label: i for i, label in enumerate(ensemble.labels)}
    try:
        truth = torch.tensor([label_ids[label] for _, label in rows[split]], dtype=torch.long)
    except KeyError as err:
        raise DataError(f"{split} split: label {err.args[0]!r} is not one of the ensemble's {ensemble.labels}") from None
    each = ensemble.member_probabilities(texts)
    probabilities = torch.stack(each).mean(dim=0)
    counts = torch.zeros(len(label_ids), len(label_ids), dtype=torch.long)
    counts.index_put_((truth, probabilities.argmax(dim=1)), torch.ones(len(truth), dtype=torch.long), accumulate=True)
    tp = counts.diag()
    metrics = {"loss": float(-probabilities[torch.arange(len(truth)), truth].clamp(min=1e-12).log().mean()),
               "accuracy": float(tp.sum() / max(len(truth), 1)),
               "macro_f1": macro_f1(tp.tolist(), (counts.sum(0) - tp).tolist(), (counts.sum(1) - tp).tolist())}
    result = {"split": split, "num_examples": len(texts), "headline": "accuracy", "metrics": metrics,
              "members": [float((p.argmax(dim=1) == truth).float().mean()) for p in each],
              "overrides": list(overrides)}
    _write_json(ensemble.run_dir / f"eval-{split}.json", result)
    if split == "test":
        text = format_confusion(counts, ensemble.labels)
        write_atomic(ensemble.run_dir / "confusion.txt", lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
        (ensemble.run_dir / "plots").mkdir(exist_ok=True)
        plot_confusion(counts, ensemble.labels, ensemble.run_dir / "plots" / "confusion.png")
    return result


def _scored_split(run: Path) -> dict[str, object]:
    """Where a run's validation and test texts come from and their row numbers, from its split.json."""
    indices = splitting.load_split(run / "split.json")  # names the file if it is not one
    sources = json.loads((run / "split.json").read_text(encoding="utf-8")).get("about", {}).get("sources", {})
    return {split: (sources.get(split), indices.get(split)) for split in SCORED}


def _write_json(path: Path, value: object) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8"))
