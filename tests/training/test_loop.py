"""seqlab.training.loop: seeded and deterministic, the run dir's contents, weights load back."""

import json

import pytest
import torch
from safetensors.torch import load_file

import seqlab
from seqlab import config
from seqlab.tasks import get_task
from seqlab.training import loop

# A run of a second or two: the toy at a tenth of its size.
SMALL = {"data.num_train": 200, "data.num_valid": 50, "data.num_test": 50, "train.epochs": 2,
         "model.hidden_size": 16, "train.device": "cpu"}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_same_metrics(tmp_path):
    first = loop.train("toy-tag", SMALL, out=tmp_path / "a")
    second = loop.train("toy-tag", SMALL, out=tmp_path / "b")
    assert (first / "metrics.jsonl").read_bytes() == (second / "metrics.jsonl").read_bytes()
    assert load_file(first / "model.safetensors").keys() == load_file(second / "model.safetensors").keys()
    other = loop.train("toy-tag", {**SMALL, "seed": 1}, out=tmp_path / "c")
    assert (other / "metrics.jsonl").read_bytes() != (first / "metrics.jsonl").read_bytes()


def test_run_dir_contents(tmp_path):
    run = loop.train("toy-tag", [f"{key}={value}" for key, value in SMALL.items()], out=tmp_path / "run")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "metrics.jsonl", "model.safetensors", "summary.json",
                                                     "tags.json", "vocab.json"]
    assert config.load(run / "config.yaml") == config.resolve("toy-tag", SMALL)
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    assert set(records[0]) == {"epoch", "step", "train_loss", "valid_loss", "valid_token_accuracy", "valid_exact_match"}
    assert records[-1]["step"] == 2 * 7  # ceil(200 / 32) updates per epoch
    summary = json.loads((run / "summary.json").read_text())
    assert summary["headline"] == {"metric": "token_accuracy", "split": "test", "value": summary["test"]["token_accuracy"]}
    assert set(summary["test"]) == {"loss", "token_accuracy", "exact_match"}
    assert summary["num_parameters"] > 0 and summary["wall_time_s"] > 0 and summary["steps"] == 14


def test_weights_load_back_into_the_model(tmp_path):
    run = loop.train("toy-tag", SMALL, out=tmp_path / "run")
    cfg = config.load(run / "config.yaml")
    task = get_task(cfg.task)
    data = task.load_data(cfg)
    model = task.build_model(cfg, data)
    model.load_state_dict(load_file(run / "model.safetensors"))
    test = loop.evaluate(model, data.test, task.collate, cfg.eval.batch_size, torch.device("cpu"))
    assert test == pytest.approx(json.loads((run / "summary.json").read_text())["test"])


def test_default_run_dir_is_under_runs_and_never_collides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = loop.make_run_dir("toy-tag", None)
    second = loop.make_run_dir("toy-tag", None)
    assert first.parent == second.parent == tmp_path / "runs"
    assert first != second and first.name.startswith("toy-tag-")


def test_out_must_be_new_or_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder"):
        loop.make_run_dir("toy-tag", tmp_path / "full")
    assert loop.make_run_dir("toy-tag", tmp_path / "new" / "run").is_dir()


def test_batches_cover_every_example_once():
    generator = torch.Generator().manual_seed(0)
    seen = [row for batch in loop.batches(list(range(10)), 4, list, generator) for row in batch]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    assert [len(b) for b in loop.batches(list(range(10)), 4, list)] == [4, 4, 2]


def test_seqlab_train_is_callable_from_python(tmp_path):
    run = seqlab.train("toy-tag", overrides={**SMALL, "train.epochs": 1}, out=tmp_path / "run")
    assert (run / "summary.json").is_file()


def test_bad_device_names_the_key():
    if torch.cuda.is_available():
        pytest.skip("cuda is available here")
    with pytest.raises(ValueError, match="train.device: 'cuda'"):
        loop.resolve_device("cuda")
