"""Tokenizers: text to a list of token strings and back.

Three kinds share one small interface (`Tokenizer`): ``tokenize(text) -> list[str]``,
``detokenize(tokens) -> str``, ``save(path)``; `load(path)` reads any of them back and
`build_tokenizer(kind, texts, **settings)` makes one from the `TOKENIZERS` table.

| kind   | a token is                             | ``detokenize(tokenize(t))``      |
| ------ | -------------------------------------- | -------------------------------- |
| `char` | one Unicode code point                 | ``t`` exactly                    |
| `word` | a word or one punctuation character    | the normalized text (see below)  |
| `bpe`  | a byte-level BPE piece (HF tokenizers) | ``t`` exactly                    |

Token strings, not ids, come out of here: `seqlab.data.vocab` maps them to ids, so
every kind feeds the same vocabulary, embedding and bundle code. The vocabulary is
built from the training split only, after the tokenizer.

Saved files are JSON. The char and word tokenizers write their settings
(``{"kind": "word", "lowercase": true, ...}``); BPE writes Hugging Face's own
``tokenizer.json``, so the file also loads with ``tokenizers.Tokenizer.from_file``.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from seqlab.errors import ConfigError, DataError

FORMAT_VERSION = 1  # of the char/word settings files; bumped if their keys change

# Punctuation that the word detokenizer glues to the token before / after it.
CLOSING_PUNCTUATION = frozenset(".,!?;:%)]}")
OPENING_PUNCTUATION = frozenset("([{")


class Tokenizer(Protocol):
    """What every tokenizer offers; the rest of seqlab relies on nothing else."""

    kind: str

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: list[str]) -> str: ...

    def save(self, path: str | Path) -> None: ...


# ----------------------------------------------------------------------------- char


class CharTokenizer:
    """One token per Unicode code point; ``detokenize(tokenize(t)) == t`` for every ``t``.

    Code points, not grapheme clusters: "é" written as "e" + U+0301 is two tokens.
    Spaces and newlines are tokens like any other character.
    """

    kind = "char"

    @classmethod
    def build(cls, texts: Iterable[str] | None = None) -> CharTokenizer:
        """No training needed; ``texts`` is accepted so every kind builds the same way."""
        return cls()

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save(self, path: str | Path) -> None:
        _write_json(path, {"kind": self.kind, "version": FORMAT_VERSION})

    def __repr__(self) -> str:
        return "CharTokenizer()"


# ----------------------------------------------------------------------------- word


@functools.cache
def word_pattern() -> re.Pattern[str]:
    r"""The word tokenizer's regex: ``[\w\p{M}]+|[^\w\s]``.

    A token is either a run of word characters (letters, digits, ``_``) and combining
    marks, or one single character that is neither a word character nor whitespace
    (punctuation, symbols, emoji). Whitespace only separates tokens. Python's ``re``
    has no ``\p{M}``, so the combining-mark class is listed from `unicodedata` on first
    use (about 0.1 s): without it, Devanagari vowel signs or a decomposed "é" would be
    cut out of their words.
    """
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("M")]
    # One character class of code-point ranges, ``[\w<marks>]+``, not an alternation per
    # character: the regex engine then scans a word in one tight loop (3.7x faster on IMDB
    # reviews, same tokens; measured when this was written).
    ranges, start = [], marks[0]
    for previous, current in zip(marks, marks[1:] + [-1]):
        if current != previous + 1:
            ranges.append(re.escape(chr(start)) + ("" if previous == start else "-" + re.escape(chr(previous))))
            start = current
    return re.compile(rf"[\w{''.join(ranges)}]+|[^\w\s]")


def _glue(previous: str, token: str) -> bool:
    """Whether ``token`` follows ``previous`` with no space in between (word detokenizer)."""
    return token in CLOSING_PUNCTUATION or previous in OPENING_PUNCTUATION


class WordTokenizer:
    """Words and punctuation by the regex of `word_pattern`, optionally lower-cased.

    Detokenization joins the tokens with single spaces, except that no space goes
    before a closing mark ``. , ! ? ; : % ) ] }`` or after an opening one ``( [ {``:
    ``["Hi", ",", "(", "you", ")", "!"]`` becomes ``"Hi, (you)!"``.

    The *normalized* text of ``t`` is ``detokenize(tokenize(t))``: ``t`` (lower-cased
    with `str.lower` first when ``lowercase`` is set) with every whitespace run
    removed and single spaces put back between tokens by the rule above. It keeps
    every non-whitespace character in order, it tokenizes to the same tokens as ``t``,
    and normalizing it again changes nothing.
    """

    kind = "word"

    def __init__(self, lowercase: bool = False) -> None:
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be True or False, got {lowercase!r}")
        self.lowercase = lowercase

    @classmethod
    def build(cls, texts: Iterable[str] | None = None, *, lowercase: bool = False) -> WordTokenizer:
        """No training needed; ``texts`` is accepted so every kind builds the same way."""
        return cls(lowercase=lowercase)

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return word_pattern().findall(text)

    def detokenize(self, tokens: list[str]) -> str:
        parts: list[str] = []
        for i, token in enumerate(tokens):
            if i > 0 and not _glue(tokens[i - 1], token):
                parts.append(" ")
            parts.append(token)
        return "".join(parts)

    def save(self, path: str | Path) -> None:
        _write_json(path, {"kind": self.kind, "version": FORMAT_VERSION, "lowercase": self.lowercase})

    def __repr__(self) -> str:
        return f"WordTokenizer(lowercase={self.lowercase})"


def word_tokenize(text: str) -> list[str]:
    """Words and punctuation of ``text`` with the default `WordTokenizer` (case kept)."""
    return word_pattern().findall(text)


# ----------------------------------------------------------------------------- BPE


class BPETokenizer:
    """Byte-level BPE (Sennrich et al. 2016; GPT-2's byte level) through HF `tokenizers`.

    The text is cut GPT-2 style (words with their leading space, digits, punctuation,
    whitespace runs), each piece is written as its UTF-8 bytes mapped to printable
    characters ("Ġ" for a space, "Ċ" for a newline), and learned merges join bytes into
    subwords. All 256 bytes are in the base alphabet and there is no normalizer, so
    every string round-trips exactly: ``detokenize(tokenize(t)) == t``. The one kind
    of string excluded is one holding lone surrogates (U+D800–U+DFFF), which has no
    UTF-8 form; such a string cannot be passed to the tokenizer at all.
    """

    kind = "bpe"

    def __init__(self, hf_tokenizer) -> None:  # a tokenizers.Tokenizer
        self.hf = hf_tokenizer

    @classmethod
    def build(
        cls, texts: Iterable[str] | None = None, *, vocab_size: int = 8000, min_frequency: int = 2
    ) -> BPETokenizer:
        """Learn merges on ``texts`` (the training split) until ``vocab_size`` pieces."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if texts is None:
            raise ValueError("a bpe tokenizer learns its merges from texts; pass the training texts")
        if not isinstance(vocab_size, int) or vocab_size < 257:
            raise ValueError(f"vocab_size must be an integer ≥ 257 (256 bytes + 1 merge), got {vocab_size!r}")
        if not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency must be an integer ≥ 1, got {min_frequency!r}")
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[],  # seqlab's vocabulary owns <pad>, <unk>, <sos>, <eos>
            show_progress=False,
        )
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf)

    def tokenize(self, text: str) -> list[str]:
        return self.hf.encode(text, add_special_tokens=False).tokens

    def detokenize(self, tokens: list[str]) -> str:
        # Pieces that do not form whole UTF-8 characters decode to U+FFFD.
        return self.hf.decoder.decode(list(tokens))

    def save(self, path: str | Path) -> None:
        self.hf.save(str(path))

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.hf.get_vocab_size()})"


# ----------------------------------------------------------------------------- table, build, load

TOKENIZERS: dict[str, type] = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def _tokenizer_class(kind: str) -> type:
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind]


def build_tokenizer(kind: str, texts: Iterable[str] | None = None, **settings) -> Tokenizer:
    """A tokenizer of ``kind`` (char, word, bpe) with ``settings``, trained on ``texts`` if it learns.

    Settings are each class's ``build`` keywords: word takes ``lowercase``; bpe takes
    ``vocab_size`` and ``min_frequency``; char takes none. An unknown setting is an
    error naming the ones accepted.
    """
    cls = _tokenizer_class(kind)
    accepted = [p for p in inspect.signature(cls.build).parameters if p != "texts"]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(map(repr, unknown))} for a {kind} tokenizer; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )
    return cls.build(texts, **settings)


def settings_for(data) -> dict[str, object]:
    """The :func:`build_tokenizer` settings a recipe's ``data`` section asks for (data.tokenizer,
    data.lowercase, data.bpe_vocab_size); lower-casing with another tokenizer than word is a
    ConfigError naming the key."""
    if data.lowercase and data.tokenizer != "word":
        raise ConfigError(f"data.lowercase: only the word tokenizer lower-cases; data.tokenizer is {data.tokenizer!r}")
    if data.tokenizer == "word":
        return {"lowercase": data.lowercase}
    if data.tokenizer == "bpe":
        return {"vocab_size": data.bpe_vocab_size}
    return {}


def load(path: str | Path, expected_kind: str | None = None) -> Tokenizer:
    """Read a tokenizer saved by ``save``; with ``expected_kind``, a file of another kind is an error."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such tokenizer file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a JSON tokenizer file ({error})") from None
    kind = _saved_kind(path, data)
    if expected_kind is not None and kind != expected_kind:
        raise DataError(f"{path}: holds a {kind} tokenizer, expected a {expected_kind} tokenizer")
    if kind == "bpe":
        from tokenizers import Tokenizer as HFTokenizer

        return BPETokenizer(HFTokenizer.from_file(str(path)))
    if data.get("version") != FORMAT_VERSION:
        raise DataError(f"{path}: tokenizer file version {data.get('version')!r}, expected {FORMAT_VERSION}")
    if kind == "word":
        if not isinstance(data.get("lowercase"), bool):
            raise DataError(f"{path}: 'lowercase' must be true or false, got {data.get('lowercase')!r}")
        return WordTokenizer(lowercase=data["lowercase"])
    return CharTokenizer()


def _saved_kind(path: Path, data: object) -> str:
    """The kind a saved file holds: its "kind" key, or "bpe" for a HF BPE tokenizer.json."""
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        model_type = data["model"].get("type")
        if model_type != "BPE":
            raise DataError(f"{path}: a Hugging Face {model_type} tokenizer; seqlab reads only BPE ones")
        return "bpe"
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in ("char", "word"):
        raise DataError(
            f"{path}: not a seqlab tokenizer file (found kind {kind!r}); "
            f"expected a char/word settings file or a Hugging Face BPE tokenizer.json"
        )
    return kind


def _write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
