"""The lm task through the training loop: stateful windows, resume mid-epoch, the run dir."""

import json
import math
import random

import pytest

from seqlab.training import checkpoint, loop
from seqlab.training.records import without_timings


class Stopped(Exception):
    pass


def stop_after(monkeypatch, step):
    """Stop the run right after ``step`` (the loop's test hook raises instead of killing the process)."""
    monkeypatch.setenv(loop.KILL_AFTER_STEP_ENV, str(step))

    def stop():
        raise Stopped

    monkeypatch.setattr(loop, "_kill_self", stop)


def corpus(tmp_path):
    """3,000 characters of a seeded toy language: words from a small lexicon, lines of 5 to 9 words."""
    rng = random.Random(0)
    words = ["the", "king", "shall", "speak", "of", "rome", "and", "we", "love", "thee"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 9))) for _ in range(80)]
    path = tmp_path / "toy.txt"
    path.write_text("\n".join(lines)[:3000], encoding="utf-8")
    return path


def recipe(tmp_path):
    path = tmp_path / "toy-lm.yaml"
    path.write_text("task: lm\n", encoding="utf-8")
    return path


def small(path, **more):
    return {"data.name": None, "data.train": str(path), "data.format": "text",
            "data.tokenizer": "char", "data.bptt": 16, "model.embedding_dim": 8, "model.hidden_size": 24,
            "model.num_layers": 2, "model.dropout": 0.2, "model.recurrent_dropout": 0.1,
            "model.tie_embeddings": True, "train.batch_size": 8, "train.epochs": 3, "train.lr": 0.01,
            "train.device": "cpu", "train.checkpoint_every": 5, "train.log_every": 2, "eval.batch_size": 4,
            "train.schedule": "warmup_cosine", "train.warmup_fraction": 0.1, **more}


def read(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return without_timings(records), json.loads((run / "summary.json").read_text())


def test_a_stream_lm_trains_and_writes_its_run_dir(tmp_path):
    run = loop.train(recipe(tmp_path), small(corpus(tmp_path)), out=tmp_path / "run")
    records, summary = read(run)
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert len(epochs) == 3 and epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    assert epochs[-1]["valid_bpc"] == pytest.approx(epochs[-1]["valid_loss"] / math.log(2))
    assert epochs[-1]["valid_perplexity"] == pytest.approx(math.exp(epochs[-1]["valid_loss"]))
    assert summary["headline"]["metric"] == "loss" and summary["best"]["mode"] == "min"
    for name in ("tokenizer.json", "vocab.json", "model.safetensors", "samples.txt"):
        assert (run / name).is_file(), name


def test_resume_mid_epoch_restores_the_carried_state(tmp_path, monkeypatch):
    """Stopped after step 12; the last checkpoint (step 10) is mid-epoch, so the resumed run
    must continue from the hidden state that window 10 left (saved with the checkpoint)."""
    path = corpus(tmp_path)
    # 2,400 training characters (valid and test are carved off the end): rows of
    # L = (2400 - 16 + 1) // 8 = 298 tokens, so ceil(297 / 16) = 19 windows per epoch.
    per_epoch = 19
    reference = read(loop.train(recipe(tmp_path), small(path), out=tmp_path / "ref"))
    stop_after(monkeypatch, 12)
    with pytest.raises(Stopped):
        loop.train(recipe(tmp_path), small(path), out=tmp_path / "run")
    monkeypatch.delenv(loop.KILL_AFTER_STEP_ENV)
    saved = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert (saved["loop"]["step"], saved["loop"]["batch"]) == (10, 10) and saved["loop"]["batch"] < per_epoch
    assert set(saved["carried"]) == {"h", "c"} and tuple(saved["carried"]["h"].shape) == (2, 8, 24)
    records, summary = read(loop.train(resume=tmp_path / "run"))
    assert records == reference[0]
    assert summary["test"] == reference[1]["test"] and summary["best"] == reference[1]["best"]
