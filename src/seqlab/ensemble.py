"""``seqlab ensemble``: classify or tag runs trained alike, averaged into one predictor.

An ensemble of K classifiers predicts p(y | x) = (1/K) Σ_k p_k(y | x), the mean of its
members' class probabilities (Hansen & Salamon 1990; the usual way to add a point of
accuracy that one more model cannot); an ensemble of taggers does the same at every
token. The members are typically one recipe trained with K seeds, all keeping one
validation split::

    seqlab train imdb-bilstm-w2v --set seed=1 --set data.seed=0 --out runs/imdb-s1

(``data.seed`` seeds the carved splits alone; a treebank's official splits need
nothing), so the ensemble is scored, like each member was chosen, on texts none of them
trained on. :func:`build` refuses members whose validation or test splits differ.

The folder :func:`build` writes is a bundle like a run dir: :func:`seqlab.load` gives a
:class:`ClassifyEnsemble` (``predict``, ``predict_proba``) or a :class:`TagEnsemble`
(``predict``), and ``seqlab predict``, ``eval``, ``serve``, ``runs`` and ``report`` take
it. It holds

    ensemble.json     the task, the members (paths relative to the folder) and the classes
    config.yaml       the first member's resolved recipe: the data every member reads
    summary.json      valid and test metrics of the ensemble and of each member
    labels.json or tags.json, eval-valid.json, eval-test.json,
    (classify) confusion.txt, plots/confusion.png

The members stay where they are (the ensemble names them, it does not copy them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import seqlab
from seqlab import config as recipes
from seqlab.bundle import CONFIG, ClassProbabilities, load, read_config
from seqlab.config import Config
from seqlab.data import splitting
from seqlab.errors import ConfigError, DataError
from seqlab.runs import read_summary
from seqlab.training.checkpoint import write_atomic

ENSEMBLE = "ensemble.json"
SCORED = ("valid", "test")  # the splits an ensemble is scored on
HEADLINE = {"classify": "accuracy", "tag": "token_accuracy"}  # the tasks an ensemble takes, and its metric


@dataclass
class Ensemble:
    """Runs of one task whose probabilities are averaged. ``labels``: the classes (tags), in
    the order of the probabilities' columns (the first member's)."""

    run_dir: Path
    cfg: Config  # the first member's recipe: the data the members read
    members: list[Any]
    labels: list[str]

    @property
    def task(self) -> str:
        return self.cfg.task

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    def columns(self, member: Any) -> list[int]:
        """Where each of ``labels`` sits among a member's columns."""
        return [_classes(member).index(label) for label in self.labels]


class ClassifyEnsemble(ClassProbabilities, Ensemble):
    """Classify runs: ``predict(texts) -> [(label, probability)]``, ``predict_proba``."""

    @property
    def reads_features(self) -> bool:
        return self.members[0].reads_features

    def member_probabilities(self, texts: Sequence) -> list[Tensor]:
        """Each member's (N, C) probabilities, its columns put in the order of ``labels``."""
        return [member.probabilities(texts)[:, self.columns(member)] for member in self.members]

    def probabilities(self, texts: Sequence) -> Tensor:
        """(N, C) class probabilities of each text: the members' mean."""
        return torch.stack(self.member_probabilities(texts)).mean(dim=0)


class TagEnsemble(Ensemble):
    """Tag runs: ``predict(texts or token lists) -> [[tag per token]]``, each token's tag
    chosen from the members' mean probabilities at that token."""

    @property
    def tags(self) -> list[str]:
        return self.labels

    def member_probabilities(self, inputs: Sequence) -> list[Tensor]:
        """Each member's (N, C) probabilities of the N tokens of all inputs, one after another."""
        return [torch.cat([torch.empty(0, len(self.labels)), *member.token_probabilities(inputs)])[:, self.columns(member)]
                for member in self.members]

    def predict(self, inputs: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
        """Texts (split on whitespace) or token lists -> the tag of every token."""
        if isinstance(inputs, str):
            raise TypeError(f"predict takes a list of texts or token lists, got the string {inputs[:40]!r}")
        sizes = [len(item.split() if isinstance(item, str) else item) for item in inputs]
        return self.tag_sentences(torch.stack(self.member_probabilities(inputs)).mean(dim=0), sizes)

    def tag_sentences(self, probabilities: Tensor, sizes: Sequence[int]) -> list[list[str]]:
        """(N, C) probabilities of the tokens of sentences ``sizes`` long, one after another ->
        each sentence's most likely tags."""
        return [[self.labels[i] for i in part.tolist()] for part in probabilities.argmax(dim=1).split(list(sizes))]


def _classes(member: Any) -> list[str]:
    return member.labels if member.task == "classify" else member.tags


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / ENSEMBLE).is_file()


def load_ensemble(path: str | Path, device: str | torch.device = "cpu") -> ClassifyEnsemble | TagEnsemble:
    """The ensemble written by :func:`build` in ``path``, its members loaded onto ``device``."""
    path = Path(path)
    try:
        about = json.loads((path / ENSEMBLE).read_text(encoding="utf-8"))
        names, labels = list(about["members"]), list(about["labels"])
        overrides = [str(item) for item in about.get("overrides", [])]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path / ENSEMBLE}: not an ensemble written by seqlab ensemble ({err})") from None
    members = []
    for name in names:
        member = path / name
        if not (member / CONFIG).is_file():
            raise DataError(f"{path / ENSEMBLE}: member {name!r} is not a run dir (no {member / CONFIG}); "
                            "the ensemble names its members, it does not copy them")
        members.append(_evaluated_with(load(member, device), overrides))
    _, cfg = read_config(path)  # saved with the overrides applied
    return _ensemble(path, cfg, members, labels)


def _ensemble(path: Path, cfg: Config, members: list[Any], labels: list[str]) -> ClassifyEnsemble | TagEnsemble:
    kind = {"classify": ClassifyEnsemble, "tag": TagEnsemble}[cfg.task]
    return kind(path, cfg, members, labels)


def build(runs: Sequence[str | Path], out: str | Path, device: str | torch.device = "cpu",
          overrides: Sequence[str] = ()) -> dict:
    """Check that ``runs`` can be averaged, write the ensemble into the new folder ``out``,
    score it (and each member) on the validation and test splits and return the summary.

    ``overrides``: ``eval.*`` keys (``"eval.truncate=false"``) applied to every member
    whenever the ensemble predicts, as ``seqlab eval --set`` applies them to one run; kept
    in ensemble.json.
    """
    start = time.perf_counter()
    out, runs, overrides = Path(out), [Path(run) for run in runs], [str(item) for item in overrides]
    configs, summaries = _check_runs(runs, out, overrides)
    task = configs[0].task
    members = [_evaluated_with(load(run, device), overrides) for run in runs]
    for run, member in zip(runs[1:], members[1:]):
        if sorted(_classes(member)) != sorted(_classes(members[0])):
            raise DataError(f"{run}: its classes {_classes(member)} are not {runs[0]}'s {_classes(members[0])}")
    out.mkdir(parents=True, exist_ok=True)
    labels = _classes(members[0])
    about = {"task": task, "labels": labels,
             "members": [os.path.relpath(run.resolve(), out.resolve()) for run in runs], "overrides": overrides}
    _write_json(out / ENSEMBLE, about)
    _write_json(out / ("labels.json" if task == "classify" else "tags.json"), labels)
    write_atomic(out / CONFIG, lambda tmp: recipes.save(configs[0], tmp))
    ensemble = _ensemble(out, configs[0], members, labels)
    scores = {split: score(ensemble, split) for split in SCORED}
    metric = HEADLINE[task]
    recipes_read = sorted({str(summary.get("recipe")) for summary in summaries})
    summary = {"recipe": "ensemble: " + ", ".join(recipes_read), "task": task,
               "headline": {"metric": metric, "split": "test", "value": scores["test"]["metrics"][metric]},
               "test": scores["test"]["metrics"], "valid": scores["valid"]["metrics"],
               "best": {"epoch": None, "metric": f"valid_{metric}", "mode": "max",
                        "value": scores["valid"]["metrics"][metric]},
               "members": [{"run": name, **{f"{split}_{metric}": scores[split]["members"][n] for split in SCORED}}
                           for n, name in enumerate(about["members"])], "overrides": overrides,
               "device": str(ensemble.device), "processes": 1,
               "precision": "/".join(sorted({str(next(m.model.parameters()).dtype).removeprefix("torch.")
                                             for m in members})),
               "num_parameters": sum(p.numel() for m in members for p in m.model.parameters()),
               "seqlab_version": seqlab.__version__, "wall_time_s": round(time.perf_counter() - start, 3)}
    _write_json(out / "summary.json", summary)  # written last: its presence marks the ensemble finished
    return summary


def _check_runs(runs: list[Path], out: Path, overrides: list[str]) -> tuple[list[Config], list[dict]]:
    """Refuse what cannot be averaged, before anything is written; return each run's config
    (``overrides`` applied) and summary."""
    for item in overrides:
        if not item.partition("=")[0].strip().startswith("eval."):
            raise ConfigError(f"override {item!r}: an ensemble takes only eval.* keys (how its members predict); "
                              "the data and the models are the members' own")
    if len(runs) < 2:
        raise ValueError(f"an ensemble needs at least two runs, got {len(runs)}")
    if len({run.resolve() for run in runs}) < len(runs):
        raise ValueError("a run is named twice; an ensemble's members are different runs")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out}: exists and is not an empty folder; the ensemble goes into a new one")
    configs = [recipes.apply_overrides(read_config(run)[1], overrides) for run in runs]  # names a non-run dir
    summaries = []
    for run, cfg in zip(runs, configs):
        if cfg.task not in HEADLINE or cfg.task != configs[0].task:
            raise ValueError(f"{run} is a {cfg.task} run; an ensemble averages classify runs or tag runs, "
                             f"all of one task (the first, {runs[0]}, is a {configs[0].task} run)")
        summaries.append(read_summary(run))
        if summaries[-1] is None:
            raise ValueError(f"{run}: not finished (no summary.json); finish it first (seqlab train --resume {run})")
    splits = [_scored_split(run, cfg) for run, cfg in zip(runs, configs)]
    for run, split in zip(runs[1:], splits[1:]):
        if split != splits[0]:
            raise ConfigError(f"{run}: its validation or test split is not {runs[0]}'s (train the members with "
                              "one data.seed and the same data settings: --set data.seed=0), so the ensemble "
                              "would be scored on texts some member trained on")
    return configs, summaries


def score(ensemble: ClassifyEnsemble | TagEnsemble, split: str = "test", overrides: Sequence[str] = ()) -> dict:
    """Rebuild ``split`` from the ensemble's recipe (``data.*``/``eval.*`` overrides allowed),
    score the ensemble and each member on it, and write ENSEMBLE/eval-SPLIT.json atomically;
    for a classify ensemble's test split also confusion.txt and plots/confusion.png. Returns
    what it wrote: the ensemble's metrics and each member's headline metric."""
    cfg = recipes.apply_overrides(ensemble.cfg, overrides)
    if overrides:  # the members predict with them too (eval.truncate, eval.batch_size)
        ensemble = dataclasses.replace(ensemble, cfg=cfg,
                                       members=[_evaluated_with(m, overrides) for m in ensemble.members])
    if isinstance(ensemble, TagEnsemble):
        metrics, members, count = _score_tag(ensemble, cfg, split)
    else:
        metrics, members, count = _score_classify(ensemble, cfg, split, check=not overrides)
    result = {"split": split, "num_examples": count, "headline": HEADLINE[ensemble.task], "metrics": metrics,
              "members": members, "overrides": list(overrides)}
    _write_json(ensemble.run_dir / f"eval-{split}.json", result)
    return result


def _score_classify(ensemble: ClassifyEnsemble, cfg: Config, split: str, check: bool) -> tuple[dict, list, int]:
    from seqlab.tasks.classify import count_confusion, macro_f1, write_confusion
    from seqlab.tasks.classify_data import split_rows

    rows, indices, _ = split_rows(cfg)
    if check and indices[split] != _scored_split(ensemble.members[0].run_dir, cfg)[split][1]:
        raise DataError(f"{ensemble.run_dir}: the recipe's data now gives another {split} split than the one "
                        "the members were scored on (the data files changed since training?)")
    texts = [text for text, _ in rows[split]]
    truth = _ids(ensemble, split, [label for _, label in rows[split]])
    each = ensemble.member_probabilities(texts)
    probabilities = torch.stack(each).mean(dim=0)
    counts = count_confusion(truth, probabilities.argmax(dim=1), len(ensemble.labels))
    tp = counts.diag()
    metrics = {"loss": _nll(probabilities, truth), "accuracy": float(tp.sum() / max(len(truth), 1)),
               "macro_f1": macro_f1(tp.tolist(), (counts.sum(0) - tp).tolist(), (counts.sum(1) - tp).tolist())}
    if split == "test":
        write_confusion(counts, ensemble.labels, ensemble.run_dir)
    return metrics, [_accuracy(p, truth) for p in each], len(texts)


def _score_tag(ensemble: TagEnsemble, cfg: Config, split: str) -> tuple[dict, list, int]:
    from seqlab.tasks.tag import is_bio, span_counts, span_scores
    from seqlab.tasks.tag_data import split_sentences

    sentences = split_sentences(cfg)[0][split]
    truth = _ids(ensemble, split, [tag for _, tags in sentences for tag in tags])
    each = ensemble.member_probabilities([tokens for tokens, _ in sentences])
    probabilities = torch.stack(each).mean(dim=0)
    guessed = ensemble.tag_sentences(probabilities, [len(tokens) for tokens, _ in sentences])
    exact = sum(guess == tags for guess, (_, tags) in zip(guessed, sentences))
    metrics = {"loss": _nll(probabilities, truth), "token_accuracy": _accuracy(probabilities, truth),
               "exact_match": exact / max(len(sentences), 1)}
    if is_bio(ensemble.labels):
        metrics.update(span_scores(*span_counts([tags for _, tags in sentences], guessed)))
    return metrics, [_accuracy(p, truth) for p in each], len(sentences)


def _evaluated_with(member: Any, overrides: Sequence[str]) -> Any:
    """``member`` predicting with ``overrides`` applied to its recipe (itself when there are none)."""
    return dataclasses.replace(member, cfg=recipes.apply_overrides(member.cfg, overrides)) if overrides else member


def _ids(ensemble: Ensemble, split: str, labels: list[str]) -> Tensor:
    ids = {label: i for i, label in enumerate(ensemble.labels)}
    try:
        return torch.tensor([ids[label] for label in labels], dtype=torch.long)
    except KeyError as err:
        raise DataError(f"{split} split: {'label' if ensemble.task == 'classify' else 'tag'} {err.args[0]!r} is "
                        f"not one of the ensemble's {ensemble.labels}") from None


def _nll(probabilities: Tensor, truth: Tensor) -> float:
    """Mean negative log-likelihood of the truth under the averaged probabilities."""
    return float(-probabilities[torch.arange(len(truth)), truth].clamp(min=1e-12).log().mean())


def _accuracy(probabilities: Tensor, truth: Tensor) -> float:
    return float((probabilities.argmax(dim=1) == truth).float().mean()) if len(truth) else float("nan")


def _scored_split(run: Path, cfg: Config) -> dict[str, object]:
    """What a run was validated and tested on. Classify: where its validation and test texts come
    from and their row numbers, from its split.json. Tag: the sentences themselves, reread."""
    if cfg.task == "tag":
        from seqlab.tasks.tag_data import split_sentences

        sentences = split_sentences(cfg)[0]
        return {split: sentences[split] for split in SCORED}
    indices = splitting.load_split(run / "split.json")  # names the file if it is not one
    sources = json.loads((run / "split.json").read_text(encoding="utf-8")).get("about", {}).get("sources", {})
    return {split: (sources.get(split), indices.get(split)) for split in SCORED}


def _write_json(path: Path, value: object) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8"))
