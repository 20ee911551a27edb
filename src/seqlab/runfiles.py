"""A run dir's files, read back: its resolved config, its weights (safetensors, checked name
by name and shape by shape) and the vocabularies, labels and columns its task's
``data.save(run_dir)`` wrote. :mod:`seqlab.bundle` builds predictors from them; every
problem is a DataError or ConfigError naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from seqlab import config as recipes
from seqlab.config import Config
from seqlab.data import tokenize
from seqlab.data.generate import GENERATORS
from seqlab.data.vocab import Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import classify, classify_features, forecast_data
from seqlab.tasks.forecast_data import Columns
from seqlab.tasks.seq2seq_data import TargetText

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
# The command that fits each task's bundle, for errors that point the user the right way.
COMMAND_FOR_TASK = {"classify": "predict", "tag": "predict", "seq2seq": "translate", "lm": "generate",
                    "forecast": "forecast", "word2vec": "similar"}


def read_config(path: str | Path) -> tuple[Path, Config]:
    """Check that ``path`` is a run dir and return it with its resolved config."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a run dir (no such folder); expected a folder written by seqlab train")
    if not (run_dir / CONFIG).is_file():
        raise DataError(f"{run_dir}: not a run dir: {CONFIG} is missing (seqlab train writes it first)")
    try:
        cfg = recipes.load(run_dir / CONFIG)
    except ConfigError as err:
        raise ConfigError(f"{run_dir / CONFIG}: {err}") from None
    return run_dir, cfg


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``path`` (safetensors) into ``model``, checking every name and shape first.

    The file is read as bytes and parsed in memory, so nothing is mapped or written.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    if not path.is_file():
        raise DataError(f"{path} is missing: the run has no final weights (did training finish?)")
    try:
        tensors = load_bytes(path.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise DataError(f"{path} is corrupted or truncated: {err}") from None
    expected = model.state_dict()
    missing = [name for name in expected if name not in tensors]
    unexpected = [name for name in tensors if name not in expected]
    if missing or unexpected:
        raise DataError(f"{path} does not match {CONFIG}: missing parameters {missing[:5]}, "
                        f"unexpected parameters {unexpected[:5]}")
    for name, tensor in expected.items():
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise DataError(f"{path} does not match {CONFIG}: parameter {name!r} has shape "
                            f"{tuple(tensors[name].shape)} in the file, the config builds {tuple(tensor.shape)}")
    model.load_state_dict(tensors)


def read_list(path: Path) -> list[str]:
    """A JSON list of strings (labels.json, tags.json)."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} is missing; the run dir is incomplete") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a JSON list ({err})") from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items) or not items:
        raise DataError(f"{path}: expected a non-empty JSON list of strings")
    return items


@dataclass(frozen=True)
class Saved:
    """What a task's data.save() wrote, read back: the pieces its build_model needs."""

    tokenizer: tokenize.Tokenizer | None = None
    vocab: Vocab | None = None
    labels: tuple[str, ...] = ()  # classify: label id -> label
    tags: tuple[str, ...] = ()  # tag: tag id -> tag
    src_vocab: Vocab | None = None
    tgt_vocab: Vocab | None = None
    char_vocab: Vocab | None = None  # tag: the characters words are spelled with (char encoder)
    conditions: tuple[str, ...] = ()  # lm: class id -> class name, for conditioned models
    normalizer: classify_features.Normalizer | None = None  # classify on feature sequences: their z-normalization (features.json)
    train: tuple = ()  # no training examples in a bundle: build_model sizes nothing from them here
    scored_as_text: bool = False  # seq2seq: a corpus run, whose model detokenizes for BLEU/chrF
    columns: Columns | None = None  # forecast: input and target columns, their normalization, the time step

    def target_text(self) -> TargetText:
        return TargetText(self.tgt_vocab, self.tokenizer)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def num_features(self) -> int:
        return self.normalizer.num_features

    @property
    def num_tags(self) -> int:
        return len(self.tags)


def read_saved(run_dir: Path, cfg: Config) -> Saved:
    """Read the vocabulary files each task's data.save() writes (see tasks/*.py)."""
    if cfg.task == "classify" and classify.reads_features(cfg):
        return Saved(normalizer=classify_features.Normalizer.load(run_dir / classify_features.FEATURES_FILE),
                      labels=tuple(read_list(run_dir / "labels.json")))
    if cfg.task == "classify":
        return Saved(tokenizer=tokenize.load(run_dir / "tokenizer.json", cfg.data.tokenizer),
                      vocab=Vocab.load(run_dir / "vocab.json"), labels=tuple(read_list(run_dir / "labels.json")))
    if cfg.task == "tag":
        chars = run_dir / "chars.json"  # written when the model spells words (model.char_encoder)
        return Saved(vocab=Vocab.load(run_dir / "vocab.json"), tags=tuple(read_list(run_dir / "tags.json")),
                      char_vocab=Vocab.load(chars) if cfg.model.char_encoder != "none" else None)
    if cfg.task == "lm":
        conditions = run_dir / "conditions.json"
        return Saved(tokenizer=tokenize.load(run_dir / "tokenizer.json", cfg.data.tokenizer),
                      vocab=Vocab.load(run_dir / "vocab.json"),
                      conditions=tuple(read_list(conditions)) if conditions.is_file() else ())
    if cfg.task == "forecast":
        return Saved(columns=Columns.load(run_dir / forecast_data.FILE))
    if cfg.task == "seq2seq":
        return Saved(tokenizer=tokenize.load(run_dir / "tokenizer.json", cfg.data.tokenizer),
                      src_vocab=Vocab.load(run_dir / "src_vocab.json"), tgt_vocab=Vocab.load(run_dir / "tgt_vocab.json"),
                      scored_as_text=cfg.data.name not in GENERATORS)
    command = COMMAND_FOR_TASK.get(cfg.task)
    hint = f" (use seqlab {command})" if command else ""
    raise ConfigError(f"{run_dir / CONFIG}: seqlab.load has no predictor for task {cfg.task!r}{hint}")
