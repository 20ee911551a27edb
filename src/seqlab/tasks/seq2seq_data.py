"""Data for the seq2seq task: generated toys, parallel corpora, the user's parallel files.

``data.name`` picks the source:

| data.name                 | pairs                                    | splits                                  |
| ------------------------- | ---------------------------------------- | --------------------------------------- |
| a generator (``dates``…)  | generated from seeds                     | num_train / num_valid / num_test        |
| ``multi30k``              | German–English image captions            | official train / val / test_2016_flickr |
| ``eng-fra``               | Tatoeba English–French sentence pairs    | one pool: valid and test carved (seeded)|
| null (``data.train``…)    | ``data.format: parallel`` files          | given, or carved from train (seeded)    |

``data.direction`` ("de-en", "en-de" for multi30k; "en-fr", "fr-en" for eng-fra; null:
the corpus's own order) says which side is the source. A parallel file holds one pair
per line, ``source<TAB>target`` (further columns are ignored); a line without a tab is an
error naming the file and line. A pair whose source or target is empty after
tokenization is **skipped**, with a warning that counts them and names the first line
(an empty source has nothing to encode); split.json records the counts.

One tokenizer serves both sides, so the run dir has one ``tokenizer.json``: ``word``
(``data.lowercase`` lower-cases both sides, so the BLEU figures are on lowercased text),
``char``, or ``bpe`` (one joint byte-level BPE model learned on the training sources and
targets together, ``data.bpe_vocab_size`` pieces). The source and target vocabularies
are separate, built from the training split only; ``data.min_freq`` and
``data.max_vocab`` apply to each side.

For corpora (not the toys) every example keeps its reference as text, which is what
BLEU and chrF score: the word tokens joined by single spaces for ``word`` ("tokenized
BLEU"), the detokenized text otherwise (for BPE, the original sentence).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources, splitting
from seqlab.data.batching import pad
from seqlab.data.generate import GENERATORS, generate
from seqlab.data.tokenize import Tokenizer, build_tokenizer
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seqlab.errors import ConfigError, DataError

TOKENIZERS = ("char", "word", "bpe")


class Corpus(NamedTuple):
    """A registry corpus as this task reads it: its languages in file order and which
    registry split serves train, valid and test (None: carved from train, seeded)."""

    languages: tuple[str, str]
    train: str
    valid: str | None
    test: str | None


CORPORA = {
    "multi30k": Corpus(("de", "en"), "train", "val", "test_2016_flickr"),
    "eng-fra": Corpus(("en", "fr"), "all", None, None),
}


class EmptyPairWarning(UserWarning):
    """Pairs with an empty source or target were skipped while loading a split."""


@dataclass(frozen=True)
class Seq2SeqExample:
    """One pair: source token ids and target token ids (no sos/eos; collate adds them);
    ``ref``: the target as the text BLEU scores ("" for generated toys, which have none)."""

    src: list[int]
    tgt: list[int]
    ref: str = ""


class TargetText:
    """Target ids or tokens -> the text BLEU and chrF score (see the module docstring)."""

    def __init__(self, vocab: Vocab, tokenizer: Tokenizer) -> None:
        self.vocab, self.tokenizer = vocab, tokenizer

    def from_tokens(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens) if self.tokenizer.kind == "word" else self.tokenizer.detokenize(list(tokens))

    def __call__(self, ids: Sequence[int]) -> str:
        """Ids (specials are dropped; <unk> stays, as the model wrote it) -> text."""
        return self.from_tokens(self.vocab.decode(ids))


@dataclass(frozen=True)
class Seq2SeqData:
    """The three splits, encoded, and what they were encoded with."""

    train: list[Seq2SeqExample]
    valid: list[Seq2SeqExample]
    test: list[Seq2SeqExample]
    tokenizer: Tokenizer  # text -> tokens, the same for source and target
    src_vocab: Vocab  # source tokens -> ids, from the training split
    tgt_vocab: Vocab  # target tokens -> ids, from the training split
    split: dict[str, list[int]] | None = None  # corpora: split -> row numbers in its source; None for toys
    about: dict[str, object] = field(default_factory=dict)  # where the rows come from (saved with the split)

    @property
    def scored_as_text(self) -> bool:
        """Corpora are scored with BLEU/chrF on text; generated toys by exact match only."""
        return self.split is not None

    def target_text(self) -> TargetText:
        return TargetText(self.tgt_vocab, self.tokenizer)

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json, src_vocab.json and tgt_vocab.json (and split.json for corpora)."""
        self.tokenizer.save(run_dir / "tokenizer.json")
        self.src_vocab.save(run_dir / "src_vocab.json")
        self.tgt_vocab.save(run_dir / "tgt_vocab.json")
        if self.split is not None:
            splitting.save_split(self.split, run_dir / "split.json", **self.about)


@dataclass(frozen=True)
class Seq2SeqBatch:
    """A padded batch. src (B, S), PAD past each length; src_lengths (B,) on the CPU;
    tgt_in (B, T) = <sos> y and tgt_out (B, T) = y <eos>, both PAD past each target;
    refs: the B reference texts (empty strings for generated toys)."""

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    refs: tuple[str, ...] = ()

    @property
    def num_tokens(self) -> int:
        """Real target positions (eos included): what the loss is averaged over."""
        return int((self.tgt_out != PAD_ID).sum())

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(self.src.to(device), self.src_lengths, self.tgt_in.to(device), self.tgt_out.to(device),
                            self.refs)


def example_length(example: Seq2SeqExample) -> int:
    """The longer side of a pair, in tokens (for train.bucket)."""
    return max(len(example.src), len(example.tgt))


def collate(examples: Sequence[Seq2SeqExample]) -> Seq2SeqBatch:
    """Pad sources and shifted targets into one batch as wide as its longest of each."""
    src, src_lengths, _ = pad([example.src for example in examples], PAD_ID)
    tgt_in, _, _ = pad([[SOS_ID, *example.tgt] for example in examples], PAD_ID)
    tgt_out, _, _ = pad([[*example.tgt, EOS_ID] for example in examples], PAD_ID)
    return Seq2SeqBatch(src, src_lengths, tgt_in, tgt_out, tuple(example.ref for example in examples))


# -- loading -------------------------------------------------------------------------


def load_data(cfg: Config) -> Seq2SeqData:
    """The three splits named by ``cfg.data``, encoded; see the module docstring."""
    d = cfg.data
    if d.tokenizer not in TOKENIZERS:
        raise ConfigError(f"data.tokenizer: task 'seq2seq' takes {', '.join(TOKENIZERS)}, got {d.tokenizer!r}")
    if d.lowercase and d.tokenizer != "word":
        raise ConfigError(f"data.lowercase: only the word tokenizer lower-cases; data.tokenizer is {d.tokenizer!r}")
    if d.name is not None and d.name in GENERATORS:
        return _load_toy(cfg)
    return _load_corpus(cfg)


def _load_toy(cfg: Config) -> Seq2SeqData:
    """Generate the three splits (each from its own seed), build the tokenizer and both
    vocabularies from train, and encode all three."""
    d = cfg.data
    if d.direction is not None:
        raise ConfigError(f"data.direction: applies to the corpora ({', '.join(CORPORA)}); "
                          f"the generated {d.name!r} has one direction, so leave it null (got {d.direction!r})")
    if d.tokenizer == "bpe":
        raise ConfigError(f"data.tokenizer: the generated {d.name!r} takes char or word, got 'bpe'")
    accepted = inspect.signature(GENERATORS[d.name]).parameters
    options = {key: getattr(d, key) for key in ("min_len", "max_len") if key in accepted}  # where the toy has them
    pairs = {
        split: generate(d.name, num, seed=f"{d.name}/{split}/{cfg.data_seed}", **options)
        for split, num in (("train", d.num_train), ("valid", d.num_valid), ("test", d.num_test))
    }
    tokenizer = build_tokenizer(d.tokenizer, **({"lowercase": d.lowercase} if d.tokenizer == "word" else {}))
    tokens = {
        split: [(tokenizer.tokenize(src), tokenizer.tokenize(tgt)) for src, tgt in pairs[split]] for split in pairs
    }
    src_vocab = Vocab.build([src for src, _ in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
    tgt_vocab = Vocab.build([tgt for _, tgt in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)

    def encode(split: str) -> list[Seq2SeqExample]:
        src = src_vocab.encode_corpus([src for src, _ in tokens[split]])  # warns if tokens are unknown
        tgt = tgt_vocab.encode_corpus([tgt for _, tgt in tokens[split]])
        return [Seq2SeqExample(s, t) for s, t in zip(src, tgt)]

    return Seq2SeqData(encode("train"), encode("valid"), encode("test"), tokenizer, src_vocab, tgt_vocab)


Pairs = list[tuple[str, str]]  # (source, target) texts as the readers give them


def _load_corpus(cfg: Config) -> Seq2SeqData:
    """Read a registry corpus or the user's parallel files, carve and limit the splits
    (seeded), tokenize, drop empty pairs, build the vocabularies from train, encode."""
    d = cfg.data
    rows, names, split, about = _read_splits(cfg)
    splitting.limit_splits(split, d.limit_train, d.limit_eval, cfg.data_seed)
    train_pairs = [rows[names["train"]][j] for j in split["train"]]
    if not train_pairs:
        raise DataError(f"{about['sources']['train']}: the training split is empty; expected sentence pairs")
    settings: dict[str, object] = {}
    if d.tokenizer == "word":
        settings = {"lowercase": d.lowercase}
    elif d.tokenizer == "bpe":  # one joint model over both sides of the training pairs
        settings = {"vocab_size": d.bpe_vocab_size}
    texts = [text for pair in train_pairs for text in pair] if d.tokenizer == "bpe" else None
    tokenizer = build_tokenizer(d.tokenizer, texts, **settings)
    tokens: dict[str, list[tuple[list[str], list[str]]]] = {}
    skipped: dict[str, int] = {}
    for name in ("train", "valid", "test"):
        kept, dropped = [], []
        for j in split[name]:
            src, tgt = (tokenizer.tokenize(text) for text in rows[names[name]][j])
            (kept if src and tgt else dropped).append((j, src, tgt))
        if dropped:
            warnings.warn(f"{about['sources'][name]}: skipped {len(dropped)} pair(s) of split {name!r} with an "
                          f"empty source or target (the first at line {dropped[0][0] + 1})", EmptyPairWarning,
                          stacklevel=2)
        split[name] = [j for j, _, _ in kept]
        tokens[name] = [(src, tgt) for _, src, tgt in kept]
        skipped[name] = len(dropped)
    src_vocab = Vocab.build([src for src, _ in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
    tgt_vocab = Vocab.build([tgt for _, tgt in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
    text = TargetText(tgt_vocab, tokenizer)

    def encode(name: str) -> list[Seq2SeqExample]:
        src = src_vocab.encode_corpus([src for src, _ in tokens[name]])  # warns if tokens are unknown
        tgt = tgt_vocab.encode_corpus([tgt for _, tgt in tokens[name]])
        refs = [text.from_tokens(tgt_tokens) for _, tgt_tokens in tokens[name]]  # from tokens: no <unk> in refs
        return [Seq2SeqExample(s, t, r) for s, t, r in zip(src, tgt, refs)]

    about.update(seed=cfg.data_seed, limit_train=d.limit_train, limit_eval=d.limit_eval, skipped_empty=skipped)
    return Seq2SeqData(encode("train"), encode("valid"), encode("test"), tokenizer, src_vocab, tgt_vocab,
                       split, about)


def _read_splits(cfg: Config) -> tuple[dict[str, Pairs], dict[str, str], dict[str, list[int]], dict[str, object]]:
    """The source pairs (turned to ``data.direction``), which source each split draws
    from, each split's row numbers and a description for split.json."""
    d = cfg.data
    if d.name is None:
        rows, described = _read_files(cfg)
    else:
        if d.name not in CORPORA:
            known = [*CORPORA, *GENERATORS]
            raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'seq2seq'{did_you_mean(d.name, known)}; "
                              f"known: {', '.join(known)} (or data.name=null with data.train=your parallel file)")
        if d.train is not None:
            raise ConfigError(f"data.train: set to {d.train!r} while data.name is {d.name!r}; "
                              "set data.name=null to train on your own files, or drop data.train")
        corpus = CORPORA[d.name]
        reverse = _reversed(d.name, corpus, d.direction)
        wanted = {"train": corpus.train, "valid": corpus.valid, "test": corpus.test}
        rows = {name: [(tgt, src) if reverse else (src, tgt) for src, tgt in registry.load(d.name, part)]
                for name, part in wanted.items() if part is not None}
        described = {name: f"{d.name}/{part}" for name, part in wanted.items() if part is not None}
    names, split, about = splitting.carve_missing_splits(rows, described, d.valid_fraction, d.test_fraction, cfg.data_seed)
    return rows, names, split, {"sources": about["sources"], "direction": d.direction,
                                "carved_from_train": about["carved_from_train"]}


def _read_files(cfg: Config) -> tuple[dict[str, Pairs], dict[str, str]]:
    d = cfg.data
    if d.train is None:
        raise ConfigError("data.train: expected a path to your parallel training file (data.name is null), got null")
    if d.format != "parallel":
        raise ConfigError(f"data.format: task 'seq2seq' reads 'parallel' files (one source<TAB>target pair per "
                          f"line), got {d.format!r}; set data.format=parallel")
    if d.direction is not None:
        raise ConfigError(f"data.direction: your files are read as source<TAB>target, so leave it null "
                          f"(got {d.direction!r}); swap the columns to translate the other way")
    paths = {"train": d.train, "valid": d.valid, "test": d.test}
    rows = {name: list(sources.read_parallel(path)) for name, path in paths.items() if path is not None}
    return rows, {name: str(path) for name, path in paths.items() if path is not None}


def _reversed(name: str, corpus: Corpus, direction: str | None) -> bool:
    """Whether ``direction`` runs against the corpus's file order; a ConfigError if it names neither."""
    forward, backward = "-".join(corpus.languages), "-".join(corpus.languages[::-1])
    if direction is None or direction == forward:
        return False
    if direction == backward:
        return True
    raise ConfigError(f"data.direction: {name} translates {forward} or {backward}, got {direction!r}"
                      f"{did_you_mean(direction, [forward, backward])}")
