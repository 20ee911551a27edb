"""seq2seq on parallel text: the user's files, multi30k and eng-fra, directions, splits,
tokenizers, references for BLEU, and the bad-input cases."""

import json
import os
import warnings
from pathlib import Path

import pytest

from seqlab import config
from seqlab.data.vocab import UNK_ID
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import get_task
from seqlab.tasks.seq2seq_data import EmptyPairWarning, load_data

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")

TRAIN = "Ein Hund läuft.\tA dog runs.\nEin Mann läuft.\tA man runs.\nEin Hund schläft.\tA dog sleeps.\n"
VALID = "Ein Mann schläft.\tA man sleeps.\n"
TEST = "Eine Katze läuft.\tA cat runs.\n"


def present(name):
    return pytest.mark.skipif(not (ROOT / name).is_dir(), reason=f"{ROOT / name} is absent (set SEQLAB_DATA_DIR)")


def files(tmp_path, train=TRAIN, valid=VALID, test=TEST):
    paths = {}
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        paths[name] = tmp_path / f"{name}.tsv"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def cfg_for(data, **sections):
    return config.from_dict({"task": "seq2seq", "data": data, **sections})


def user_cfg(paths, **data):
    return cfg_for({"name": None, "format": "parallel", "tokenizer": "word", "lowercase": True,
                    **{k: str(v) for k, v in paths.items()}, **data})


def test_parallel_files_give_lowercased_word_pairs_with_text_references(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "katze" is unknown: an UnknownTokenWarning
        data = load_data(user_cfg(files(tmp_path)))
    assert [len(data.train), len(data.valid), len(data.test)] == [3, 1, 1]
    assert data.src_vocab.decode(data.train[0].src) == ["ein", "hund", "läuft", "."]
    assert data.tgt_vocab.decode(data.train[0].tgt) == ["a", "dog", "runs", "."]
    assert data.test[0].src[1] == UNK_ID  # "katze": not in the training sources
    assert data.test[0].tgt[1] == UNK_ID and data.test[0].ref == "a cat runs ."  # the reference keeps the word
    assert data.target_text()(data.train[2].tgt) == "a dog sleeps ."  # tokens joined by spaces
    assert get_task("seq2seq").headline_for(user_cfg(files(tmp_path))) == "bleu"
    data.save(tmp_path)
    split = json.loads((tmp_path / "split.json").read_text())
    assert split["indices"] == {"train": [0, 1, 2], "valid": [0], "test": [0]}


def test_min_freq_and_max_vocab_apply_to_each_side(tmp_path):
    data = load_data(user_cfg(files(tmp_path), min_freq=2))
    # sources: ein x3, läuft x2, hund x2, . x3; targets: a x3, dog x2, runs x2, . x3
    assert sorted(data.src_vocab.itos[4:]) == [".", "ein", "hund", "läuft"]
    assert sorted(data.tgt_vocab.itos[4:]) == [".", "a", "dog", "runs"]
    data = load_data(user_cfg(files(tmp_path), max_vocab=6))
    assert len(data.src_vocab) == len(data.tgt_vocab) == 6


def test_bpe_is_one_joint_model_and_references_are_the_original_text(tmp_path):
    paths = files(tmp_path)
    cfg = cfg_for({"name": None, "format": "parallel", "tokenizer": "bpe", "bpe_vocab_size": 300,
                   **{k: str(v) for k, v in paths.items()}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(cfg)
    assert data.tokenizer.kind == "bpe"
    assert data.train[0].ref == "A dog runs." and data.test[0].ref == "A cat runs."
    assert data.target_text()(data.train[0].tgt) == "A dog runs."  # the BPE decoder gives the text back


def test_valid_and_test_are_carved_from_train_when_absent(tmp_path):
    lines = "".join(f"quelle {i}\tziel {i}\n" for i in range(40))
    paths = files(tmp_path, train=lines)
    cfg = user_cfg({"train": paths["train"]}, valid_fraction=0.1, test_fraction=0.25)
    data = load_data(cfg)
    assert [len(data.train), len(data.valid), len(data.test)] == [26, 4, 10]
    again = load_data(cfg)
    assert again.split == data.split  # seeded
    assert set(data.split["train"]).isdisjoint(data.split["test"])


def test_a_line_without_a_tab_names_the_file_and_line(tmp_path):
    paths = files(tmp_path, train="Ein Hund.\tA dog.\nEin Mann. A man.\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: expected 'source<TAB>target'"):
        load_data(user_cfg(paths))


def test_pairs_with_an_empty_side_are_skipped_with_a_count(tmp_path):
    paths = files(tmp_path, train=TRAIN + "\tA ghost.\nEin Geist.\t  \n")
    with pytest.warns(EmptyPairWarning, match=r"train\.tsv: skipped 2 pair\(s\) of split 'train' .* first at line 4"):
        data = load_data(user_cfg(paths))
    assert len(data.train) == 3 and data.about["skipped_empty"] == {"train": 2, "valid": 0, "test": 0}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"format": "csv"}, "data.format: task 'seq2seq' reads 'parallel' files .* got 'csv'"),
        ({"direction": "de-en"}, "data.direction: your files are read as source<TAB>target"),
        ({"train": None}, "data.train: expected a path to your parallel training file"),
    ],
)
def test_user_file_errors_name_the_key(tmp_path, data, message):
    paths = {k: str(v) for k, v in files(tmp_path).items()}
    with pytest.raises(ConfigError, match=message):
        load_data(cfg_for({"name": None, "format": "parallel", **paths, **data}))


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "multi30k", "direction": "de-fr"}, r"data.direction: multi30k translates de-en or en-de, got 'de-fr'"),
        ({"name": "multi30k", "direction": "deen"}, r"got 'deen'; did you mean 'de-en'\?"),
        ({"name": "eng-fra", "direction": "fr-de"}, r"eng-fra translates en-fr or fr-en"),
        ({"name": "multi31k"}, r"unknown dataset 'multi31k' for task 'seq2seq'; did you mean 'multi30k'\?"),
        ({"name": "dates", "direction": "de-en"}, r"data.direction: applies to the corpora"),
    ],
)
def test_unknown_directions_and_datasets_are_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        load_data(cfg_for(data))


def test_classify_refuses_parallel_files(tmp_path):
    paths = {k: str(v) for k, v in files(tmp_path).items()}
    cfg = config.from_dict({"task": "classify", "data": {"name": None, "format": "parallel", **paths}})
    with pytest.raises(ConfigError, match="data.format: task 'classify' reads csv, tsv or jsonl files"):
        get_task("classify").load_data(cfg)


@present("multi30k")
def test_multi30k_official_splits_and_both_directions(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    small = {"name": "multi30k", "tokenizer": "word", "lowercase": True, "limit_train": 50, "limit_eval": 20}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        de_en = load_data(cfg_for({**small, "direction": "de-en"}))
        en_de = load_data(cfg_for({**small, "direction": "en-de"}))
        full = load_data(cfg_for({"name": "multi30k", "tokenizer": "word", "lowercase": True}))
    assert [len(full.train), len(full.valid), len(full.test)] == [29000, 1014, 1000]  # SOURCE.md
    assert full.test[0].ref == "a man in an orange hat starring at something ."  # test_2016_flickr line 1
    assert de_en.split == en_de.split
    assert de_en.tgt_vocab.itos == en_de.src_vocab.itos  # English is the target of one, the source of the other
    assert [e.tgt for e in de_en.train] == [e.src for e in en_de.train]
    assert de_en.test[0].ref == "two men pretend to be statutes while women look on ."  # a seeded pick of 20
    assert en_de.test[0].ref.startswith("zwei männer")
    assert en_de.about["sources"] == {"train": "multi30k/train", "valid": "multi30k/val",
                                      "test": "multi30k/test_2016_flickr"}


@present("eng-fra")
def test_eng_fra_holds_out_a_seeded_test_share(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    cfg = cfg_for({"name": "eng-fra", "tokenizer": "word", "lowercase": True, "test_fraction": 0.05,
                   "valid_fraction": 0.05, "limit_train": 30, "limit_eval": 10})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, again = load_data(cfg), load_data(cfg)
    assert data.about["carved_from_train"] == {"valid": 0.05, "test": 0.05}
    assert [len(data.train), len(data.valid), len(data.test)] == [30, 10, 10]
    assert set(data.split["test"]).isdisjoint(data.split["train"]) and set(data.split["test"]).isdisjoint(
        data.split["valid"])
    assert data.split == again.split  # seeded
