"""Vocabulary: token strings to integer ids and back, built from the training split only.

Ids 0–3 are fixed special tokens, the same in every vocabulary seqlab builds, so a
model can hard-code padding and start/end of sequence:

| id | token   | constant  | meaning                                          |
| -- | ------- | --------- | ------------------------------------------------ |
| 0  | `<pad>` | `PAD_ID`  | padding; masked out of losses and attention      |
| 1  | `<unk>` | `UNK_ID`  | any token not in the vocabulary                  |
| 2  | `<sos>` | `SOS_ID`  | start of sequence (decoder input)                |
| 3  | `<eos>` | `EOS_ID`  | end of sequence                                  |

The other tokens follow in order of frequency in the training tokens, most frequent
first; ties keep the order in which the tokens first appeared (so the order is
deterministic for a given corpus). Tokens in the training data that are spelled
like a special token (a literal ``"<pad>"`` in the text) are not added a second time.

Embedding lookups by id are the default elsewhere in seqlab; `one_hot` is here for
teaching (a one-hot vector times a weight matrix is an embedding lookup).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from seqlab.errors import DataError

PAD, UNK, SOS, EOS = "<pad>", "<unk>", "<sos>", "<eos>"
PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = (PAD, UNK, SOS, EOS)  # in id order

FILE_KIND = "seqlab-vocab"  # the "kind" key of a saved vocabulary
FORMAT_VERSION = 1


class UnknownTokenWarning(UserWarning):
    """Encoding a corpus met tokens outside the vocabulary; the message gives the rate."""


class Vocab:
    """A fixed mapping between token strings and ids; ``itos[i]`` is the token of id ``i``.

    ``vocab[token]`` is the token's id, or `UNK_ID` when it is not in the vocabulary
    (use ``token in vocab`` to ask); ``len(vocab)`` counts the specials too.
    """

    def __init__(self, itos: Sequence[str]) -> None:
        itos = list(itos)
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with the specials {list(SPECIALS)}, got {itos[:4]!r}")
        stoi: dict[str, int] = {}
        for i, token in enumerate(itos):
            if not isinstance(token, str):
                raise ValueError(f"tokens are strings, got {token!r} at id {i}")
            if token in stoi:
                raise ValueError(f"token {token!r} appears twice, at ids {stoi[token]} and {i}")
            stoi[token] = i
        self.itos = itos
        self.stoi = stoi

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Count the tokens of the training split and keep the frequent ones.

        Args:
            token_lists: one token list per training example.
            min_freq: keep tokens seen at least this often (≥ 1).
            max_size: most entries in all, the 4 specials included (≥ 4), or None for
                no cap; the least frequent tokens are dropped first.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer ≥ 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < len(SPECIALS)):
            raise ValueError(f"max_size must be None or an integer ≥ 4 (the specials), got {max_size!r}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise ValueError(f"build takes lists of tokens, got the string {tokens[:40]!r}; tokenize it first")
            counts.update(tokens)
        # Counter keeps first-insertion order and sorted() is stable: ties stay in order of first appearance.
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        kept = [token for token, n in ranked if n >= min_freq and token not in SPECIALS]
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    # ------------------------------------------------------------------ encode / decode

    def encode(self, tokens: Sequence[str], add_sos: bool = False, add_eos: bool = False) -> list[int]:
        """Token strings → ids, unknown tokens → `UNK_ID`; optionally framed by <sos>/<eos>."""
        if isinstance(tokens, str):
            raise ValueError(f"encode takes a list of tokens, got the string {tokens[:40]!r}; tokenize it first")
        ids = [self.stoi.get(token, UNK_ID) for token in tokens]
        return ([SOS_ID] if add_sos else []) + ids + ([EOS_ID] if add_eos else [])

    def encode_corpus(
        self, token_lists: Iterable[Sequence[str]], add_sos: bool = False, add_eos: bool = False
    ) -> list[list[int]]:
        """`encode` every example; warn (`UnknownTokenWarning`) with the rate if any token was unknown.

        The rate counts the corpus tokens only, not the added <sos>/<eos>.
        """
        encoded, unknown, total = [], 0, 0
        for tokens in token_lists:
            ids = self.encode(tokens)
            unknown += ids.count(UNK_ID)
            total += len(ids)
            encoded.append(([SOS_ID] if add_sos else []) + ids + ([EOS_ID] if add_eos else []))
        # A literal "<unk>" token in the data maps to UNK_ID too; it counts as unknown, rightly.
        if unknown:
            warn_unknown(unknown, total, stacklevel=3)
        return encoded

    def decode(self, ids: Iterable[int] | torch.Tensor, strip_special: bool = True) -> list[str]:
        """Ids → token strings. ``strip_special`` drops <pad>, <sos> and <eos> (never <unk>,
        which stands for a real token). Accepts a list of ints or a 1-D tensor.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode takes one sequence (a 1-D tensor), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i!r} is outside this vocabulary's ids 0..{len(self.itos) - 1}")
            if strip_special and i in (PAD_ID, SOS_ID, EOS_ID):
                continue
            tokens.append(self.itos[i])
        return tokens

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON: ``{"kind": "seqlab-vocab", "version": 1, "itos": [...]}``."""
        data = {"kind": FILE_KIND, "version": FORMAT_VERSION, "itos": self.itos}
        Path(path).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by `save`; any other file is a `DataError` saying what it found."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: no such vocabulary file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: not a JSON vocabulary file ({error})") from None
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind != FILE_KIND:
            raise DataError(f"{path}: not a seqlab vocabulary (found kind {kind!r}, expected {FILE_KIND!r})")
        if data.get("version") != FORMAT_VERSION:
            raise DataError(f"{path}: vocabulary file version {data.get('version')!r}, expected {FORMAT_VERSION}")
        try:
            return cls(data.get("itos", ()))
        except ValueError as error:
            raise DataError(f"{path}: {error}") from None


def warn_unknown(unknown: int, total: int, stacklevel: int = 2) -> None:
    """The `UnknownTokenWarning` of a corpus: how many of its ``total`` tokens became <unk>."""
    warnings.warn(f"{unknown:,} of {total:,} tokens ({unknown / total:.2%}) were not in the vocabulary and became {UNK}",
                  UnknownTokenWarning, stacklevel=stacklevel)


def one_hot(ids: torch.Tensor | Sequence[int], vocab_size: int) -> torch.Tensor:
    """One-hot vectors: ids of any shape (...) → float tensor (..., vocab_size).

    ``one_hot(ids, V) @ W`` equals the embedding lookup ``W[ids]`` for W of shape (V, E).
    """
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an integer ≥ 1, got {vocab_size!r}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise ValueError(f"id {bad} is outside 0..{vocab_size - 1} for vocab_size={vocab_size}")
    return torch.nn.functional.one_hot(ids, vocab_size).float()  # (..., V)
