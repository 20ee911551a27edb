"""tag's data: sentences with one tag per token, from a generator, a registry treebank or
the user's CoNLL-U files, limited (seeded) and encoded with vocabularies built from train.

See :mod:`seqlab.tasks.tag` for the model and its metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seqlab import initialize
from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources, splitting
from seqlab.data.generate import GENERATORS, generate
from seqlab.data.vocab import Vocab
from seqlab.errors import ConfigError, DataError

SYNCED_GENERATORS = ("odd-count-mod3", "entities-bio")  # generated datasets with one tag per token
# Registry treebanks this task reads: split -> the dataset's official split.
DATASETS = {"ud_english_ewt": {"train": "train", "valid": "dev", "test": "test"}}


@dataclass(frozen=True)
class TagExample:
    """One sequence: token ids, a tag id for every token, and (with a char encoder) each
    token's character ids."""

    tokens: list[int]
    tags: list[int]
    chars: list[list[int]] | None = None


@dataclass(frozen=True)
class TagData:
    """The three splits, encoded, and the vocabularies they were encoded with."""

    train: list[TagExample]
    valid: list[TagExample]
    test: list[TagExample]
    vocab: Vocab  # token vocabulary, built from the training split; PAD_ID is padding
    tags: list[str]  # tag id -> tag, from the training split
    char_vocab: Vocab | None = None  # characters of the training tokens (None: no char encoder)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_tags(self) -> int:
        return len(self.tags)

    def save(self, run_dir: Path) -> None:
        """Write vocab.json, tags.json (and chars.json) into the run dir, so predictions can be decoded."""
        self.vocab.save(run_dir / "vocab.json")
        (run_dir / "tags.json").write_text(json.dumps(self.tags, ensure_ascii=False) + "\n", encoding="utf-8")
        if self.char_vocab is not None:
            self.char_vocab.save(run_dir / "chars.json")


Sentences = list[tuple[list[str], list[str]]]  # (tokens, tags) per sentence, as the readers give them


def load_data(cfg: Config) -> TagData:
    """Read (or generate) the splits named by ``cfg.data``, limit them (seeded), build the word
    and character vocabularies and the tag list from train, and encode all three."""
    d = cfg.data
    splits, described = split_sentences(cfg)
    if not splits["train"]:
        raise DataError(f"{described['train']}: the training split is empty; expected tagged sentences")
    words = {name: [[w.lower() for w in tokens] if d.lowercase else tokens for tokens, _ in rows]
             for name, rows in splits.items()}
    vocab = initialize.extended_vocab(cfg, Vocab.build(words["train"], min_freq=d.min_freq, max_size=d.max_vocab))
    char_vocab = None
    if cfg.model.char_encoder != "none":  # spelled from the original tokens: case is a strong cue
        char_vocab = Vocab.build(list(token) for tokens, _ in splits["train"] for token in tokens)
    tags = sorted({tag for _, tag_seq in splits["train"] for tag in tag_seq})
    tag_ids = {tag: i for i, tag in enumerate(tags)}

    def encode(name: str) -> list[TagExample]:
        unseen = sorted({tag for _, tag_seq in splits[name] for tag in tag_seq} - set(tag_ids))
        if unseen:
            raise DataError(f"{described[name]}: tags {unseen} do not occur in the training split ({tags})")
        return [TagExample(vocab.encode(token_words), [tag_ids[tag] for tag in tag_seq],
                           None if char_vocab is None else [char_vocab.encode(list(token)) for token in tokens])
                for token_words, (tokens, tag_seq) in zip(words[name], splits[name])]

    return TagData(encode("train"), encode("valid"), encode("test"), vocab, tags, char_vocab)


def split_sentences(cfg: Config) -> tuple[dict[str, Sentences], dict[str, str]]:
    """Each split's (tokens, tags) sentences as load_data reads them, limited (seeded) but not
    encoded; and where each comes from."""
    splits, described = _read_splits(cfg)
    splitting.limit_splits(splits, cfg.data.limit_train, cfg.data.limit_eval, cfg.data_seed)
    return splits, described


def _read_splits(cfg: Config) -> tuple[dict[str, Sentences], dict[str, str]]:
    """Each split's sentences, and where each comes from (for error messages)."""
    d = cfg.data
    if d.name is not None and d.train is not None:
        raise ConfigError(f"data.train: set to {d.train!r} while data.name is {d.name!r}; "
                          "set data.name=null to train on your own files, or drop data.train")
    if d.name in SYNCED_GENERATORS:
        sizes = {"train": d.num_train, "valid": d.num_valid, "test": d.num_test}
        return ({split: [(src.split(), tgt.split()) for src, tgt in generate(
                    d.name, num, seed=f"{d.name}/{split}/{cfg.data_seed}", min_len=d.min_len, max_len=d.max_len)]
                 for split, num in sizes.items()}, {split: f"{d.name}/{split}" for split in sizes})
    if d.name in DATASETS:
        if d.tag_column != "upos":
            raise ConfigError(f"data.tag_column: the registry dataset {d.name!r} gives UPOS tags, so expected "
                              f"'upos', got {d.tag_column!r}; for other columns point data.train/valid/test "
                              "at the .conllu files with data.name=null")
        described = {split: f"{d.name}/{official}" for split, official in DATASETS[d.name].items()}
        return {split: registry.load(d.name, official) for split, official in DATASETS[d.name].items()}, described
    if d.name is not None:
        known = [*SYNCED_GENERATORS, *DATASETS]
        raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'tag'"
                          f"{did_you_mean(str(d.name), [*known, *GENERATORS])}; known: {', '.join(known)} "
                          "(or data.name=null with data.train=your .conllu file)")
    return _read_user_files(cfg)


def _read_user_files(cfg: Config) -> tuple[dict[str, Sentences], dict[str, str]]:
    """The user's CoNLL-U files; a missing valid/test split is carved from train with the seed."""
    d = cfg.data
    if d.train is None:
        raise ConfigError("data.train: expected a path to your training .conllu file (data.name is null), got null")
    if d.format != "conllu":
        raise ConfigError(f"data.format: the tag task reads CoNLL-U files, so expected 'conllu', got {d.format!r}")
    if d.tag_column not in sources.CONLLU_TAG_COLUMNS:
        raise ConfigError(f"data.tag_column: expected one of {', '.join(sources.CONLLU_TAG_COLUMNS)}, got "
                          f"{d.tag_column!r}{did_you_mean(d.tag_column, sources.CONLLU_TAG_COLUMNS)}")
    paths = {name: path for name, path in (("train", d.train), ("valid", d.valid), ("test", d.test)) if path}
    splits = {}
    for name, path in paths.items():
        splits[name] = list(sources.read_conllu(path, d.tag_column))
        if splits[name] and all(tag == "_" for _, tags in splits[name] for tag in tags):
            raise DataError(f"{path}: the {d.tag_column} column is '_' (empty) on every word; expected tags "
                            f"there (data.tag_column: {', '.join(sources.CONLLU_TAG_COLUMNS)})")
    described = {name: str(path) for name, path in paths.items()}
    names, split, _ = splitting.carve_missing_splits(splits, described, d.valid_fraction, d.test_fraction, cfg.data_seed)
    cut = [name for name in ("train", "valid", "test") if names[name] == "train"]  # train and what it gave up
    for name in cut if len(cut) > 1 else ():
        described[name] = f"{d.train} ({name}, carved with seed {cfg.data_seed})"
    return {name: [splits[names[name]][i] for i in split[name]] for name in split}, described
