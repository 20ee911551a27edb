"""classify's data: texts (or numeric feature sequences) and labels, split and encoded.

A registry dataset (``data.name``: imdb, sst2, names) or the user's files; a split the
source lacks is carved from train with the recipe seed, and tokenizer, vocabulary and
labels come from the training split only (see :mod:`seqlab.tasks.classify`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqlab import initialize
from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources, splitting
from seqlab.data.tokenize import Tokenizer, build_tokenizer, settings_for
from seqlab.data.vocab import UNK_ID, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import classify_features

# Registry datasets this task reads: (train split, test split or None to carve one from train).
# A valid split is always carved from train, so model choices never look at the test set.
DATASETS = {
    "imdb": ("train", "test"),  # official 25k/25k
    "sst2": ("train", "dev"),  # GLUE's test split is unlabeled: its dev set is our test set
    "names": ("all", None),  # one pool of surnames: seeded 80/10/10 with the default fractions
}


@dataclass(frozen=True)
class ClassifyExample:
    """One text: its token ids (at least one) and its label id."""

    tokens: list[int]
    label: int


@dataclass(frozen=True)
class ClassifyData:
    """The three splits, encoded, and what they were encoded with."""

    train: list[ClassifyExample]
    valid: list[ClassifyExample]
    test: list[ClassifyExample]
    tokenizer: Tokenizer  # text -> tokens, built from the training split
    vocab: Vocab  # tokens -> ids, from the training split; PAD_ID is padding
    labels: list[str]  # label id -> label, sorted, from the training split
    split: dict[str, list[int]]  # split -> row numbers in its source (after carving and limits)
    about: dict[str, object]  # where the rows come from and how they were drawn (saved with the split)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json, vocab.json, labels.json and split.json into the run dir."""
        self.tokenizer.save(run_dir / "tokenizer.json")
        self.vocab.save(run_dir / "vocab.json")
        (run_dir / "labels.json").write_text(json.dumps(self.labels, ensure_ascii=False) + "\n", encoding="utf-8")
        splitting.save_split(self.split, run_dir / "split.json", **self.about)


Rows = list[tuple[str, str]]  # (text, label) records as the readers give them


def load_data(cfg: Config) -> ClassifyData:
    """Read the splits named by ``cfg.data``, carve and limit them (seeded), build the
    tokenizer, vocabulary and labels from train, and encode all three."""
    d = cfg.data
    settings = settings_for(cfg.data)  # checked before any file is read
    # model.init_from: read text as the language model did, with its tokenizer and vocabulary
    lm_vocab = initialize.lm_vocabulary(cfg) if cfg.model.init_from is not None else None
    examples, split, about = split_rows(cfg)
    caps = {name: eval_cap(cfg, name) for name in examples}  # tokens (or steps) each split keeps
    if reads_features(cfg):
        return classify_features.encode_splits(examples, split, about, caps)
    texts = [text for text, _ in examples["train"]]
    if not texts:
        raise DataError(f"{about['sources']['train']}: the training split is empty; expected labeled examples")
    tokenizer = build_tokenizer(d.tokenizer, texts, **settings) if lm_vocab is None else lm_vocab[0]
    token_lists = {name: [tokenizer.tokenize(text)[:caps[name]] for text, _ in examples[name]]
                   for name in examples}
    vocab = initialize.extended_vocab(cfg, Vocab.build(token_lists["train"], min_freq=d.min_freq,
                                                       max_size=d.max_vocab)) if lm_vocab is None else lm_vocab[1]
    labels = sorted({label for _, label in examples["train"]})
    label_ids = {label: i for i, label in enumerate(labels)}

    def encode(name: str) -> list[ClassifyExample]:
        splitting.check_split_labels(labels, (label for _, label in examples[name]), name)
        # An empty text still gets one token (<unk>), so that every pooling has a real position.
        return [ClassifyExample(vocab.encode(tokens) or [UNK_ID], label_ids[label])
                for tokens, (_, label) in zip(token_lists[name], examples[name])]

    return ClassifyData(encode("train"), encode("valid"), encode("test"), tokenizer, vocab, labels, split, about)


def split_rows(cfg: Config) -> tuple[dict[str, Rows], dict[str, list[int]], dict[str, object]]:
    """The (text, label) rows of train, valid and test as load_data reads them, carved and
    limited (seeded) but not encoded; with each split's row numbers and the description
    split.json keeps. (Texts are feature sequences for a sequences-jsonl recipe.)"""
    d = cfg.data
    rows, names, split, about = _read_splits(cfg)
    splitting.limit_splits(split, d.limit_train, d.limit_eval, cfg.data_seed)
    examples = {name: [rows[names[name]][j] for j in split[name]] for name in split}
    about.update(seed=cfg.data_seed, limit_train=d.limit_train, limit_eval=d.limit_eval)
    return examples, split, about


def eval_cap(cfg: Config, split: str = "test") -> int | None:
    """How many tokens (or steps) of a text ``split`` keeps: data.max_tokens_per_example, except for
    the scored splits (and predict's inputs, as "test") when eval.truncate is false: all of them."""
    return cfg.data.max_tokens_per_example if split == "train" or cfg.eval.truncate else None


def _read_splits(cfg: Config) -> tuple[dict[str, Rows], dict[str, str], dict[str, list[int]], dict[str, object]]:
    """The source rows, which source each split draws from, each split's row numbers and
    a description for split.json. Missing valid/test splits are carved from train."""
    d = cfg.data
    if d.name is not None and d.train is not None:
        raise ConfigError(f"data.train: set to {d.train!r} while data.name is {d.name!r}; "
                          "set data.name=null to train on your own files, or drop data.train")
    if d.name is None:
        if d.train is None:
            raise ConfigError("data.train: expected a path to your training file (data.name is null), got null")
        if d.format not in ("csv", "tsv", "jsonl", classify_features.FORMAT):
            raise ConfigError(f"data.format: task 'classify' reads csv, tsv or jsonl files (texts) or "
                              f"{classify_features.FORMAT} (numeric feature sequences), got {d.format!r}")
        paths = {"train": d.train, "valid": d.valid, "test": d.test}
        if d.format == classify_features.FORMAT:
            rows = {name: list(classify_features.read_sequences(path, d.features_column, d.label_column))
                    for name, path in paths.items() if path is not None}
        else:
            rows = {name: list(sources.read_source(path, d.format, text_column=d.text_column,
                                                   label_column=d.label_column))
                    for name, path in paths.items() if path is not None}
        described = {name: str(path) for name, path in paths.items() if path is not None}
    else:
        if d.name not in DATASETS:
            raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'classify'"
                              f"{did_you_mean(d.name, DATASETS)}; known: {', '.join(DATASETS)} "
                              "(or data.name=null with data.train=your file)")
        train_split, test_split = DATASETS[d.name]
        rows = {"train": registry.load(d.name, train_split)}
        described = {"train": f"{d.name}/{train_split}"}
        if test_split is not None:
            rows["test"], described["test"] = registry.load(d.name, test_split), f"{d.name}/{test_split}"
    names, split, about = splitting.carve_missing_splits(rows, described, d.valid_fraction, d.test_fraction, cfg.data_seed)
    return rows, names, split, about


def reads_features(cfg: Config) -> bool:
    """Does this recipe classify numeric feature sequences (rather than texts)?"""
    return cfg.data.name is None and cfg.data.format == classify_features.FORMAT
