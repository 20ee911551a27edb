"""Token streams kept on disk (``data.token_dir``): a language model's splits tokenized
once into int32 files and read memory-mapped, so a corpus need not fit in memory.

The in-memory path (:func:`seqlab.tasks.lm_data.load_data`) reads each text whole,
tokenizes it whole and keeps the ids as an int64 tensor (8 bytes a token, after Python's
list of token strings, several times that, while it tokenizes). Here a text is read in
pieces of about :data:`CHUNK` characters, each ending just before a line that starts with
a non-space character (see :func:`_boundary`). No token of the char, word or bpe tokenizers
crosses such a place (bpe's byte-level pre-tokenizer splits a newline from the word after
it), so the same
tokenizer, vocabulary and ids come out as from the whole text (tests hold the two paths
equal). The passes over the text: one to count its characters when valid and test are
carved off its end, one for bpe to learn its merges from the training lines, one to count
the vocabulary, one to write the ids; only one piece is in memory at a time (a text on one
line, such as text8, is cut before single spaces instead; bpe learns its merges from whole
lines, so there it holds that line in memory, as the in-memory path does).

The folder then holds::

    tokenizer.json, vocab.json      as a run dir's (the run gets copies)
    train.bin, valid.bin, test.bin  the ids, int32 little-endian, one after another
    meta.json                       written last: what the files were made from

meta.json names each source (a file's path, size and modification time; a registry
text's sha256) and the data keys that shape the tokens (with the carved fractions when
valid or test is carved off train). A later run whose sources and keys are the same maps
the files at once, without reading the text again; any change makes them anew. A folder without meta.json, or whose token files are not the sizes it gives, is
taken for an unfinished one and made anew too, unless it holds files that are not seqlab's:
then it is refused, so nothing of the user's is overwritten. Two runs making one folder at
once are not guarded against (under torchrun, process 0 makes it before the others read it).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqlab.config import Config
from seqlab.data import tokenize
from seqlab.data.tokenize import Tokenizer, build_tokenizer
from seqlab.data.vocab import UNK_ID, Vocab, warn_unknown
from seqlab.errors import DataError
from seqlab.training.checkpoint import write_atomic

CHUNK = 1 << 20  # characters read at a time
SPLITS = ("train", "valid", "test")
DTYPE = np.dtype("<i4")  # int32: up to 2**31 - 1 vocabulary entries, 4 bytes a token
META = "meta.json"
OURS = {"tokenizer.json", "vocab.json", META, *(f"{name}.bin" for name in SPLITS)}
# the data keys that change the tokens or ids of a split (the sources are keyed apart); the
# fractions too when a split is carved off train
KEYS = ("name", "tokenizer", "lowercase", "bpe_vocab_size", "min_freq", "max_vocab", "limit_train", "limit_eval")
CARVING_KEYS = ("valid_fraction", "test_fraction")


@dataclass(frozen=True)
class Span:
    """Characters [start, stop) of a UTF-8 text file (stop None: to its end), or of
    ``text``, a text already in memory (a registry split) named by ``path``."""

    path: str
    start: int = 0
    stop: int | None = None
    text: str | None = None

    def chunks(self) -> Iterator[str]:
        """The span's text in pieces that no token crosses (see :func:`_boundary`). Each piece
        read is searched once, so a text without line ends (text8) costs no more than another."""
        pending: list[str] = []  # what was read since the last cut
        last = ""  # the character before the newest piece read
        for piece in self._pieces():
            cut = _boundary(last + piece) - len(last)  # -1: none in this piece
            last = piece[-1]
            if cut < 0:
                pending.append(piece)
                continue
            if pending or cut:
                yield "".join(pending) + piece[:cut]
            pending = [piece[cut:]]
        if pending:
            yield "".join(pending)

    def lines(self) -> Iterator[str]:
        """The span's lines with their ends, as ``str.splitlines(keepends=True)`` gives them
        from the whole text (a line that spans pieces is put back together)."""
        partial: list[str] = []  # the pieces of a line whose end is not read yet
        for chunk in self.chunks():
            lines = chunk.splitlines(keepends=True)
            if len(lines) == 1 and not _ends_line(lines[0]):
                partial.append(lines[0])
                continue
            if partial:
                lines[0] = "".join(partial) + lines[0]
            partial = [lines.pop()] if not _ends_line(lines[-1]) else []
            yield from lines
        if partial:
            yield "".join(partial)

    def count(self) -> int:
        """How many characters the span holds (one pass over a file)."""
        return sum(len(piece) for piece in self._pieces())

    def key(self) -> dict[str, object]:
        """What identifies the span's text for meta.json (a source: a whole file or text)."""
        if self.text is not None:
            return {"path": self.path, "sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest()}
        try:
            stat = Path(self.path).stat()
        except FileNotFoundError:
            raise DataError(f"{self.path}: no such file") from None
        return {"path": str(Path(self.path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def _pieces(self) -> Iterator[str]:
        """The span's characters, about CHUNK at a time, cut anywhere."""
        if self.text is not None:
            stop = len(self.text) if self.stop is None else self.stop
            for first in range(self.start, stop, CHUNK):
                yield self.text[first:min(first + CHUNK, stop)]
            return
        try:
            with open(self.path, encoding="utf-8") as f:  # universal newlines, as Path.read_text reads
                skip = self.start
                while skip > 0:
                    got = len(f.read(min(CHUNK, skip)))
                    if not got:
                        return
                    skip -= got
                left = None if self.stop is None else self.stop - self.start
                while left is None or left > 0:
                    piece = f.read(CHUNK if left is None else min(CHUNK, left))
                    if not piece:
                        return
                    left = None if left is None else left - len(piece)
                    yield piece
        except FileNotFoundError:
            raise DataError(f"{self.path}: no such file") from None
        except UnicodeDecodeError as err:
            raise DataError(f"{self.path}: not UTF-8 text ({err.reason})") from None


def _boundary(text: str) -> int:
    """The last place in ``text`` that no token of the char, word or bpe tokenizers crosses; 0
    if none. Right after a newline and before a non-space character: bpe's byte-level
    pre-tokenizer splits a newline from what follows it, and no word holds a line end. Where
    there is none (a text on one line), right before a single space between two non-space
    characters: that space begins the next bpe pre-token (" word") and separates words."""
    end = len(text) - 1
    while (newline := text.rfind("\n", 0, end)) >= 0:
        if not text[newline + 1].isspace():
            return newline + 1
        end = newline
    end = len(text) - 1
    while (space := text.rfind(" ", 1, end)) >= 0:
        if not text[space - 1].isspace() and not text[space + 1].isspace():
            return space
        end = space
    return 0


def _ends_line(text: str) -> bool:
    """Whether ``text`` ends with a line end, as str.splitlines knows them."""
    return text.splitlines()[0] != text


def carve(cfg: Config, given: Collection[str], whole: int) -> dict[str, tuple[int, int]]:
    """Character bounds [start, stop) in the training text (``whole`` characters) of each split
    not in ``given``, carved off its end (test the very end, valid before it), then of what
    stays for training."""
    bounds, stop = {}, whole
    for name in ("test", "valid"):
        if name not in given:
            cut = stop - int(whole * (cfg.data.test_fraction if name == "test" else cfg.data.valid_fraction))
            bounds[name], stop = (cut, stop), cut
    return {**bounds, "train": (0, stop)}


def load(cfg: Config, sources: dict[str, Span], settings: dict[str, object]) -> tuple[Tokenizer, Vocab,
                                                                                       dict[str, Tensor]]:
    """The tokenizer, vocabulary and each split's ids (int32, memory-mapped) of ``data.token_dir``,
    made from ``sources`` (train, and valid and test where given: whole files or texts; the
    others are carved off train) unless the folder already holds them for the same sources and
    keys. Reusing them reads no text."""
    folder = Path(str(cfg.data.token_dir))
    keys = KEYS if len(sources) == len(SPLITS) else KEYS + CARVING_KEYS
    meta = {"sources": {name: span.key() for name, span in sources.items()},
            "data": {key: getattr(cfg.data, key) for key in keys}}
    if _made_from(folder) == meta:
        tokens = {name: _map(folder / f"{name}.bin") for name in SPLITS}
        return tokenize.load(folder / "tokenizer.json"), Vocab.load(folder / "vocab.json"), tokens
    _check_folder(folder)
    (folder / META).unlink(missing_ok=True)  # the files are about to change: the folder is unfinished until the end
    spans = dict(sources)
    if len(sources) < len(SPLITS):  # one pass over the training file counts its characters
        train = sources["train"]
        spans.update({name: Span(train.path, start, stop, train.text)
                      for name, (start, stop) in carve(cfg, sources, train.count()).items()})
    d = cfg.data
    tokenizer = build_tokenizer(d.tokenizer, spans["train"].lines(), **settings)
    vocab = Vocab.build((tokenizer.tokenize(chunk) for chunk in spans["train"].chunks()), min_freq=d.min_freq,
                        max_size=d.max_vocab)
    counts = {}
    for name, limit in (("train", d.limit_train), ("valid", d.limit_eval), ("test", d.limit_eval)):
        counts[name] = _write_ids(folder / f"{name}.bin", spans[name], tokenizer, vocab, limit)
    write_atomic(folder / "tokenizer.json", tokenizer.save)
    write_atomic(folder / "vocab.json", vocab.save)
    write_atomic(folder / META, lambda tmp: Path(tmp).write_text(json.dumps({**meta, "tokens": counts}, indent=2)
                                                                  + "\n", encoding="utf-8"))
    return tokenizer, vocab, {name: _map(folder / f"{name}.bin") for name in SPLITS}


def _made_from(folder: Path) -> dict[str, object] | None:
    """meta.json's sources and keys, or None where there is no readable one or a token file is
    not the size it says (removed or cut since)."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        sizes = {name: os.path.getsize(folder / f"{name}.bin") for name in SPLITS}
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or sizes != {name: DTYPE.itemsize * n for name, n in (meta.get("tokens") or {}).items()}:
        return None
    return {"sources": meta.get("sources"), "data": meta.get("data")}


def _check_folder(folder: Path) -> None:
    """Make the folder, or refuse one that holds files seqlab did not write there."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"data.token_dir: {folder} is a file; expected a folder for seqlab's token files")
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in OURS and not p.name.endswith(".tmp"))
        if others:
            raise DataError(f"data.token_dir: {folder} holds files that are not seqlab's token files "
                            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); give an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)


def _write_ids(path: Path, span: Span, tokenizer: Tokenizer, vocab: Vocab, limit: int | None) -> int:
    """Tokenize and encode ``span`` a piece at a time into ``path`` (atomically); at most ``limit``
    ids. Warns, as the in-memory path does, if any token was not in the vocabulary. Returns the count."""
    written = unknown = 0

    def write(tmp: str) -> None:
        nonlocal written, unknown
        with open(tmp, "wb") as out:
            for chunk in span.chunks():
                ids = vocab.encode(tokenizer.tokenize(chunk))
                if limit is not None:
                    ids = ids[:limit - written]
                array = np.asarray(ids, dtype=DTYPE)
                array.tofile(out)
                written += len(array)
                unknown += int(np.count_nonzero(array == UNK_ID))
                if limit is not None and written >= limit:
                    break

    write_atomic(path, write)
    if unknown:
        warn_unknown(unknown, written, stacklevel=4)  # the caller of load_data
    return written


def _map(path: Path) -> Tensor:
    """A token file as an int32 tensor over its memory map (copy-on-write: never written back)."""
    if os.path.getsize(path) == 0:  # an empty split: mmap cannot map nothing
        return torch.empty(0, dtype=torch.int32)
    return torch.from_numpy(np.memmap(path, dtype=DTYPE, mode="c"))

