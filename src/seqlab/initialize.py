"""Weights from elsewhere that start a model, applied once when a run begins.

- ``model.init_from: RUN`` (classify): a trained ``lm`` run's token embedding and
  recurrent layers become the classifier's (pre-training a language model on the task's
  text, then fine-tuning it as a classifier: Howard & Ruder 2018, ULMFiT; Dai & Le 2015).
  The classifier then reads text with that run's tokenizer and vocabulary, so each token
  id means what it meant to the language model; its own ``data.min_freq``/``max_vocab``
  do not apply. The two must agree on ``model.encoder``, ``embedding_dim``,
  ``hidden_size``, ``num_layers`` and ``data.tokenizer``, and the classifier must read
  left to right only (``model.bidirectional: false``) as the language model did.
- ``model.embedding.pretrained: PATH`` (classify, tag, lm): word vectors in the word2vec
  text format (or binary, for a file ending in ``.bin``; :mod:`seqlab.embeddings` reads
  both), or a seqlab ``word2vec`` run dir, start the token embedding. Each vocabulary word takes the vector of the same word
  in the file, or else of its lower-cased form; the others (and the specials) keep their
  random start. The report says how many vocabulary words were found and what share of
  the training tokens they cover. ``model.embedding.freeze: true`` keeps the embedding
  fixed during training (an lm with tied embeddings then keeps its output matrix fixed too).
  ``model.embedding.extend_vocab: true`` (classify, tag) adds the file's words that the
  training split lacks to the vocabulary, after the training words, so a word first seen
  in valid or test has its pretrained vector instead of ``<unk>`` (as GloVe is commonly
  used); with a lower-casing tokenizer only the file's lower-case words are added.

The loop calls :func:`initialize` after building the model: copying happens for a new
run only (a resumed run's checkpoint holds its weights), freezing every time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab.config import Config
from seqlab.data import tokenize
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, SPECIALS, Vocab
from seqlab.errors import ConfigError, DataError

LM_KEYS = ("encoder", "embedding_dim", "hidden_size", "num_layers")  # must match between an lm run and its classifier
EMBEDDING_TASKS = ("classify", "tag", "lm")  # tasks with one token embedding that pretrained vectors can start


def initialize(cfg: Config, model: nn.Module, data: Any, fresh: bool) -> list[str]:
    """Apply ``model.init_from`` and ``model.embedding`` to a built model; returns report lines.
    ``fresh``: a new run (copy weights); False: a resumed one (only freeze)."""
    notes = []
    if cfg.model.embedding.extend_vocab:
        check_extend_vocab(cfg)
    if fresh and cfg.model.init_from is not None:
        notes.append(init_from_lm(cfg, model))
    if fresh and cfg.model.embedding.pretrained is not None:
        notes.append(load_pretrained(cfg, model, data))
    if cfg.model.embedding.freeze:
        embedding, _, _ = word_embedding(cfg, model, data, "model.embedding.freeze")
        embedding.weight.requires_grad_(False)
    return notes


# -- model.init_from: an lm run ----------------------------------------------------------


def lm_run(cfg: Config) -> tuple[Path, Config]:
    """The lm run dir that ``model.init_from`` names and its config, checked against ``cfg``."""
    from seqlab.bundle import read_config

    m = cfg.model  # (Config refuses init_from under any task but classify: config.TASK_ONLY_MODEL_KEYS)
    try:
        run_dir, lm_cfg = read_config(m.init_from)
    except DataError as err:
        raise ConfigError(f"model.init_from: {err}") from None
    if lm_cfg.task != "lm":
        raise ConfigError(f"model.init_from: {run_dir} is a {lm_cfg.task} run; expected an lm run")
    different = [f"model.{key} is {getattr(lm_cfg.model, key)!r} there and {getattr(m, key)!r} here"
                 for key in LM_KEYS if getattr(lm_cfg.model, key) != getattr(m, key)]
    if m.bidirectional:
        different.append("model.bidirectional is true here, and the language model reads left to right only")
    if lm_cfg.model.condition != "none":
        different.append(f"model.condition is {lm_cfg.model.condition!r} there; expected none")
    if lm_cfg.data.tokenizer != cfg.data.tokenizer:
        different.append(f"data.tokenizer is {lm_cfg.data.tokenizer!r} there and {cfg.data.tokenizer!r} here")
    if cfg.data.format == "sequences-jsonl" and cfg.data.name is None:
        different.append("data.format is sequences-jsonl here: a classifier of feature sequences has no tokens")
    if different:
        raise ConfigError(f"model.init_from: {run_dir} does not fit this model: " + "; ".join(different))
    return run_dir, lm_cfg


def lm_vocabulary(cfg: Config) -> tuple[tokenize.Tokenizer, Vocab]:
    """The tokenizer and vocabulary of the lm run ``model.init_from`` names."""
    run_dir, lm_cfg = lm_run(cfg)
    return tokenize.load(run_dir / "tokenizer.json", lm_cfg.data.tokenizer), Vocab.load(run_dir / "vocab.json")


@torch.no_grad()
def init_from_lm(cfg: Config, model: nn.Module) -> str:
    """Copy the lm run's ``embedding.*`` and ``encoder.*`` weights into the classifier."""
    from seqlab.bundle import WEIGHTS, load_weights
    from seqlab.tasks.lm import build_model as build_lm

    run_dir, lm_cfg = lm_run(cfg)
    _, vocab = lm_vocabulary(cfg)
    lm = build_lm(lm_cfg, _LMSizes(len(vocab)))
    load_weights(lm, run_dir / WEIGHTS)  # checks every name and shape against the lm's config
    source = {name: tensor for name, tensor in lm.state_dict().items() if name.startswith(("embedding.", "encoder."))}
    target = {name: tensor for name, tensor in model.state_dict().items()
              if name.startswith(("embedding.", "encoder."))}
    if source.keys() != target.keys() or any(source[k].shape != target[k].shape for k in source):
        mismatch = sorted(set(source) ^ set(target)) or [k for k in source if source[k].shape != target[k].shape]
        raise ConfigError(f"model.init_from: {run_dir}'s embedding and encoder do not fit this model's "
                          f"(first difference: {mismatch[0]!r}); expected the same architecture")
    for name, tensor in source.items():
        target[name].copy_(tensor.to(target[name].device))
    count = sum(tensor.numel() for tensor in source.values())
    return (f"model.init_from: embedding and {lm_cfg.model.num_layers}-layer {lm_cfg.model.encoder} encoder "
            f"({count:,} parameters) from {run_dir}")


class _LMSizes:
    """What lm.build_model reads from its data, for rebuilding an lm run's model without its corpus."""

    conditions: list[str] = []

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size


# -- model.embedding.pretrained: word vectors ------------------------------------------------


def word_embedding(cfg: Config, model: nn.Module, data: Any,
                   key: str) -> tuple[nn.Embedding, Vocab, Iterable[Sequence[int]]]:
    """The task's token embedding, its vocabulary and the training split's token ids."""
    from seqlab.tasks.lm import TokenStream

    embedding = model.embedding if cfg.task in EMBEDDING_TASKS else None
    if not isinstance(embedding, nn.Embedding):
        what = "reads feature sequences" if cfg.task == "classify" else f"is {cfg.task!r}"
        raise ConfigError(f"{key}: the model has no single token embedding to start (the task {what}); pretrained "
                          f"vectors start the embedding of {', '.join(EMBEDDING_TASKS)} models; expected null")
    train = data.train
    ids = [train.tokens] if isinstance(train, TokenStream) else (example.tokens for example in train)
    return embedding, data.vocab, ids


def read_vectors(path: str) -> Any:
    """The WordVectors of ``model.embedding.pretrained``: a seqlab word2vec run dir, or a
    word2vec-format file (binary if it ends in .bin). Data loading (extend_vocab) and
    weight loading both ask for them; the last file read is kept, keyed by its path and
    modification time, so a large vectors file is parsed once per run."""
    where = Path(path)
    if not where.exists():
        raise DataError(f"model.embedding.pretrained: {path}: no such file or folder; expected word vectors in the "
                        "word2vec text or binary format, or a seqlab word2vec run dir (`seqlab train word2vec-imdb "
                        f"--out {path}` makes one)")
    stamped = max((f.stat().st_mtime_ns for f in where.iterdir()), default=0) if where.is_dir() \
        else where.stat().st_mtime_ns
    return _load_vectors(str(path), stamped)


@functools.lru_cache(maxsize=1)
def _load_vectors(path: str, stamped: int) -> Any:
    from seqlab.embeddings import WordVectors

    if Path(path).is_dir():
        return WordVectors.from_run(path)
    return WordVectors.load_word2vec_format(path, binary=path.endswith(".bin"))


def extended_vocab(cfg: Config, vocab: Vocab) -> Vocab:
    """``vocab`` (from the training split) followed by the pretrained words it lacks, when
    ``model.embedding.extend_vocab`` asks for them (in the file's order: for word2vec files,
    most frequent first; only lower-case words when ``data.lowercase``); else ``vocab``."""
    e = cfg.model.embedding
    if not e.extend_vocab:
        return vocab
    check_extend_vocab(cfg)
    new = [word for word in read_vectors(e.pretrained).words
           if word not in vocab and not (cfg.data.lowercase and word != word.lower())]
    return Vocab([*vocab.itos, *new]) if new else vocab


def check_extend_vocab(cfg: Config) -> None:
    """A ConfigError unless ``model.embedding.extend_vocab`` has vectors to add and a task whose vocabulary it extends."""
    if cfg.model.embedding.pretrained is None:
        raise ConfigError("model.embedding.extend_vocab: adds the words of model.embedding.pretrained, which is "
                          "null; set it, or expected false")
    if cfg.task not in ("classify", "tag") or cfg.model.init_from is not None:
        why = "model.init_from fixes the vocabulary to the lm's" if cfg.model.init_from else f"the task is {cfg.task!r}"
        raise ConfigError(f"model.embedding.extend_vocab: extends the vocabulary of classify and tag models ({why}); "
                          "expected false")


@torch.no_grad()
def load_pretrained(cfg: Config, model: nn.Module, data: Any) -> str:
    """Copy the vectors of ``model.embedding.pretrained`` into the token embedding; return the coverage report."""
    path = cfg.model.embedding.pretrained
    embedding, vocab, train_ids = word_embedding(cfg, model, data, "model.embedding.pretrained")
    vectors = read_vectors(path)
    if vectors.dim != embedding.embedding_dim:
        raise ConfigError(f"model.embedding.pretrained: {path} holds {vectors.dim}-dimensional vectors, and "
                          f"model.embedding_dim is {embedding.embedding_dim}; expected them equal "
                          f"(--set model.embedding_dim={vectors.dim})")
    rows, exact, lowered = [], 0, 0
    for i in range(len(SPECIALS), len(vocab)):
        word = vocab.itos[i]
        if word in vectors:
            exact += 1
        elif word.lower() in vectors:
            word, lowered = word.lower(), lowered + 1
        else:
            continue
        rows.append((i, vectors.index(word)))
    found = torch.tensor([i for i, _ in rows], dtype=torch.long)
    if rows:
        source = vectors.vectors[torch.tensor([j for _, j in rows])]  # (found, E)
        embedding.weight[found.to(embedding.weight.device)] = source.to(embedding.weight)
    if embedding.padding_idx is not None:
        embedding.weight[PAD_ID].zero_()
    counts = torch.zeros(len(vocab), dtype=torch.long)
    for ids in train_ids:
        ids = torch.as_tensor(ids, dtype=torch.long) if isinstance(ids, list) else ids  # a stream: int32, maybe mapped
        for start in range(0, len(ids), 1 << 24):  # a slice at a time: a memory-mapped stream stays on disk
            counts += torch.bincount(ids[start:start + (1 << 24)].long(), minlength=len(vocab))
    counts[[PAD_ID, SOS_ID, EOS_ID]] = 0  # not words of the text; <unk> stands for words, never covered
    total, covered = int(counts.sum()), int(counts[found].sum()) if rows else 0
    words = len(vocab) - len(SPECIALS)
    return (f"model.embedding.pretrained: {len(rows):,} of {words:,} vocabulary words found in {path} "
            f"({exact:,} as spelled, {lowered:,} lower-cased; {len(rows) / max(1, words):.1%}); they cover "
            f"{covered / max(1, total):.1%} of the {total:,} training tokens"
            + ("; the embedding is frozen" if cfg.model.embedding.freeze else ""))
