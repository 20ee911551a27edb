"""Every named dataset in the shared folder loads offline with its official split, and
its example counts match the dataset's SOURCE.md (the numbers below are copied from
there). Each test is skipped, with the reason, when its folder is absent."""

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from seqlab.data import registry

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


def present(name):
    folder = ROOT / name
    return pytest.mark.skipif(not folder.is_dir(), reason=f"{folder} is absent (set SEQLAB_DATA_DIR)")


def load(name, split):
    return registry.load(name, split, ROOT)


@present("tinyshakespeare")
def test_tinyshakespeare():
    (text,) = load("tinyshakespeare", "all")
    assert len(text) == 1_115_394 and text.count("\n") == 40_000 and len(set(text)) == 65
    (train,), (valid,) = load("tinyshakespeare", "train"), load("tinyshakespeare", "valid")
    assert train + valid == text and len(train) == int(0.9 * len(text))


@present("imdb")
def test_imdb_counts_and_load_time():
    start = time.perf_counter()
    train, test = load("imdb", "train"), load("imdb", "test")
    seconds = time.perf_counter() - start
    for split in (train, test):
        assert len(split) == 25_000 and Counter(label for _, label in split) == {"0": 12_500, "1": 12_500}
    assert max(len(text) for text, _ in train + test) == 13_704  # SOURCE.md: the longest review
    assert seconds < 10, f"loading IMDB took {seconds:.1f} s"


@present("sst2")
def test_sst2():
    assert Counter(label for _, label in load("sst2", "train")) == {"0": 29_780, "1": 37_569}
    assert Counter(label for _, label in load("sst2", "dev")) == {"0": 428, "1": 444}
    test = load("sst2", "test")
    assert len(test) == 1_821 and {label for _, label in test} == {None}


@present("names")
def test_names():
    counts = Counter(label for _, label in load("names", "all"))
    assert sum(counts.values()) == 20_074 and len(counts) == 18
    assert counts["Russian"] == 9_408 and counts["Vietnamese"] == 73 and counts["English"] == 3_668


@present("multi30k")
def test_multi30k():
    sizes = {s: len(load("multi30k", s)) for s in ("train", "val", "test_2016_flickr")}
    assert sizes == {"train": 29_000, "val": 1_014, "test_2016_flickr": 1_000}


@present("eng-fra")
def test_eng_fra():
    pairs = load("eng-fra", "all")
    assert len(pairs) == 142_787 and pairs[0] == ("Go.", "Va !")


@present("ett_small")
def test_ett_small():
    for table in ("ETTh1", "ETTh2"):
        whole = load("ett_small", f"{table}/all")
        assert len(whole) == 17_420 and whole.names == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
        assert str(whole.timestamps[0]) == "2016-07-01 00:00:00" and str(whole.timestamps[-1]) == "2018-06-26 19:00:00"
        sizes = [len(load("ett_small", f"{table}/{s}")) for s in ("train", "val", "test")]
        assert sizes == [8_640, 2_880, 2_880]


@present("ud_english_ewt")
def test_ud_english_ewt():
    expected = {"train": (12_544, 204_577), "dev": (2_001, 25_147), "test": (2_077, 25_094)}
    for split, (sentences, words) in expected.items():
        examples = load("ud_english_ewt", split)
        assert (len(examples), sum(len(tokens) for tokens, _ in examples)) == (sentences, words)
        assert all(len(tokens) == len(tags) for tokens, tags in examples)


@present("word_analogy")
def test_word_analogy():
    sections = load("word_analogy", "analogy")
    assert len(sections) == 14 and sum(len(q) for _, q in sections) == 19_544
    assert sections[0][1][0] == ("Athens", "Greece", "Baghdad", "Iraq")
    assert len(load("word_analogy", "wordsim353")) == 353
    simlex = load("word_analogy", "simlex999")
    assert len(simlex) == 999 and simlex[0] == ("old", "new", 1.58)


@present("word2vec_lee")
def test_word2vec_lee():
    background, evaluation = load("word2vec_lee", "background"), load("word2vec_lee", "eval")
    assert len(background) == 300 and sum(len(d.split()) for d in background) == 59_890
    assert len(evaluation) == 50 and sum(len(d.split()) for d in evaluation) == 3_983


def test_datasets_not_in_the_shared_folder_say_how_to_get_them(tmp_path):
    for name in ("jena_climate", "text8"):
        if (ROOT / name).is_dir():
            continue
        with pytest.raises(ValueError, match=rf"seqlab data fetch {name}"):
            load(name, "all")
