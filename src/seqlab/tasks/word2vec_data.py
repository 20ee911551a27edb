"""word2vec's corpus: the training text as word ids, line by line, cut to a vocabulary.

The text is a registry corpus (``data.name``: word2vec_lee, imdb) or the user's plain text
file (``data.train``), one sentence or document per line; words are runs of ``\\w``
(punctuation dropped), lower-cased if ``data.lowercase``. See :mod:`seqlab.tasks.word2vec`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources
from seqlab.embeddings import VOCAB_FILE
from seqlab.errors import ConfigError, DataError
from seqlab.training.checkpoint import write_atomic

CORPORA = ("word2vec_lee", "imdb")  # registry datasets this task reads as text; or data.train files
WORD = re.compile(r"\w+")  # a word: a run of letters, digits and underscores (punctuation is dropped)



@dataclass
class Corpus:
    """The training text as word ids: ``ids`` (N,) in reading order, ``lines`` (N,) the
    line (sentence/document) each word came from; words outside the vocabulary dropped."""

    words: list[str]  # the vocabulary, most frequent first (ties: first seen first)
    counts: torch.Tensor  # (V,) int64, each word's count in the corpus
    ids: torch.Tensor  # (N,) int64
    lines: torch.Tensor  # (N,) int64
    raw_words: int  # words in the corpus before the vocabulary cut
    source: str  # where the text came from, in words

    def save(self, run_dir: Path) -> None:
        """vocab.json: the words and their counts (the rows of model.safetensors)."""
        text = json.dumps({"words": self.words, "counts": self.counts.tolist()}, ensure_ascii=False)
        write_atomic(run_dir / VOCAB_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def tokenize(text: str, lowercase: bool) -> list[str]:
    """The words of ``text`` (runs of ``\\w``), lower-cased if asked; punctuation is dropped."""
    return WORD.findall(text.lower() if lowercase else text)


def read_lines(cfg: Config) -> tuple[Iterable[str], str]:
    """The corpus's lines (sentences or documents) named by ``cfg.data``, and their description."""
    d = cfg.data
    if d.name == "word2vec_lee":
        if d.text_from != "all":
            raise ConfigError(f"data.text_from: word2vec_lee is one text with no training split, so expected "
                              f"'all', got {d.text_from!r}")
        return registry.load(d.name, "background"), "word2vec_lee/lee_background.cor"
    if d.name == "imdb":  # the review text; the labels play no part
        splits = ("train", "test") if d.text_from == "all" else ("train",)
        reviews = [review for split in splits for review in registry.load(d.name, split)]
        return (text.replace("<br />", " ") for text, _ in reviews), f"imdb reviews ({' + '.join(splits)})"
    if d.name is not None:
        raise ConfigError(f"data.name: task 'word2vec' reads {', '.join(CORPORA)}, got {d.name!r}"
                          f"{did_you_mean(d.name, CORPORA)} (or data.name=null with data.train=your text file)")
    if d.train is None:
        raise ConfigError("data.train: expected a path to your text (one sentence or document per line), got null")
    if d.format != "text":
        raise ConfigError(f"data.format: task 'word2vec' reads plain text files; expected text, got {d.format!r}")
    if not Path(d.train).is_file():
        raise DataError(f"{d.train}: no such file")
    return sources.read_text(d.train), str(d.train)


def build_corpus(lines: Iterable[str], min_count: int, max_vocab: int | None, lowercase: bool,
                 source: str) -> Corpus:
    """Tokenize, count, keep words seen ``min_count`` times or more (the ``max_vocab`` most
    frequent, if set) and encode; raises a DataError when fewer than two words are kept."""
    tokenized = [tokenize(line, lowercase) for line in lines]
    counts = Counter(word for words in tokenized for word in words)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: -counts[w])  # stable: ties in order
    kept = kept[:max_vocab] if max_vocab is not None else kept
    if len(kept) < 2:
        top = ", ".join(f"{w!r} x{n}" for w, n in counts.most_common(3)) or "no words at all"
        raise DataError(f"{source}: {len(kept)} distinct word(s) occur at least data.min_freq={min_count} times "
                        f"({sum(counts.values())} words in all; most frequent: {top}); word2vec needs at least 2. "
                        f"Lower data.min_freq or give more text")
    index = {word: i for i, word in enumerate(kept)}
    ids, lines_of = [], []
    for number, words in enumerate(tokenized):
        encoded = [index[w] for w in words if w in index]
        ids.extend(encoded)
        lines_of.extend([number] * len(encoded))
    return Corpus(kept, torch.tensor([counts[w] for w in kept], dtype=torch.long), torch.tensor(ids, dtype=torch.long),
                  torch.tensor(lines_of, dtype=torch.long), sum(counts.values()), source)


def load_data(cfg: Config) -> Corpus:
    """The corpus of ``cfg.data``, cut to its vocabulary (see :func:`build_corpus`)."""
    lines, source = read_lines(cfg)
    return build_corpus(lines, cfg.data.min_freq, cfg.data.max_vocab, cfg.data.lowercase, source)
