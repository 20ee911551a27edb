"""seqlab.data.splitting: seeded, carved, limited and chronological splits, split files, unseen labels."""

import json

import pytest

from seqlab.data import splitting
from seqlab.errors import DataError


def test_seeded_split_is_a_seeded_partition(tmp_path):
    split = splitting.seeded_split(101, (0.8, 0.1, 0.1), seed=3)
    assert [len(v) for v in split.values()] == [81, 10, 10]
    assert sorted(i for v in split.values() for i in v) == list(range(101))
    assert split == splitting.seeded_split(101, (0.8, 0.1, 0.1), seed=3)
    assert split != splitting.seeded_split(101, (0.8, 0.1, 0.1), seed=4)
    splitting.save_split(split, tmp_path / "split.json", seed=3, source="names")
    assert splitting.load_split(tmp_path / "split.json") == split
    assert json.loads((tmp_path / "split.json").read_text())["about"] == {"seed": 3, "source": "names"}


def test_carving_takes_only_the_missing_splits_from_train():
    rows = {"train": list("abcdefghij"), "test": list("xyz")}
    names, split, about = splitting.carve_missing_splits(rows, {"train": "t.csv", "test": "u.csv"}, 0.2, 0.1, seed=0)
    assert names == {"train": "train", "valid": "train", "test": "test"}
    assert len(split["train"]) == 8 and len(split["valid"]) == 2 and split["test"] == [0, 1, 2]
    assert sorted(split["train"] + split["valid"]) == list(range(10))  # a partition of train's rows
    assert about == {"sources": {"train": "t.csv", "valid": "t.csv", "test": "u.csv"},
                     "carved_from_train": {"valid": 0.2}}


def test_limits_keep_the_first_n_of_a_seeded_shuffle_in_order():
    splits = {"train": list(range(100)), "valid": list(range(50)), "test": list(range(5))}
    splitting.limit_splits(splits, 10, 20, seed=0)
    assert len(splits["train"]) == 10 and len(splits["valid"]) == 20 and splits["test"] == list(range(5))
    assert splits["train"] == sorted(splits["train"]) and splits["train"] != list(range(10))
    again = {"train": list(range(100)), "valid": list(range(50)), "test": list(range(5))}
    splitting.limit_splits(again, 10, 20, seed=0)
    assert again == splits


def test_chronological_split_keeps_order():
    split = splitting.chronological_split(10, (0.6, 0.2, 0.2))
    assert split == {"train": [0, 1, 2, 3, 4, 5], "valid": [6, 7], "test": [8, 9]}


def test_bad_fractions():
    with pytest.raises(ValueError, match=r"fractions \[0.5, 0.1\]: expected .* summing to 1"):
        splitting.seeded_split(10, (0.5, 0.1), names=("a", "b"))


def test_labels_unseen_in_train():
    splitting.check_split_labels(["a", "b"], ["b", "a"], "valid")
    with pytest.raises(DataError, match=r"split 'test' has labels not seen in train: \['c'\]"):
        splitting.check_split_labels(["a", "b"], ["a", "c"], "test")


def test_char_split():
    assert splitting.char_split("abcdefghij", 0.9) == ("abcdefghi", "j")
