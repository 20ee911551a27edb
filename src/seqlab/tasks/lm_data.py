"""The lm task's data: token streams read in truncated-BPTT windows, or whole sequences.

See :mod:`seqlab.tasks.lm` for what each kind of data is and how its windows are cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from seqlab.config import Config, did_you_mean
from seqlab.data import registry, splitting
from seqlab.data.batching import pad
from seqlab.data.tokenize import Tokenizer, build_tokenizer, settings_for
from seqlab.data.vocab import PAD_ID, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import lm_tokens
from seqlab.tasks.lm_tokens import SPLITS, Span

DATASETS = ("tinyshakespeare", "names")  # registry datasets this task reads


# -- streams and sequences -------------------------------------------------------------


@dataclass(frozen=True)
class TokenStream:
    """One split as one long token sequence. tokens (N,): int64 in memory, or int32 read
    memory-mapped from a token file (``data.token_dir``, :mod:`seqlab.tasks.lm_tokens`);
    ``source`` names it in errors."""

    tokens: Tensor
    source: str
    bptt: int  # training window length (data.bptt)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class LMExample:
    """One sequence ``<sos> tokens <eos>`` and its class id (0 when the data has no classes)."""

    tokens: list[int]
    condition: int


@dataclass(frozen=True)
class LMBatch:
    """inputs and targets (B, T) int64, targets = the next tokens, PAD_ID where nothing is
    predicted; ``carry``: start from the state the previous batch left (stream windows after
    a pass's first); lengths (B,) on the CPU for padded sequences (None for stream windows);
    conditions (B,) class ids or None; num_tokens: the predicted tokens (not PAD_ID)."""

    inputs: Tensor
    targets: Tensor
    carry: bool
    num_tokens: int
    lengths: Tensor | None = None
    conditions: Tensor | None = None

    def to(self, device: torch.device | str) -> LMBatch:
        conditions = None if self.conditions is None else self.conditions.to(device)
        return LMBatch(self.inputs.to(device), self.targets.to(device), self.carry, self.num_tokens, self.lengths,
                       conditions)

    def __len__(self) -> int:
        """B, the rows (parallel streams or sequences)."""
        return self.inputs.shape[0]

    def rows(self, start: int, stop: int) -> LMBatch:
        """Rows ``start`` to ``stop - 1``: one process's share under DDP, whose stream rows
        stay its own from window to window (see :mod:`seqlab.training.distributed`)."""
        targets = self.targets[start:stop]  # (stop - start, T)
        return LMBatch(self.inputs[start:stop], targets, self.carry, int((targets != PAD_ID).sum()),
                       None if self.lengths is None else self.lengths[start:stop],
                       None if self.conditions is None else self.conditions[start:stop])


def collate(examples: Sequence[LMExample]) -> LMBatch:
    """Pad whole sequences into one batch: inputs drop each sequence's last token, targets its first."""
    ids, lengths, _ = pad([example.tokens for example in examples], PAD_ID)  # (B, T + 1)
    conditions = torch.tensor([example.condition for example in examples], dtype=torch.long)
    return LMBatch(ids[:, :-1], ids[:, 1:], False, int(lengths.sum()) - len(examples), lengths - 1, conditions)


def min_train_tokens(batch_size: int, bptt: int) -> int:
    """Tokens a training stream needs: ``batch_size`` rows of at least one full window (bptt + 1
    tokens), whatever the epoch's offset (< bptt)."""
    return batch_size * (bptt + 1) + bptt - 1


def check_stream(stream: TokenStream, batch_size: int | None) -> None:
    """A DataError naming the source unless the stream can be trained on (``batch_size``) or scored (None)."""
    need = 2 if batch_size is None else min_train_tokens(batch_size, stream.bptt)
    if len(stream) < need:
        if batch_size is None:
            raise DataError(f"{stream.source}: {len(stream)} tokens; scoring needs at least 2 (an input and a target)")
        raise DataError(f"{stream.source}: {len(stream)} tokens are too few for train.batch_size={batch_size} "
                        f"parallel streams of data.bptt={stream.bptt}-token windows: training needs at least {need} "
                        f"(batch_size x (bptt + 1) + bptt - 1); give more text or lower train.batch_size or data.bptt")


def train_windows(stream: TokenStream, batch_size: int, generator: torch.Generator) -> TrainWindows:
    """One training epoch: consecutive windows of ``batch_size`` parallel streams from a
    random offset in [0, bptt). Each row holds L = (N - bptt + 1) // B tokens whatever the
    offset, so every epoch has the same number of windows."""
    check_stream(stream, batch_size)
    per_row = (len(stream) - stream.bptt + 1) // batch_size  # L
    offset = int(torch.randint(stream.bptt, (1,), generator=generator))
    return TrainWindows(stream.tokens[offset:offset + per_row * batch_size].view(batch_size, per_row), stream.bptt)


class TrainWindows(Sequence[LMBatch]):
    """A training epoch's windows (as :func:`seqlab.data.batching.lm_windows` cuts them),
    each made when it is asked for: row b of every window continues row b of ``data``
    (B, L), a view of the stream, so a memory-mapped stream is read a window at a time.
    Window k: inputs are columns [k T, k T + T_k), targets the same one token on."""

    def __init__(self, data: Tensor, bptt: int) -> None:
        self.data, self.bptt = data, bptt  # (B, L)

    def __len__(self) -> int:
        return math.ceil((self.data.shape[1] - 1) / self.bptt)

    def __getitem__(self, k: int) -> LMBatch:  # type: ignore[override]
        if not -len(self) <= k < len(self):
            raise IndexError(f"window {k} of {len(self)}")
        start = (k % len(self)) * self.bptt
        size = min(self.bptt, self.data.shape[1] - 1 - start)
        targets = self.data[:, start + 1:start + 1 + size].long()  # (B, T_k); a view when the stream is int64
        return LMBatch(self.data[:, start:start + size].long(), targets, start > 0, targets.numel())

    def rows(self, start: int, stop: int) -> TrainWindows:
        """Rows ``start`` to ``stop - 1`` of every window: one process's share under DDP, still lazy."""
        return TrainWindows(self.data[start:stop], self.bptt)


def eval_windows(stream: TokenStream, batch_size: int) -> EvalWindows:
    """Every target token once: the N - 1 (input, target) pairs cut into R = min(batch_size,
    N - 1) contiguous rows of L = ceil((N - 1) / R), padded at the end, read in bptt windows."""
    check_stream(stream, None)
    n = len(stream) - 1
    rows = min(batch_size, n)
    return EvalWindows(stream.tokens, rows, math.ceil(n / rows), stream.bptt)


class EvalWindows(Sequence[LMBatch]):
    """A scoring pass's windows, each gathered from the stream when it is asked for: input
    (r, c) of the R x L grid is token r L + c, its target the token after it, and the
    positions past the last pair are PAD_ID (so a memory-mapped stream is read a window at a time)."""

    def __init__(self, tokens: Tensor, rows: int, per_row: int, bptt: int) -> None:
        self.tokens, self.num_rows, self.per_row, self.bptt = tokens, rows, per_row, bptt

    def __len__(self) -> int:
        return math.ceil(self.per_row / self.bptt)

    def __getitem__(self, k: int) -> LMBatch:  # type: ignore[override]
        if not -len(self) <= k < len(self):
            raise IndexError(f"window {k} of {len(self)}")
        start = (k % len(self)) * self.bptt
        size = min(self.bptt, self.per_row - start)
        n = len(self.tokens) - 1  # (input, target) pairs
        where = torch.arange(self.num_rows).unsqueeze(1) * self.per_row + start + torch.arange(size)  # (R, T_k)
        past, where = where >= n, where.clamp(max=n - 1)  # past: padding at the end of the last row(s)
        inputs = self.tokens[where].long().masked_fill(past, PAD_ID)
        targets = self.tokens[where + 1].long().masked_fill(past, PAD_ID)
        return LMBatch(inputs, targets, start > 0, int((targets != PAD_ID).sum()))


def epoch_batches(examples: TokenStream | Sequence[LMExample], batch_size: int,
                  generator: torch.Generator | None) -> list[LMBatch]:
    """The task's batches of one pass (see :mod:`seqlab.tasks`): stream windows, or shuffled
    padded sequences (in order when ``generator`` is None, i.e. for evaluation)."""
    if isinstance(examples, TokenStream):
        return eval_windows(examples, batch_size) if generator is None else train_windows(examples, batch_size,
                                                                                           generator)
    order = range(len(examples)) if generator is None else torch.randperm(len(examples), generator=generator).tolist()
    order = list(order)
    return [collate([examples[i] for i in order[first:first + batch_size]])
            for first in range(0, len(order), batch_size)]


# -- reading the splits ----------------------------------------------------------------


@dataclass(frozen=True)
class LMData:
    """The three splits (streams, or lists of sequences) and what they were encoded with."""

    train: TokenStream | list[LMExample]
    valid: TokenStream | list[LMExample]
    test: TokenStream | list[LMExample]
    tokenizer: Tokenizer  # text -> tokens, built from the training split
    vocab: Vocab  # tokens -> ids, from the training split
    conditions: list[str]  # class id -> name, from the training split; [] for streams
    split: dict[str, list[int]] | None  # sequences: split -> row numbers in the source
    about: dict[str, object]  # where the splits come from

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json and vocab.json; conditions.json and split.json when there are classes."""
        self.tokenizer.save(run_dir / "tokenizer.json")
        self.vocab.save(run_dir / "vocab.json")
        if self.conditions:
            (run_dir / "conditions.json").write_text(json.dumps(self.conditions, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")
        if self.split is not None:
            splitting.save_split(self.split, run_dir / "split.json", **self.about)

    def text(self, ids: Sequence[int]) -> str:
        """Token ids back to text (specials dropped)."""
        return self.tokenizer.detokenize(self.vocab.decode(list(ids)))


def reads_sequences(cfg: Config) -> bool:
    """Does this recipe's model read whole sequences (``<sos> ... <eos>``, one name each)
    rather than one token stream? Generation then starts from ``<sos>``."""
    return cfg.data.name == "names"


def load_data(cfg: Config) -> LMData:
    """Read the splits named by ``cfg.data``; tokenizer and vocabulary come from train only."""
    d = cfg.data
    settings = settings_for(cfg.data)  # checked before any file is read
    if d.name is not None and d.name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'lm'{did_you_mean(d.name, DATASETS)}; "
                          f"known: {', '.join(DATASETS)} (or data.name=null with data.train=your text file)")
    if reads_sequences(cfg):
        if d.token_dir is not None:
            raise ConfigError(f"data.token_dir: {d.name} is read as sequences, one per example, not as one token "
                              f"stream; expected null")
        return _load_names(cfg, settings)
    if d.token_dir is not None:  # tokenized once into files, read memory-mapped
        sources, described = _sources(cfg)
        tokenizer, vocab, ids = lm_tokens.load(cfg, sources, settings)
    else:
        texts, described = _read_texts(cfg)
        tokenizer = build_tokenizer(d.tokenizer, texts["train"].splitlines(keepends=True), **settings)
        tokens = {name: tokenizer.tokenize(text) for name, text in texts.items()}
        vocab = Vocab.build([tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
        ids = {name: torch.tensor(vocab.encode_corpus([tokens[name][:limit]])[0], dtype=torch.long)
               for name, limit in (("train", d.limit_train), ("valid", d.limit_eval), ("test", d.limit_eval))}
    streams = {name: TokenStream(ids[name], described[name], d.bptt) for name in SPLITS}
    for name in SPLITS:
        check_stream(streams[name], cfg.train.batch_size if name == "train" else None)
    return LMData(streams["train"], streams["valid"], streams["test"], tokenizer, vocab, [], None,
                  {"sources": described})


def _read_texts(cfg: Config) -> tuple[dict[str, str], dict[str, str]]:
    """Each split's text and a description of where it came from (for errors and the run)."""
    d = cfg.data
    if d.name == "tinyshakespeare":
        train, valid = registry.load(d.name, "train")[0], registry.load(d.name, "valid")[0]
        described = {"train": "tinyshakespeare/train (first 90%)", "valid": "tinyshakespeare/valid (last 10%)"}
        return {"train": train, "valid": valid, "test": valid}, {**described, "test": described["valid"]}
    files = _files(cfg)
    texts = {name: _read_file(path) for name, path in files.items()}
    for name, (start, stop) in lm_tokens.carve(cfg, files, len(texts["train"])).items():  # train last
        texts[name] = texts["train"][start:stop]
    return texts, _described(cfg, files)


def _sources(cfg: Config) -> tuple[dict[str, Span], dict[str, str]]:
    """:func:`_read_texts` for ``data.token_dir``: the texts given, unread (a user's files; the
    registry's tinyshakespeare texts, small, are read), which lm_tokens carves when it must."""
    if cfg.data.name == "tinyshakespeare":
        texts, described = _read_texts(cfg)
        return {name: Span(described[name], text=text) for name, text in texts.items()}, described
    files = _files(cfg)
    return {name: Span(path) for name, path in files.items()}, _described(cfg, files)


def _files(cfg: Config) -> dict[str, str]:
    """The user's text files by split, those given (train always)."""
    d = cfg.data
    if d.train is None:
        raise ConfigError("data.train: expected a path to your training text (data.name is null), got null")
    if d.format != "text":
        raise ConfigError(f"data.format: task 'lm' reads plain text files; expected text, got {d.format!r}")
    return {name: path for name, path in (("train", d.train), ("valid", d.valid), ("test", d.test)) if path is not None}


def _described(cfg: Config, files: dict[str, str]) -> dict[str, str]:
    """Where each split comes from, in words (for errors and the run)."""
    d = cfg.data
    carved = [name for name in ("test", "valid") if name not in files]
    described = {name: str(path) for name, path in files.items()}
    for name in carved:
        fraction = d.test_fraction if name == "test" else d.valid_fraction
        described[name] = f"{d.train} (a block of {fraction:.0%} of its characters carved off the end)"
    described["train"] = d.train if not carved else f"{d.train} (with {' and '.join(carved)} carved off its end)"
    return described


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None


def _load_names(cfg: Config, settings: dict[str, object]) -> LMData:
    """names reversed: language -> surname, each surname one sequence <sos> tokens <eos>."""
    d = cfg.data
    rows = list(registry.load("names", "all"))  # (surname, language)
    split = splitting.seeded_split(len(rows), [1.0 - d.valid_fraction - d.test_fraction, d.valid_fraction,
                                             d.test_fraction], seed=cfg.data_seed)
    splitting.limit_splits(split, d.limit_train, d.limit_eval, cfg.data_seed)
    texts = [rows[j][0] for j in split["train"]]
    tokenizer = build_tokenizer(d.tokenizer, texts, **settings)
    vocab = Vocab.build([tokenizer.tokenize(text) for text in texts], min_freq=d.min_freq, max_size=d.max_vocab)
    conditions = sorted({rows[j][1] for j in split["train"]})
    ids = {language: i for i, language in enumerate(conditions)}

    def encode(name: str) -> list[LMExample]:
        splitting.check_split_labels(conditions, (rows[j][1] for j in split[name]), name)
        return [LMExample(vocab.encode(tokenizer.tokenize(rows[j][0]), add_sos=True, add_eos=True), ids[rows[j][1]])
                for j in split[name]]

    about = {"sources": {name: "names/all" for name in split}, "seed": cfg.data_seed,
             "fractions": [1.0 - d.valid_fraction - d.test_fraction, d.valid_fraction, d.test_fraction],
             "limit_train": d.limit_train, "limit_eval": d.limit_eval}
    return LMData(encode("train"), encode("valid"), encode("test"), tokenizer, vocab, conditions, split, about)
