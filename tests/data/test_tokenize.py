"""seqlab.data.tokenize: round-trips on random text, the word rule by example, save/load, bad input."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import tokenize
from seqlab.data.tokenize import BPETokenizer, CharTokenizer, WordTokenizer, build_tokenizer, load
from seqlab.errors import DataError

# Any Unicode text except lone surrogates (hypothesis's default already leaves them out:
# they have no UTF-8 form, see BPETokenizer).
TEXT = st.text(max_size=60)
# Text heavy in spaces, newlines, tabs and punctuation, where tokenizers usually slip.
TRICKY = st.text(alphabet=st.sampled_from(list(" \n\t\r.,!?()[]'\"-aZé世🎉\u0301\u093f_0")), max_size=40)
PROPERTY = settings(max_examples=60, deadline=None)

CORPUS = [
    "The cat sat on the mat.\nThe dog sat on the log.",
    "  Spaces   and\ttabs\r\nand newlines  ",
    "Überraschung! 世界 hello 🎉 naïve café",
    "numbers 12345 and 3.14, (brackets) [x] {y}",
]


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.build(CORPUS * 3, vocab_size=300, min_frequency=1)


# ----------------------------------------------------------------------------- char


@PROPERTY
@given(st.one_of(TEXT, TRICKY))
def test_char_round_trips_exactly(text):
    char = CharTokenizer()
    tokens = char.tokenize(text)
    assert len(tokens) == len(text)
    assert char.detokenize(tokens) == text


# ----------------------------------------------------------------------------- word


@pytest.mark.parametrize(
    "text, lowercase, tokens, normalized",
    [
        ("Hello, world!", False, ["Hello", ",", "world", "!"], "Hello, world!"),
        ("Hello ,world !", False, ["Hello", ",", "world", "!"], "Hello, world!"),
        ("Say (hi) [now]", True, ["say", "(", "hi", ")", "[", "now", "]"], "say (hi) [now]"),
        ("it's 3.5%", False, ["it", "'", "s", "3", ".", "5", "%"], "it ' s 3. 5%"),
        ("  many\n\tspaces  ", False, ["many", "spaces"], "many spaces"),
        ("snake_case x2", False, ["snake_case", "x2"], "snake_case x2"),
        # combining marks stay inside their word: decomposed é, Devanagari vowel sign
        ("cafe\u0301 हिन्दी", False, ["cafe\u0301", "हिन्दी"], "cafe\u0301 हिन्दी"),
        ("ÉCOLE Straße", True, ["école", "straße"], "école straße"),
        ("", False, [], ""),
    ],
)
def test_word_tokens_and_normalized_text(text, lowercase, tokens, normalized):
    word = WordTokenizer(lowercase=lowercase)
    assert word.tokenize(text) == tokens
    assert word.detokenize(tokens) == normalized


@PROPERTY
@given(st.one_of(TEXT, TRICKY), st.booleans())
def test_word_round_trips_to_the_normalized_text(text, lowercase):
    word = WordTokenizer(lowercase=lowercase)
    tokens = word.tokenize(text)
    normalized = word.detokenize(tokens)
    source = text.lower() if lowercase else text
    # The normalized text keeps every non-whitespace character, in order ...
    assert "".join(normalized.split()) == "".join(source.split())
    # ... its spaces are single ones between tokens ...
    assert "  " not in normalized and normalized == normalized.strip(" ")
    # ... it has the same tokens, and normalizing it again changes nothing.
    assert word.tokenize(normalized) == tokens
    assert word.detokenize(word.tokenize(normalized)) == normalized


def test_word_tokenize_function_matches_default_tokenizer():
    text = "A test, of the (module-level) function!"
    assert tokenize.word_tokenize(text) == WordTokenizer().tokenize(text)


# ----------------------------------------------------------------------------- BPE


@PROPERTY
@given(st.one_of(TEXT, TRICKY))
def test_bpe_round_trips_exactly(bpe, text):
    tokens = bpe.tokenize(text)
    assert all(isinstance(t, str) and t for t in tokens)
    assert bpe.detokenize(tokens) == text


def test_bpe_learns_merges_from_the_training_texts(bpe):
    # "sat" occurs 6 times in the corpus (with its leading space): one merged piece.
    tokens = bpe.tokenize("The cat sat")
    assert "Ġsat" in tokens
    assert len(tokens) < len("The cat sat")


def test_bpe_needs_texts_and_a_sane_size():
    with pytest.raises(ValueError, match="training texts"):
        BPETokenizer.build(None)
    with pytest.raises(ValueError, match=r"vocab_size must be an integer ≥ 257.*got 100"):
        BPETokenizer.build(CORPUS, vocab_size=100)
    with pytest.raises(ValueError, match=r"min_frequency.*got 0"):
        BPETokenizer.build(CORPUS, min_frequency=0)


# ----------------------------------------------------------------------------- save / load / build


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_and_load_give_the_same_tokens(tmp_path, bpe, kind):
    tokenizer = {"char": CharTokenizer(), "word": WordTokenizer(lowercase=True), "bpe": bpe}[kind]
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = load(path)
    assert loaded.kind == kind
    assert load(path, expected_kind=kind).kind == kind
    for text in CORPUS:
        assert loaded.tokenize(text) == tokenizer.tokenize(text)
        assert loaded.detokenize(loaded.tokenize(text)) == tokenizer.detokenize(tokenizer.tokenize(text))


def test_saved_word_settings_are_small_json(tmp_path):
    WordTokenizer(lowercase=True).save(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == {"kind": "word", "version": 1, "lowercase": True}


def test_saved_bpe_is_a_hugging_face_tokenizer_json(tmp_path, bpe):
    from tokenizers import Tokenizer

    bpe.save(tmp_path / "tokenizer.json")
    hf = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert hf.encode("The cat sat").tokens == bpe.tokenize("The cat sat")


def test_build_tokenizer_table():
    assert isinstance(build_tokenizer("char"), CharTokenizer)
    assert build_tokenizer("word", lowercase=True).lowercase is True
    bpe = build_tokenizer("bpe", CORPUS, vocab_size=280, min_frequency=1)
    assert isinstance(bpe, BPETokenizer) and bpe.detokenize(bpe.tokenize(CORPUS[2])) == CORPUS[2]


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match=r"unknown tokenizer kind 'sentencepiece'; expected one of char, word, bpe"):
        build_tokenizer("sentencepiece")


def test_unknown_setting_names_the_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) 'lower' for a word tokenizer; accepted: lowercase"):
        build_tokenizer("word", lower=True)
    with pytest.raises(ValueError, match=r"'lowercase' for a char tokenizer; accepted: none"):
        build_tokenizer("char", lowercase=True)


def test_word_lowercase_must_be_a_bool():
    with pytest.raises(ValueError, match="lowercase must be True or False, got 'yes'"):
        WordTokenizer(lowercase="yes")


def test_loading_a_file_of_the_wrong_kind(tmp_path):
    CharTokenizer().save(tmp_path / "char.json")
    with pytest.raises(DataError, match="holds a char tokenizer, expected a word tokenizer"):
        load(tmp_path / "char.json", expected_kind="word")
    (tmp_path / "vocab.json").write_text(json.dumps({"kind": "seqlab-vocab", "version": 1, "itos": []}))
    with pytest.raises(DataError, match=r"not a seqlab tokenizer file \(found kind 'seqlab-vocab'\)"):
        load(tmp_path / "vocab.json")
    (tmp_path / "wp.json").write_text(json.dumps({"model": {"type": "WordPiece"}}))
    with pytest.raises(DataError, match="a Hugging Face WordPiece tokenizer; seqlab reads only BPE"):
        load(tmp_path / "wp.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a JSON tokenizer file"):
        load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such tokenizer file"):
        load(tmp_path / "missing.json")
    (tmp_path / "future.json").write_text(json.dumps({"kind": "word", "version": 9, "lowercase": False}))
    with pytest.raises(DataError, match="version 9, expected 1"):
        load(tmp_path / "future.json")
