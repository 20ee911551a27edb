"""seqlab.training.schedule: the warmup-cosine factor by hand, plateau and monitor rules, lr in metrics.jsonl."""

import itertools
import json
import math

import pytest
import torch

from seqlab.config import TrainConfig
from seqlab.errors import ConfigError
from seqlab.training import loop, schedule
from seqlab.training.schedule import WarmupCosine
from seqlab.training.trainer import RunClock

SMALL = {"data.num_train": 200, "data.num_valid": 50, "data.num_test": 50, "train.epochs": 2,
         "model.hidden_size": 16, "train.device": "cpu", "train.log_every": 1}


def test_warmup_cosine_by_hand():
    f = WarmupCosine(warmup=4, total=14, min_ratio=0.1)
    # warmup: (s + 1) / 4 for s = 0..3, reaching 1 at the last warmup step
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # then 0.1 + 0.9 * (1 + cos(pi * (s - 4) / 10)) / 2: 1 at s = 4, 0.55 half way (s = 9), 0.1 at s = 14
    assert f(4) == pytest.approx(1.0) and f(9) == pytest.approx(0.55) and f(14) == pytest.approx(0.1)
    assert f(100) == pytest.approx(0.1)  # past the end: stays at the floor


def _lrs(t, steps, mode="max", values=()):
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr)
    scheduler = schedule.build_scheduler(optimizer, t, steps, mode)
    out = []
    for i in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if t.schedule == "plateau":
            scheduler.step(values[i])
        else:
            scheduler.step()
    return out


def test_schedules_move_the_lr():
    assert _lrs(TrainConfig(lr=0.1), 3) == [0.1, 0.1, 0.1]
    lrs = _lrs(TrainConfig(lr=0.1, schedule="warmup_cosine", warmup_fraction=0.2), 10)
    # warmup = ceil(0.2 * 10) = 2 steps, then the cosine over the 8 others: 0.1 * (1 + cos(pi * k / 8)) / 2
    assert lrs[:4] == pytest.approx([0.05, 0.1, 0.1, 0.1 * (1 + math.cos(math.pi / 8)) / 2])
    # plateau, stepped once per epoch on the monitor: two epochs without a better value are
    # tolerated, the third halves the lr (for the epoch after it), and counting starts again
    t = TrainConfig(lr=0.1, schedule="plateau", plateau_patience=2, plateau_factor=0.5, min_lr_ratio=0.2)
    assert _lrs(t, 9, "max", [0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]) == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    assert _lrs(t, 12, "min", [1.0] * 12)[-1] == pytest.approx(0.02)  # never below lr * min_lr_ratio


@pytest.mark.parametrize("name, expected", [("valid_loss", "min"), ("valid_token_accuracy", "max"),
                                            ("valid_perplexity", "min"), ("valid_macro_f1", "max")])
def test_mode_auto(name, expected):
    assert schedule.monitor_mode(TrainConfig(), name) == expected
    assert schedule.monitor_mode(TrainConfig(mode="max"), name) == "max"


@pytest.mark.parametrize("overrides, message", [
    ({"train.warmup_steps": 3}, "train.schedule: expected warmup_cosine when train.warmup_steps"),
    ({"train.schedule": "warmup_cosine", "train.warmup_steps": 3, "train.warmup_fraction": 0.1},
     "train.warmup_fraction: expected 0 when train.warmup_steps is set (3)"),
    ({"train.plateau_factor": 1.0}, "train.plateau_factor: expected a number in (0, 1), got 1.0"),
    ({"train.patience": 0}, "train.patience: expected an integer >= 1, or null, got 0"),
    ({"train.schedule": "linear"}, "train.schedule: expected one of constant, warmup_cosine, plateau, got 'linear'"),
])
def test_bad_schedule_keys(overrides, message):
    from seqlab import config
    with pytest.raises(ConfigError) as err:
        config.resolve("toy-tag", overrides)
    assert message in str(err.value)


def test_lr_is_logged_per_step(tmp_path):
    run = loop.train("toy-tag", {**SMALL, "train.epochs": 1, "train.schedule": "warmup_cosine",
                                 "train.warmup_steps": 2, "train.lr": 0.02}, out=tmp_path / "run")
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in steps if r["kind"] == "step"]
    assert lrs[:3] == pytest.approx([0.01, 0.02, 0.02]) and lrs[-1] < lrs[3] < 0.02 and len(lrs) == 7


def test_warmup_cosine_follows_the_time_spent_when_it_is_ahead_of_the_steps():
    f = WarmupCosine(warmup=4, total=14, min_ratio=0.1)
    assert f(2, spent=0.9) == 0.75  # warmup counts steps alone
    assert f(5, spent=0.5) == pytest.approx(0.55)  # steps say 0.1 of the cosine, time 0.5: time leads
    assert f(12, spent=0.2) == pytest.approx(f(12))  # steps ahead: they lead
    assert f(6, spent=1.7) == pytest.approx(0.1)  # the limit passed: the floor


def test_a_time_limit_anneals_warmup_cosine_by_the_time_spent(tmp_path, monkeypatch):
    # The run's clock reads one second more each time the loop reads it (once a step, once at an
    # epoch's end), whatever the machine: the 60 s of the limit run out after about 55 of the
    # 1,400 steps, where the steps alone would keep the cosine near its top. It ends near its floor.
    ticks = itertools.count(1)
    monkeypatch.setattr(RunClock, "elapsed", lambda self: float(next(ticks)))
    run = loop.train("toy-tag", {**SMALL, "train.epochs": 200, "train.schedule": "warmup_cosine", "train.lr": 0.01,
                                 "train.max_minutes": 1}, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    steps = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "step"]
    lrs = [r["lr"] for r in steps]
    assert summary["time_limit_reached"] and summary["steps"] < 0.05 * 200 * 7
    assert all(later <= earlier for earlier, later in itertools.pairwise(lrs))
    assert lrs[-1] < 0.01 * 0.01 < 0.01 * 0.99 < 0.01 * WarmupCosine(0, 200 * 7, 0.0)(steps[-1]["step"] - 1)
