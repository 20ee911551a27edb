"""train(resume=RUN_DIR): a stopped run ends exactly as an uninterrupted one; bad run dirs are named.

Here the run is stopped in-process (the test hook raises instead of killing the process);
tests/e2e/test_resume_cli.py kills a real process.
"""

import json

import pytest

from seqlab.errors import ConfigError
from seqlab.training import checkpoint, loop
from seqlab.training.records import without_timings

SMALL = {"data.num_train": 200, "data.num_valid": 50, "data.num_test": 50, "train.epochs": 3,
         "model.hidden_size": 16, "train.device": "cpu", "train.checkpoint_every": 4, "train.log_every": 3,
         "model.dropout": 0.3}


class Stopped(Exception):
    pass


def read(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return without_timings(records), json.loads((run / "summary.json").read_text())


def stop_after(monkeypatch, step):
    monkeypatch.setenv(loop.KILL_AFTER_STEP_ENV, str(step))

    def stop():
        raise Stopped

    monkeypatch.setattr(loop, "_kill_self", stop)


@pytest.mark.parametrize("schedule", [
    {"train.schedule": "plateau", "train.plateau_patience": 1, "train.monitor": "valid_loss"},
    {"train.schedule": "warmup_cosine", "train.warmup_fraction": 0.2},
])
def test_resume_ends_as_an_uninterrupted_run(tmp_path, monkeypatch, schedule):
    overrides = {**SMALL, **schedule}
    reference = read(loop.train("toy-tag", overrides, out=tmp_path / "ref"))
    stop_after(monkeypatch, 17)  # epoch 3, batch 3: the last checkpoint is step 16's; step 15's record comes after it
    with pytest.raises(Stopped):
        loop.train("toy-tag", overrides, out=tmp_path / "run")
    monkeypatch.delenv(loop.KILL_AFTER_STEP_ENV)
    assert not (tmp_path / "run" / "summary.json").exists()
    run = loop.train(resume=tmp_path / "run")
    records, summary = read(run)
    assert records == reference[0]
    assert summary["test"] == reference[1]["test"] and summary["best"] == reference[1]["best"]


def test_resume_needs_a_checkpoint(tmp_path, monkeypatch):
    stop_after(monkeypatch, 2)  # before the first checkpoint (step 4)
    with pytest.raises(Stopped):
        loop.train("toy-tag", SMALL, out=tmp_path / "run")
    with pytest.raises(ValueError) as err:
        loop.train(resume=tmp_path / "run")
    assert str(err.value).startswith(f"resume: no checkpoint in {tmp_path / 'run'}: looked for "
                                     "checkpoints/last.safetensors")
    with pytest.raises(FileNotFoundError, match="resume: run dir not found"):
        loop.train(resume=tmp_path / "nowhere")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped after step 5 (checkpoint at step 4), to be resumed by the tests below."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        stop_after(monkeypatch, 5)
        with pytest.raises(Stopped):
            loop.train("toy-tag", SMALL, out=out)
    return out


@pytest.mark.parametrize("recipe, overrides, key", [
    ("toy-tag", {**SMALL, "train.lr": 0.5}, "train.lr"),
    (None, {"seed": 3}, "seed"),
])
def test_resume_takes_its_recipe_from_the_run_dir(stopped_run, recipe, overrides, key):
    with pytest.raises(ConfigError) as err:
        loop.train(recipe, overrides, resume=stopped_run)
    assert str(err.value) == (f"resume takes its recipe from {stopped_run / 'config.yaml'}; the recipe and overrides "
                              f"given differ at {key}")


def test_resume_refuses_a_checkpoint_of_another_config(stopped_run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    config_text = (stopped_run / "config.yaml").read_text()
    (other / "config.yaml").write_text(config_text.replace("hidden_size: 16", "hidden_size: 32"))
    (other / "checkpoints").mkdir()
    (other / "checkpoints" / "last.safetensors").write_bytes((stopped_run / "checkpoints" / "last.safetensors")
                                                             .read_bytes())
    with pytest.raises(ConfigError, match=r"belongs to a different config than .*config.yaml: "
                                          r"model.hidden_size is 16 there and 32 here"):
        loop.train(resume=other)


def test_resume_takes_no_out(stopped_run, tmp_path):
    with pytest.raises(ValueError, match="resume continues in RUN_DIR"):
        loop.train(resume=stopped_run, out=tmp_path / "x")


def test_a_finished_run_is_not_resumed(stopped_run):
    saved = checkpoint.load(stopped_run / "checkpoints" / "last.safetensors")["loop"]
    assert (saved["epoch"], saved["step"], saved["batch"]) == (1, 4, 4)
    run = loop.train(resume=stopped_run)  # the same recipe may be repeated: ("toy-tag", SMALL) would pass too
    with pytest.raises(ValueError, match="has finished .*nothing to resume"):
        loop.train(resume=run)


def test_a_mid_epoch_checkpoint_carries_the_epochs_training_time(tmp_path, monkeypatch):
    """So a resumed epoch's train_s adds the time before the checkpoint it resumed from."""
    stop_after(monkeypatch, 5)  # the last checkpoint: step 4, mid-epoch
    with pytest.raises(Stopped):
        loop.train("toy-tag", SMALL, out=tmp_path / "run")
    saved = checkpoint.load(tmp_path / "run" / checkpoint.FOLDER / checkpoint.LAST)
    assert saved["loop"]["batch"] == 4 and saved["loop"]["seconds"] > 0
