"""word2vec's corpus: the training text as word ids, line by line, cut to a vocabulary.

The text is a registry corpus (``data.name``: word2vec_lee, imdb) or the user's plain text
file (``data.train``), one sentence or document per line; words are runs of ``\\w``
(punctuation dropped), lower-cased if ``data.lowercase``. See :mod:`seqlab.tasks.word2vec`.

And what a training step draws from it: which occurrences subsampling keeps
(:func:`keep_probabilities`), the noise words (:class:`NoiseSampler`) and each center's
context window (:func:`window_chunks`).
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


# ----------------------------------------------------------------------------- what a step trains on


def keep_probabilities(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """(V,) chance of keeping each occurrence of a word: the C tool's (sqrt(f/(s·T)) + 1)·(s·T)/f
    for count f of T words in all, capped at 1; all ones when ``sample`` is 0."""
    if sample == 0:
        return torch.ones(len(counts), dtype=torch.float64)
    threshold = sample * counts.sum().item()
    f = counts.double()
    return ((f / threshold).sqrt() + 1.0).mul(threshold / f).clamp(max=1.0)


class NoiseSampler:
    """Draws noise words from the unigram distribution raised to 0.75, by Walker's alias method
    (Vose's construction): each draw is one uniform number u·V whose integer part picks a column
    and whose fraction picks the column's own word (below its ``threshold``) or its ``alias``.
    Exact, like searching the cumulative distribution (gensim's way), at a constant cost per draw
    instead of a binary search (``benchmarks/word2vec_parts.py`` times both)."""

    def __init__(self, counts: torch.Tensor) -> None:
        weights = counts.double() ** 0.75
        if not bool((weights > 0).any()):
            raise ValueError("noise words need a positive count for at least one word")
        self.size = len(weights)
        scaled = (weights * (self.size / weights.sum())).tolist()  # mean 1: a column holds 1 of probability
        share, alias = [1.0] * self.size, list(range(self.size))
        small = [i for i, p in enumerate(scaled) if p < 1.0]
        large = [i for i, p in enumerate(scaled) if p >= 1.0]
        while small and large:
            s, word = small.pop(), large[-1]
            share[s], alias[s] = scaled[s], word  # column s: word s with scaled[s], the rest from a large word
            scaled[word] -= 1.0 - scaled[s]
            if scaled[word] < 1.0:
                small.append(large.pop())
        # what is left (rounding) keeps its own word whole
        self.threshold = torch.arange(self.size, dtype=torch.float64) + torch.tensor(share, dtype=torch.float64)
        self.alias = torch.tensor(alias, dtype=torch.long)

    def to(self, device: torch.device) -> NoiseSampler:
        self.threshold, self.alias = self.threshold.to(device), self.alias.to(device)
        return self

    def probabilities(self) -> torch.Tensor:
        """(V,) the distribution the table draws from (for tests): each column's share to its
        word, the rest to its alias, over V columns."""
        share = self.threshold - torch.arange(self.size, dtype=torch.float64, device=self.threshold.device)
        p = share.clone()
        p.index_add_(0, self.alias, 1.0 - share)
        return p / self.size

    def draw(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Noise word ids of ``shape``; one float64 uniform number per draw from ``generator``."""
        u = torch.rand(shape, generator=generator, device=self.alias.device, dtype=torch.float64).mul_(self.size)
        column = u.long().clamp_(max=self.size - 1)
        return torch.where(u < self.threshold.take(column), column, self.alias.take(column))


@dataclass
class Chunk:
    """The pairs of one step: for each prediction, where its input vectors come from and its target."""

    inputs: torch.Tensor  # per pair: (P,) context word ids; grouped: (N, 2r) context ids of each center of reach r
    input_mask: torch.Tensor | None  # grouped: (N, 2r) 1 for a real context word; per pair: None
    targets: torch.Tensor  # (P,) or (N,) the center word ids


def window_chunks(ids: torch.Tensor, lines: torch.Tensor, start: int, stop: int, window: int, grouped: bool,
                  generator: torch.Generator) -> list[Chunk]:
    """The predictions of the centers ``ids[start:stop]`` (the epoch's kept words), each with a
    reduced window ``window - b``, b ~ U{0..window-1}, not crossing its line.

    ``grouped`` (CBOW, skip-gram with shared noise words): one chunk per reach r, a row of 2r
    context slots per center that has any context word (centers of one reach together, in
    corpus order, so a row carries no padding beyond line and corpus ends); else one chunk of
    (context, center) pairs, one per prediction.

    The full 2·window context of every center is gathered once; grouped, the centers are then
    ordered by reach (a stable sort), so each reach's chunk is a block of rows and its middle
    2r columns, a view, where a loop of masks per reach took five times the operations."""
    device = ids.device
    centers = torch.arange(start, stop, device=device)  # (n,) positions
    reach = window - torch.randint(0, window, (len(centers),), generator=generator, device=device)  # (n,)
    offsets = torch.cat([torch.arange(-window, 0, device=device), torch.arange(1, window + 1, device=device)])
    positions = centers.unsqueeze(1) + offsets  # (n, 2·window): columns window-r ..< window+r reach r
    valid = (positions >= 0) & (positions < len(ids))
    positions.clamp_(0, len(ids) - 1)
    valid &= lines[positions] == lines[centers].unsqueeze(1)
    if not grouped:  # every (context, center) pair within the center's reach, in corpus order
        inside = valid & (offsets.abs() <= reach.unsqueeze(1))
        return [Chunk(ids[positions][inside], None, ids[centers].unsqueeze(1).expand_as(inside)[inside])]
    # a center has a context word at any reach iff it has one next to it
    has = valid[:, window - 1] | valid[:, window]
    if not bool(has.all()):
        positions, valid, centers, reach = positions[has], valid[has], centers[has], reach[has]
    order = torch.argsort(reach, stable=True)
    context, valid, targets = ids[positions[order]], valid[order], ids[centers[order]]
    chunks, first = [], 0
    for r, rows in enumerate(torch.bincount(reach, minlength=window + 1).tolist()):
        if r == 0 or rows == 0:
            continue
        block, columns = slice(first, first + rows), slice(window - r, window + r)
        first += rows
        chunks.append(Chunk(context[block, columns], valid[block, columns], targets[block]))
    return chunks
