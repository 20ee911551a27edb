"""Word vectors: nearest neighbours, analogies, the questions-words benchmark, word2vec files.

`WordVectors` is what a finished word2vec run loads as (``WordVectors.from_run(RUN)``),
a small counterpart of gensim's ``KeyedVectors``: words ordered most frequent first, one
row of ``vectors`` each. Similarity is the cosine; an analogy "a is to b as c is to ?"
is answered by 3CosAdd (Mikolov et al. 2013): the word, other than a, b and c, whose unit
vector is closest to ``unit(b) - unit(a) + unit(c)`` — king − man + woman ≈ queen is
``analogy("man", "king", "woman")``.

Files: the word2vec C tool's formats, which gensim and most other tools read and write —
text (a ``COUNT DIM`` header line, then ``word v1 ... vDIM`` per line) and binary (the
same header, then per word its UTF-8 bytes, one space, DIM little-endian float32 values
and a newline).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqlab.data import sources
from seqlab.errors import DataError

VOCAB_FILE = "vocab.json"  # a word2vec run's words (most frequent first) and their counts
WEIGHTS_FILE = "model.safetensors"  # a word2vec run's tensors: input (the word vectors) and output
ANALOGY_CHUNK = 1024  # questions scored per matrix product


@dataclass(frozen=True)
class AnalogySection:
    """One ``: name`` section of a questions-words file: its questions as ``(a, b, c, expected)``."""

    name: str
    questions: list[tuple[str, str, str, str]]

    @property
    def syntactic(self) -> bool:
        """The Google set's convention: the ``gram*`` sections test syntax, the rest semantics."""
        return self.name.startswith("gram")


def read_analogies(path: str | Path) -> list[AnalogySection]:
    """Parse a questions-words file: ``: section`` header lines, then ``a b c expected`` lines.

    Blank lines are skipped; any other line that is not four words raises a DataError
    naming the file and line."""
    sections: list[AnalogySection] = []
    for number, line in sources.read_lines(path):
        if line.startswith(":"):
            sections.append(AnalogySection(line[1:].strip(), []))
            continue
        if not line.strip():
            continue
        words = line.split()
        if len(words) != 4:
            raise DataError(f"{path}:{number}: expected 4 words 'a b c expected' (a is to b as c is to expected), "
                            f"got {line!r:.100}")
        if not sections:
            raise DataError(f"{path}:{number}: a question before the first ': section' header line")
        sections[-1].questions.append((words[0], words[1], words[2], words[3]))
    return sections


@dataclass
class WordVectors:
    """Words and their vectors. ``words[i]`` has row ``vectors[i]`` (float32, (V, D));
    words are expected most frequent first (``restrict_vocab`` counts on it)."""

    words: list[str]
    vectors: torch.Tensor  # (V, D)
    counts: list[int] | None = None  # corpus frequency of each word, where known
    _index: dict[str, int] = field(init=False, repr=False)
    _unit: torch.Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.dim() != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"vectors must be (len(words), dim) = ({len(self.words)}, D), "
                             f"got {tuple(self.vectors.shape)}")
        self.vectors = self.vectors.detach().to("cpu", torch.float32)
        self._index = {}
        for i, word in enumerate(self.words):
            self._index.setdefault(word, i)

    # -- lookup ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def index(self, word: str) -> int:
        """The row of ``word``, or a DataError naming it."""
        try:
            return self._index[word]
        except KeyError:
            hint = f"; did you mean {word.lower()!r}?" if word.lower() in self._index else ""
            raise DataError(f"word {word!r} is not in the vocabulary ({len(self.words)} words){hint}") from None

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self.index(word)]

    @property
    def unit(self) -> torch.Tensor:
        """Every vector scaled to length 1 (zero vectors stay zero), (V, D); computed once."""
        if self._unit is None:
            self._unit = self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self._unit

    # -- similarity ------------------------------------------------------------------

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words' vectors."""
        return float(self.unit[self.index(a)] @ self.unit[self.index(b)])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words closest to ``word`` by cosine, with their similarities, best first."""
        return self.nearest(self.unit[self.index(word)], topn, exclude=[word])

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": the words closest to unit(b) − unit(a) + unit(c), a, b and c
        excluded (3CosAdd). ``analogy("man", "king", "woman")`` asks for king − man + woman."""
        query = self.unit[self.index(b)] - self.unit[self.index(a)] + self.unit[self.index(c)]
        return self.nearest(query, topn, exclude=[a, b, c])

    def nearest(self, query: torch.Tensor, topn: int = 10, exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``topn`` words whose vectors have the highest cosine with ``query`` (D,), ``exclude`` left out."""
        if topn < 1:
            raise ValueError(f"topn: expected an integer >= 1, got {topn}")
        scores = self.unit @ (query / query.norm().clamp_min(1e-12))  # (V,)
        scores[[self.index(word) for word in exclude]] = float("-inf")
        top = torch.topk(scores, min(topn, len(self.words) - len(set(exclude))))
        return [(self.words[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]

    # -- the analogy benchmark -------------------------------------------------------

    def evaluate_analogies(self, path: str | Path, restrict_vocab: int = 30000) -> dict:
        """Accuracy on a questions-words file, as gensim's ``evaluate_word_analogies`` scores it.

        Only the ``restrict_vocab`` most frequent words take part, matched without regard to
        case (the most frequent spelling wins); a question with a word outside them is
        skipped (counted in ``skipped``). The answer is the best 3CosAdd word among them
        other than the question's three. Returns ``semantic``, ``syntactic`` and ``total``
        accuracy over the answered questions (NaN where none), ``correct``, ``answered``,
        ``skipped``, and per section ``{"correct", "answered"}``.
        """
        sections = read_analogies(path)
        limit = min(restrict_vocab, len(self.words))
        index: dict[str, int] = {}
        for i in range(limit - 1, -1, -1):  # backwards, so the most frequent spelling of a word wins
            index[self.words[i].upper()] = i
        unit = self.unit[:limit]
        tally = {"semantic": [0, 0], "syntactic": [0, 0]}
        per_section, skipped = {}, 0
        for section in sections:
            rows = [[index.get(word.upper(), -1) for word in question] for question in section.questions]
            known = torch.tensor([r for r in rows if min(r) >= 0], dtype=torch.long).reshape(-1, 4)
            skipped += len(rows) - len(known)
            correct = sum(int(n) for n in _answer(unit, known))
            per_section[section.name] = {"correct": correct, "answered": len(known)}
            kind = tally["syntactic" if section.syntactic else "semantic"]
            kind[0], kind[1] = kind[0] + correct, kind[1] + len(known)
        total = [tally["semantic"][0] + tally["syntactic"][0], tally["semantic"][1] + tally["syntactic"][1]]
        accuracy = {name: (c / n if n else float("nan")) for name, (c, n) in {**tally, "total": total}.items()}
        return {**accuracy, "correct": total[0], "answered": total[1], "skipped": skipped, "sections": per_section}

    # -- files -----------------------------------------------------------------------

    @classmethod
    def from_run(cls, run_dir: str | Path) -> WordVectors:
        """The input vectors of a finished word2vec run (``vocab.json`` + ``model.safetensors``)."""
        from safetensors.torch import load_file

        run_dir = Path(run_dir)
        for name in (VOCAB_FILE, WEIGHTS_FILE):
            if not (run_dir / name).is_file():
                raise DataError(f"{run_dir}: no {name}; expected a finished word2vec run dir")
        vocab, tables = json.loads((run_dir / VOCAB_FILE).read_text(encoding="utf-8")), load_file(run_dir / WEIGHTS_FILE)
        if "input" not in tables or "words" not in vocab:
            raise DataError(f"{run_dir}: not a word2vec run (its {WEIGHTS_FILE} has no 'input' word vectors); "
                            "expected a finished word2vec run dir")
        return cls(vocab["words"], tables["input"], vocab["counts"])

    def save_word2vec_format(self, path: str | Path, binary: bool = False) -> None:
        """Write the word2vec C tool's text or binary format (see the module docstring), atomically."""
        from seqlab.training.checkpoint import write_atomic

        bad = next((w for w in self.words if not w or any(ch.isspace() for ch in w)), None)
        if bad is not None:
            raise ValueError(f"word {bad!r} is empty or holds whitespace, which the word2vec format cannot store")
        header = f"{len(self.words)} {self.dim}\n".encode()
        rows = self.vectors.numpy()

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                f.write(header)
                for word, row in zip(self.words, rows):
                    if binary:
                        f.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
                    else:  # .9g: nine significant digits give every float32 back exactly
                        f.write((word + " " + " ".join(f"{x:.9g}" for x in row) + "\n").encode("utf-8"))

        write_atomic(Path(path), write)

    @classmethod
    def load_word2vec_format(cls, path: str | Path, binary: bool = False) -> WordVectors:
        """Read a word2vec text or binary file (ours, gensim's or the C tool's)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        with open(path, "rb") as f:
            count, dim = _header(path, f.readline())
            read = _read_binary if binary else _read_text
            words, vectors = read(path, f, count, dim)
        return cls(words, torch.from_numpy(vectors))


def open_run(run_dir: str | Path) -> WordVectors:
    """The vectors of a word2vec run dir; a run of another task is a DataError naming the command to use."""
    from seqlab.bundle import COMMAND_FOR_TASK, read_config

    run_dir, cfg = read_config(run_dir)
    if cfg.task != "word2vec":
        raise DataError(f"{run_dir} is a {cfg.task} run, not word2vec; use seqlab "
                        f"{COMMAND_FOR_TASK.get(cfg.task, 'eval')}")
    return WordVectors.from_run(run_dir)


def _answer(unit: torch.Tensor, questions: torch.Tensor) -> torch.Tensor:
    """Which questions (Q, 4) of row indices (a, b, c, expected) 3CosAdd answers right: (Q,) bool."""
    right = []
    for chunk in questions.split(ANALOGY_CHUNK):
        query = unit[chunk[:, 1]] - unit[chunk[:, 0]] + unit[chunk[:, 2]]  # (q, D)
        scores = query @ unit.T  # (q, V); the query's own length ranks nothing differently
        scores.scatter_(1, chunk[:, :3], float("-inf"))
        right.append(scores.argmax(dim=1) == chunk[:, 3])
    return torch.cat(right) if right else torch.zeros(0, dtype=torch.bool)


def _header(path: Path, line: bytes) -> tuple[int, int]:
    try:
        count, dim = (int(x) for x in line.split())
    except ValueError:
        raise DataError(f"{path}:1: expected the header 'COUNT DIM' (two integers), got {line[:80]!r}") from None
    if count < 0 or dim < 1:
        raise DataError(f"{path}:1: expected COUNT >= 0 and DIM >= 1, got {count} {dim}")
    return count, dim


def _read_text(path: Path, f, count: int, dim: int):
    import numpy as np

    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    for number, raw in enumerate(f, start=2):
        if not raw.strip():
            continue
        if len(words) == count:
            raise DataError(f"{path}:{number}: more vectors than the {count} the header announces")
        word, *values = raw.decode("utf-8", errors="strict").rstrip("\r\n").rstrip(" ").split(" ")
        try:
            if len(values) != dim:
                raise ValueError
            vectors[len(words)] = [float(v) for v in values]
        except ValueError:
            raise DataError(f"{path}:{number}: expected a word and {dim} numbers, got {raw[:80]!r}") from None
        words.append(word)
    if len(words) != count:
        raise DataError(f"{path}: the header announces {count} vectors, the file holds {len(words)}")
    return words, vectors


def _read_binary(path: Path, f, count: int, dim: int):
    import numpy as np

    words, vectors = [], np.empty((count, dim), dtype=np.float32)
    for n in range(count):
        word = bytearray()
        while (ch := f.read(1)) != b" ":
            if not ch:
                raise DataError(f"{path}: the file ends inside vector {n + 1} of {count}")
            if ch != b"\n" or word:  # the newline after the previous vector (C tool) is not part of the word
                word += ch
        data = f.read(4 * dim)
        if len(data) != 4 * dim:
            raise DataError(f"{path}: the file ends inside vector {n + 1} of {count} ({word.decode(errors='replace')!r})")
        vectors[n] = np.frombuffer(data, dtype="<f4")
        words.append(word.decode("utf-8"))
    return words, vectors
