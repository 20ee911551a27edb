"""train.bucket: length-bucketed batches that stay seeded, cover every example once, and resume exactly."""

import json
import random

import pytest
import torch

from seqlab import config, evaluation
from seqlab.errors import ConfigError
from seqlab.training import loop
from seqlab.training.records import without_timings

SMALL = {"data.num_train": 200, "data.num_valid": 50, "data.num_test": 50, "train.epochs": 3,
         "model.hidden_size": 16, "train.device": "cpu", "train.checkpoint_every": 4, "train.log_every": 3,
         "model.dropout": 0.3, "train.bucket": True}


def lengths_of(n=2000, seed=0):
    rng = random.Random(seed)
    return [rng.randint(1, 200) for _ in range(n)]


def spread(batches, lengths):
    """Mean over batches of (longest - shortest) length within the batch."""
    return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)


def test_every_example_once_and_seeded():
    lengths = lengths_of()
    first = loop.batch_indices(len(lengths), 10, torch.Generator().manual_seed(3), lengths)
    again = loop.batch_indices(len(lengths), 10, torch.Generator().manual_seed(3), lengths)
    other = loop.batch_indices(len(lengths), 10, torch.Generator().manual_seed(4), lengths)
    assert first == again and first != other
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert len(first) == 200 and all(len(b) == 10 for b in first)  # 2000 / 10: as many batches as unbucketed


def test_batches_are_near_uniform_in_length():
    lengths = lengths_of()
    plain = loop.batch_indices(len(lengths), 10, torch.Generator().manual_seed(0))
    bucketed = loop.batch_indices(len(lengths), 10, torch.Generator().manual_seed(0), lengths)
    # Random batches of 10 lengths in 1..200 spread about 200 * 9/11 = 164 on average; a window of 50
    # batches (500 lengths) sorted and cut into tens spreads about 200 * 10/500 = 4.
    assert spread(plain, lengths) > 120
    assert spread(bucketed, lengths) < 10
    # Batch order is shuffled too: consecutive batches are not sorted by length.
    means = [sum(lengths[i] for i in b) / len(b) for b in bucketed]
    assert means != sorted(means)


def test_token_budget_caps_padded_cells():
    lengths = lengths_of()
    bucketed = loop.batch_indices(len(lengths), 64, torch.Generator().manual_seed(0), lengths, max_tokens=1000)
    assert sorted(i for b in bucketed for i in b) == list(range(len(lengths)))
    assert all(len(b) * max(lengths[i] for i in b) <= 1000 for b in bucketed)
    assert all(len(b) <= 64 for b in bucketed) and max(len(b) for b in bucketed) == 64  # short ones fill 64


def test_evaluation_batches_are_sorted_by_length():
    lengths = lengths_of(100)
    batches = loop.batch_indices(100, 16, None, lengths)
    order = [i for b in batches for i in b]
    assert sorted(order) == list(range(100))
    assert [lengths[i] for i in order] == sorted(lengths)


def read(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return without_timings(records), json.loads((run / "summary.json").read_text())


class Stopped(Exception):
    pass


def test_bucketed_training_is_seeded_and_resumes_exactly(tmp_path, monkeypatch):
    reference = read(loop.train("toy-tag", SMALL, out=tmp_path / "ref"))
    assert evaluation.evaluate_run(tmp_path / "ref", "test")["metrics"] == reference[1]["test"]  # scored alike
    assert read(loop.train("toy-tag", SMALL, out=tmp_path / "again"))[0] == reference[0]
    plain = read(loop.train("toy-tag", {**SMALL, "train.bucket": False}, out=tmp_path / "plain"))
    assert plain[0] != reference[0]  # the batches really are different ones
    monkeypatch.setenv(loop.KILL_AFTER_STEP_ENV, "17")  # epoch 3, batch 3; the last checkpoint is step 16's

    def stop():
        raise Stopped

    monkeypatch.setattr(loop, "_kill_self", stop)
    with pytest.raises(Stopped):
        loop.train("toy-tag", SMALL, out=tmp_path / "run")
    monkeypatch.delenv(loop.KILL_AFTER_STEP_ENV)
    records, summary = read(loop.train(resume=tmp_path / "run"))
    assert records == reference[0]
    assert summary["test"] == reference[1]["test"] and summary["best"] == reference[1]["best"]


def test_bucket_needs_a_task_with_lengths(tmp_path):
    with pytest.raises(ConfigError, match=r"train.bucket: task 'lm' orders its own batches .*; expected false"):
        loop.train("shakespeare-smoke", {"train.bucket": True}, out=tmp_path / "run")


def test_max_tokens_needs_bucket():
    with pytest.raises(ConfigError, match=r"train.max_tokens: expected an integer >= 1 with train.bucket true, "
                                          r"or null, got 500"):
        config.resolve("toy-tag", {"train.max_tokens": 500})
    assert config.resolve("toy-tag", {"train.max_tokens": 500, "train.bucket": True}).train.max_tokens == 500
