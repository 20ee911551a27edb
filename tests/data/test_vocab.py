"""seqlab.data.vocab: fixed specials, cut-offs, order, unknowns and their warning, files, one-hot."""

import json
import warnings
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.vocab import (
    EOS_ID,
    PAD_ID,
    SOS_ID,
    SPECIALS,
    UNK_ID,
    UnknownTokenWarning,
    Vocab,
    one_hot,
)
from seqlab.errors import DataError

TOKEN_LISTS = st.lists(st.lists(st.sampled_from("a b c d e f g h <unk> <pad>".split()), max_size=12), max_size=12)
PROPERTY = settings(max_examples=80, deadline=None)


def test_special_ids_are_fixed():
    assert (PAD_ID, UNK_ID, SOS_ID, EOS_ID) == (0, 1, 2, 3)
    vocab = Vocab.build([["x", "y"]])
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<sos>", "<eos>"] == list(SPECIALS)
    assert [vocab[t] for t in SPECIALS] == [0, 1, 2, 3]


def test_order_by_frequency_then_first_appearance():
    # counts: the 3, cat 2, sat 2 (cat seen first), a 1, mat 1 (a seen first)
    vocab = Vocab.build([["the", "cat", "sat"], ["the", "sat", "a", "cat"], ["mat", "the"]])
    assert vocab.itos[4:] == ["the", "cat", "sat", "a", "mat"]
    assert len(vocab) == 9


@PROPERTY
@given(TOKEN_LISTS, st.integers(1, 4), st.one_of(st.none(), st.integers(4, 10)))
def test_build_properties(token_lists, min_freq, max_size):
    vocab = Vocab.build(token_lists, min_freq=min_freq, max_size=max_size)
    counts = Counter(t for tokens in token_lists for t in tokens)
    regular = vocab.itos[4:]
    assert vocab.itos[:4] == list(SPECIALS)
    assert len(set(vocab.itos)) == len(vocab)  # no duplicates, specials not added twice
    assert all(counts[t] >= min_freq for t in regular)
    if max_size is not None:
        assert len(vocab) <= max_size
    freqs = [counts[t] for t in regular]
    assert freqs == sorted(freqs, reverse=True)
    # Whatever was left out is no more frequent than what was kept.
    left_out = [t for t in counts if t not in vocab and t not in SPECIALS]
    if regular and left_out:
        assert max(counts[t] for t in left_out) <= min(freqs)
    if max_size is None:
        assert set(regular) == {t for t, n in counts.items() if n >= min_freq} - set(SPECIALS)


@PROPERTY
@given(TOKEN_LISTS, st.lists(st.sampled_from("a b c x y z".split()), max_size=10), st.booleans(), st.booleans())
def test_encode_decode(token_lists, tokens, add_sos, add_eos):
    vocab = Vocab.build(token_lists)
    ids = vocab.encode(tokens, add_sos=add_sos, add_eos=add_eos)
    assert len(ids) == len(tokens) + add_sos + add_eos
    assert (ids[0] == SOS_ID) if add_sos else True
    assert (ids[-1] == EOS_ID) if add_eos else True
    expected = [t if t in vocab else "<unk>" for t in tokens]
    assert vocab.decode(ids) == expected
    assert vocab.decode(torch.tensor(ids, dtype=torch.long)) == expected
    assert vocab.decode(ids, strip_special=False)[add_sos : add_sos + len(tokens)] == expected


def test_unknown_tokens_become_unk_and_lookup_does_too():
    vocab = Vocab.build([["a", "b"]])
    assert vocab.encode(["a", "zebra", "b"]) == [vocab["a"], UNK_ID, vocab["b"]]
    assert vocab["zebra"] == UNK_ID and "zebra" not in vocab and "a" in vocab


def test_strip_special_keeps_unk():
    vocab = Vocab.build([["a"]])
    ids = [SOS_ID, vocab["a"], UNK_ID, EOS_ID, PAD_ID, PAD_ID]
    assert vocab.decode(ids) == ["a", "<unk>"]
    assert vocab.decode(ids, strip_special=False) == ["<sos>", "a", "<unk>", "<eos>", "<pad>", "<pad>"]


def test_encode_corpus_warns_with_the_rate():
    vocab = Vocab.build([["a", "b", "c"]])
    corpus = [["a", "x"], ["b", "c", "y", "z"], []]
    message = r"^3 of 6 tokens \(50\.00%\) were not in the vocabulary and became <unk>$"
    with pytest.warns(UnknownTokenWarning, match=message):
        encoded = vocab.encode_corpus(corpus, add_eos=True)
    assert encoded == [[4, UNK_ID, EOS_ID], [5, 6, UNK_ID, UNK_ID, EOS_ID], [EOS_ID]]


def test_encode_corpus_is_silent_without_unknowns_and_formats_large_counts():
    vocab = Vocab.build([["a"]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert vocab.encode_corpus([["a", "a"]], add_sos=True) == [[SOS_ID, 4, 4]]
    with pytest.warns(UnknownTokenWarning, match=r"^1,234 of 56,789 tokens \(2\.17%\)"):
        vocab.encode_corpus([["b"] * 1234 + ["a"] * (56789 - 1234)])


@PROPERTY
@given(TOKEN_LISTS, st.integers(1, 3))
def test_save_load_identical(tmp_path_factory, token_lists, min_freq):
    vocab = Vocab.build(token_lists, min_freq=min_freq)
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded == vocab and loaded.itos == vocab.itos and loaded.stoi == vocab.stoi


def test_saved_file_keeps_unicode_readable(tmp_path):
    Vocab.build([["사랑해"]]).save(tmp_path / "v.json")
    assert "사랑해" in (tmp_path / "v.json").read_text(encoding="utf-8")


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_freq must be an integer ≥ 1, got 0"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match=r"max_size must be None or an integer ≥ 4 \(the specials\), got 2"):
        Vocab.build([["a"]], max_size=2)
    with pytest.raises(ValueError, match="build takes lists of tokens, got the string 'hello'"):
        Vocab.build(["hello"])
    with pytest.raises(ValueError, match="encode takes a list of tokens, got the string 'hi'"):
        Vocab.build([["a"]]).encode("hi")
    with pytest.raises(ValueError, match=r"id 9 is outside this vocabulary's ids 0\.\.4"):
        Vocab.build([["a"]]).decode([4, 9])
    with pytest.raises(ValueError, match=r"starts with the specials"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match=r"token 'a' appears twice, at ids 4 and 5"):
        Vocab([*SPECIALS, "a", "a"])


def test_loading_a_file_of_the_wrong_kind(tmp_path):
    (tmp_path / "tok.json").write_text(json.dumps({"kind": "word", "version": 1, "lowercase": False}))
    with pytest.raises(DataError, match=r"not a seqlab vocabulary \(found kind 'word', expected 'seqlab-vocab'\)"):
        Vocab.load(tmp_path / "tok.json")
    duplicated = {"kind": "seqlab-vocab", "version": 1, "itos": [*SPECIALS, "a", "a"]}
    (tmp_path / "dup.json").write_text(json.dumps(duplicated))
    with pytest.raises(DataError, match="dup.json: token 'a' appears twice"):
        Vocab.load(tmp_path / "dup.json")
    with pytest.raises(DataError, match="no such vocabulary file"):
        Vocab.load(tmp_path / "missing.json")


def test_one_hot_times_weights_is_an_embedding_lookup():
    ids = torch.tensor([[0, 3, 1], [2, 2, 4]])  # (B=2, T=3)
    vectors = one_hot(ids, 5)
    assert vectors.shape == (2, 3, 5) and vectors.dtype == torch.float32
    assert torch.equal(vectors.sum(-1), torch.ones(2, 3))
    weight = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(vectors @ weight, weight[ids])
    assert one_hot([1, 0], 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_one_hot_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"id 5 is outside 0\.\.4 for vocab_size=5"):
        one_hot([1, 5], 5)
    with pytest.raises(ValueError, match="vocab_size must be an integer ≥ 1, got 0"):
        one_hot([0], 0)
