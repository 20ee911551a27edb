"""classify on numeric feature sequences: sensor readings, audio frames, any (T, F) series.

A user file (``data.format: sequences-jsonl``) holds one JSON object per line:

    {"features": [[0.1, 2.0], [0.3, 1.8], ...], "label": "walking"}
    {"features": [0.1, 0.3, 0.2, ...], "label": "sine"}          (one feature per step)

``features`` (``data.features_column``) is a list of time steps, each a list of F numbers
(the same F on every line) or a single number; the label key is ``data.label_column``.
Sequences may differ in length (``data.max_tokens_per_example`` keeps the first N
steps of each). Each feature is z-normalized, ``x' = (x - mean) / std``,
with the mean and standard deviation of that feature over every time step of the
training split (a constant feature gets std 1); the statistics are saved with the run
(``features.json``), so a bundle normalizes new inputs the same way.

The Classifier then reads the normalized (B, T, F) steps through a linear input
projection to ``model.embedding_dim`` in place of the token embedding; encoder, pooling
and head are the text classifier's (see :mod:`seqlab.tasks.classify`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seqlab.data import sources, splitting
from seqlab.errors import DataError

FORMAT = "sequences-jsonl"
FEATURES_FILE = "features.json"  # the normalization statistics, beside the weights


@dataclass(frozen=True)
class FeatureExample:
    """One sequence: its z-normalized steps (T, F) float32, T >= 1, and its label id."""

    features: Tensor
    label: int


def read_sequences(path: str | Path, features_key: str = "features",
                   label_key: str = "label") -> Iterator[tuple[list[list[float]], str]]:
    """Yield ``(steps, label)`` per non-blank line: steps as T lists of F floats (T >= 1).

    Raises DataError naming the file and line for bad JSON, a missing key, an empty or
    ragged sequence, a value that is not a finite number, or F differing from earlier lines."""
    width = None
    for number, line in sources.read_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg}); expected one object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: got {type(record).__name__}; expected a JSON object")
        for key in (features_key, label_key):
            if record.get(key) is None or record.get(key) == "":
                raise DataError(f"{where}: no {key!r}; the record has keys {sorted(record)}")
        steps = check_steps(record[features_key], where, features_key)
        if width is not None and len(steps[0]) != width:
            raise DataError(f"{where}: {len(steps[0])} features per step; expected {width}, as on the lines before")
        width = len(steps[0])
        yield steps, str(record[label_key])


def check_steps(value: object, where: str, key: str) -> list[list[float]]:
    """A features value as T lists of F floats, or a DataError saying what is wrong."""
    expected = f"expected {key!r} to be a non-empty list of numbers or of equal-length lists of numbers"
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: {expected}, got {value!r:.60}")
    steps = [step if isinstance(step, list) else [step] for step in value]
    width = len(steps[0])
    for t, step in enumerate(steps):
        if len(step) != width or not step:
            raise DataError(f"{where}: step {t} has {len(step)} features, step 0 has {width}; {expected}")
        for x in step:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise DataError(f"{where}: step {t} holds {x!r}; {expected} (finite)")
    return [[float(x) for x in step] for step in steps]


@dataclass(frozen=True)
class Normalizer:
    """Per-feature z-normalization: ``(x - mean) / std``, fitted on the training split."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_features(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[Sequence[float]]]) -> Normalizer:
        """The mean and (population) std of each feature over every step of ``sequences``."""
        steps = torch.tensor([step for seq in sequences for step in seq], dtype=torch.float64)  # (sum T, F)
        std = steps.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-12, std, torch.ones_like(std))  # a constant feature stays (x - mean)
        return cls(tuple(steps.mean(dim=0).tolist()), tuple(std.tolist()))

    def __call__(self, steps: Sequence[Sequence[float]]) -> Tensor:
        """T steps of F numbers -> (T, F) float32, normalized."""
        x = torch.tensor(steps, dtype=torch.float64)  # (T, F)
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise DataError(f"a sequence of shape {tuple(x.shape)}; the model reads (T, {self.num_features}) steps")
        mean, std = torch.tensor(self.mean, dtype=torch.float64), torch.tensor(self.std, dtype=torch.float64)
        return ((x - mean) / std).float()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"num_features": self.num_features, "mean": list(self.mean),
                                    "std": list(self.std)}) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Normalizer:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(float(x) for x in saved["mean"]), tuple(float(x) for x in saved["std"]))
        except FileNotFoundError:
            raise DataError(f"{path} is missing; the run dir is incomplete") from None
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: expected {{\"mean\": [...], \"std\": [...]}} ({err})") from None


@dataclass(frozen=True)
class FeatureData:
    """The three splits, normalized, and what they were normalized and labeled with."""

    train: list[FeatureExample]
    valid: list[FeatureExample]
    test: list[FeatureExample]
    normalizer: Normalizer
    labels: list[str]  # label id -> label, sorted, from the training split
    split: dict[str, list[int]]  # split -> row numbers in its source
    about: dict[str, object]

    @property
    def num_features(self) -> int:
        return self.normalizer.num_features

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def save(self, run_dir: Path) -> None:
        """Write features.json, labels.json and split.json into the run dir."""
        self.normalizer.save(run_dir / FEATURES_FILE)
        (run_dir / "labels.json").write_text(json.dumps(self.labels, ensure_ascii=False) + "\n", encoding="utf-8")
        splitting.save_split(self.split, run_dir / "split.json", **self.about)


def encode_splits(examples: dict[str, list[tuple[list[list[float]], str]]], split: dict[str, list[int]],
                  about: dict[str, object], caps: dict[str, int | None] | None = None) -> FeatureData:
    """Fit the normalizer and the label list on train; normalize and label all three splits.
    ``caps``: how many first steps each split keeps (``classify_data.eval_cap``); none given: all."""
    caps = caps or {}
    examples = {name: [(steps[:caps.get(name)], label) for steps, label in rows] for name, rows in examples.items()}
    if not examples["train"]:
        raise DataError(f"{about['sources']['train']}: the training split is empty; expected labeled sequences")
    normalizer = Normalizer.fit([steps for steps, _ in examples["train"]])
    labels = sorted({label for _, label in examples["train"]})
    ids = {label: i for i, label in enumerate(labels)}

    def encode(name: str) -> list[FeatureExample]:
        splitting.check_split_labels(labels, (label for _, label in examples[name]), name)
        return [FeatureExample(normalizer(steps), ids[label]) for steps, label in examples[name]]

    return FeatureData(encode("train"), encode("valid"), encode("test"), normalizer, labels, split, about)


def pad_features(sequences: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """B sequences (T_b, F) -> zero-padded (B, T, F) float32 and lengths (B,) int64."""
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True), lengths
