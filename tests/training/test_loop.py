"""seqlab.training.loop: seeded and deterministic, the run dir's contents, weights load back."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

import seqlab
from seqlab import config
from seqlab.errors import TrainingError
from seqlab.tasks import get_task
from seqlab.training import checkpoint, loop, passes
from seqlab.training import trainer as trainer_module
from seqlab.training.records import without_timings

# A run of a second or two: the toy at a tenth of its size.
SMALL = {"data.num_train": 200, "data.num_valid": 50, "data.num_test": 50, "train.epochs": 2,
         "model.hidden_size": 16, "train.device": "cpu"}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_same_metrics(tmp_path):
    first = loop.train("toy-tag", SMALL, out=tmp_path / "a")
    second = loop.train("toy-tag", SMALL, out=tmp_path / "b")
    assert without_timings(read_jsonl(first / "metrics.jsonl")) == without_timings(read_jsonl(second / "metrics.jsonl"))
    weights = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = loop.train("toy-tag", {**SMALL, "seed": 1}, out=tmp_path / "c")
    assert without_timings(read_jsonl(other / "metrics.jsonl")) != without_timings(read_jsonl(first / "metrics.jsonl"))


def test_run_dir_contents(tmp_path):
    run = loop.train("toy-tag", [f"{key}={value}" for key, value in SMALL.items()], out=tmp_path / "run")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "metrics.jsonl", "model.safetensors",
                                                     "plots", "summary.json", "tags.json", "vocab.json"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.safetensors", "last.safetensors"]
    assert (run / "plots" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert config.load(run / "config.yaml") == config.resolve("toy-tag", SMALL)
    records = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [r["epoch"] for r in records] == [1, 2]
    assert set(records[0]) == {"kind", "epoch", "step", "train_loss", "valid_loss", "valid_token_accuracy",
                               "valid_exact_match", "train_s", "train_tokens_per_s"}
    tokens = sum(len(example.tokens) for example in get_task("tag").load_data(config.resolve("toy-tag", SMALL)).train)
    # train_s is rounded to the millisecond and the pace to 0.1 token/s, which moves tokens / pace by up
    # to tokens * 0.05 / pace**2 (a slow epoch on a loaded machine: more than the millisecond)
    pace = records[0]["train_tokens_per_s"]
    assert tokens / pace == pytest.approx(records[0]["train_s"], abs=6e-4 + tokens * 0.05 / pace**2)
    assert records[-1]["step"] == 2 * 7  # ceil(200 / 32) updates per epoch
    steps = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [10]  # train.log_every defaults to 10
    assert set(steps[0]) == {"kind", "epoch", "step", "train_loss", "lr", "tokens_per_s"} and steps[0]["epoch"] == 2
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


def test_the_run_dir_of_a_run_that_failed_before_training_can_be_used_again(tmp_path):
    # config.yaml is written first; a run that then failed (a missing file, a bad path) left only it
    with pytest.raises(ValueError, match="no such file"):
        loop.train("classify-csv", {"data.train": str(tmp_path / "missing.csv")}, out=tmp_path / "run")
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.yaml"]
    run = loop.train("toy-tag", SMALL, out=tmp_path / "run")  # the same --out again: taken, config.yaml rewritten
    assert config.load(run / "config.yaml") == config.resolve("toy-tag", SMALL)
    assert (run / "summary.json").is_file()


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
    with pytest.raises(ValueError, match="--device: 'cuda:1' was asked for, but torch sees no CUDA device"):
        loop.resolve_device("cuda:1", "--device")


def test_a_device_torch_does_not_know_is_named():
    with pytest.raises(ValueError, match="train.device: 'gpu' is not a device; expected auto, cpu, cuda or cuda:N"):
        loop.resolve_device("gpu")


def test_best_epoch_weights_are_kept(tmp_path):
    # SMALL's validation token accuracy is best after epoch 1, so that epoch's weights are the run's
    run = loop.train("toy-tag", SMALL, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    epochs = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "epoch"]
    best = max(epochs, key=lambda r: r["valid_token_accuracy"])
    assert summary["best"] == {"epoch": best["epoch"], "metric": "valid_token_accuracy", "mode": "max",
                               "value": best["valid_token_accuracy"]}
    assert summary["valid"]["token_accuracy"] == best["valid_token_accuracy"]
    kept, saved_best = load_file(run / "model.safetensors"), load_file(run / "checkpoints" / "best.safetensors")
    assert all(torch.equal(kept[name], saved_best[name]) for name in kept)


def test_early_stopping_on_a_metric_that_does_not_improve(tmp_path):
    # exact_match stays 0.0 on this tiny run, so with patience 1 the run stops after epoch 2 of 5
    run = loop.train("toy-tag", {**SMALL, "train.epochs": 5, "train.monitor": "valid_exact_match",
                                 "train.patience": 1}, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "epoch"] == [1, 2]
    assert summary["stopped_early"] and summary["epochs"] == 2 and summary["best"]["epoch"] == 1
    assert summary["steps"] == 14


@pytest.mark.parametrize("overrides, message", [
    ({"train.monitor": "valid_bleu"}, ("train.monitor: 'valid_bleu' is not a validation metric of this task; "
                                      "available: valid_loss, valid_token_accuracy, valid_exact_match")),
    ({"train.monitor": "valid_token_acuracy"}, "did you mean 'valid_token_accuracy'?"),
    ({"train.precision": "bf16"}, "train.precision: bf16 autocast needs a cuda device"),
])
def test_bad_train_keys_fail_before_training(tmp_path, overrides, message):
    with pytest.raises(ValueError) as err:
        loop.train("toy-tag", {**SMALL, **overrides}, out=tmp_path / "run")
    assert message in str(err.value)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_tensorboard_needs_its_package(tmp_path):
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"train.tensorboard: true needs the tensorboard package \(pip install"):
            loop.train("toy-tag", {**SMALL, "train.tensorboard": True}, out=tmp_path / "run")
    else:
        run = loop.train("toy-tag", {**SMALL, "train.epochs": 1, "train.tensorboard": True}, out=tmp_path / "run")
        assert any((run / "tensorboard").iterdir())


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from seqlab.tasks import tag
    from seqlab.training import checkpoint

    calls = []
    real_loss = tag.Tagger.loss

    def poisoned(self, batch):  # the 10th update's loss is NaN: epoch 2, batch 2 (7 batches per epoch)
        calls.append(1)
        loss = real_loss(self, batch)
        return loss * float("nan") if len(calls) == 10 else loss

    monkeypatch.setattr(tag.Tagger, "loss", poisoned)
    with pytest.raises(TrainingError) as err:
        loop.train("toy-tag", {**SMALL, "train.checkpoint_every": 4}, out=tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    assert str(err.value) == (f"the training loss is nan at epoch 2, step 10, batch 2 of the epoch; stopped before "
                              f"that update; the last good checkpoint is kept: {last}")
    state = checkpoint.load(last)["loop"]
    assert (state["epoch"], state["step"], state["batch"]) == (2, 8, 1)  # written at step 8, untouched since
    assert not (tmp_path / "run" / "summary.json").exists()


def test_train_step_under_bf16_autocast():
    # The GPU path (train.precision auto/bf16 on cuda) autocasts the loss; CPU autocast runs the same code.
    cfg = config.resolve("toy-tag", SMALL)
    task = get_task("tag")
    data = task.load_data(cfg)
    model = task.build_model(cfg, data)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    batch = task.collate(data.train[:8])
    before = model.head.weight.detach().clone()
    loss = loop.train_step(model, optimizer, batch, 1.0, torch.bfloat16)
    assert math.isfinite(loss) and model.head.weight.dtype == torch.float32
    assert not torch.equal(before, model.head.weight)
    assert loop.autocast_dtype("auto", torch.device("cpu")) is None
    assert loop.autocast_dtype("fp32", torch.device("cpu")) is None


class CountingLibc:
    """Stands in for glibc: counts malloc_trim calls."""

    def __init__(self):
        self.calls = 0

    def malloc_trim(self, pad):
        assert pad == 0
        self.calls += 1
        return 1


def test_cpu_passes_hand_freed_heap_memory_back(tmp_path, monkeypatch):
    """Training steps and evaluation batches call malloc_trim every TRIM_EVERY batches, and each
    evaluation once at its end (the fused CPU loop's freed buffers otherwise stay with glibc)."""
    libc = CountingLibc()
    monkeypatch.setattr(passes, "_glibc", lambda: libc)
    monkeypatch.setattr(passes, "TRIM_EVERY", 3)
    batches = [torch.ones(2)] * 7

    class Scored(torch.nn.Module):
        def metrics(self, batch):
            return {"n": (float(batch.sum()), 2)}

    class Batch:
        def __init__(self, t):
            self.t = t

        def to(self, device):
            return self.t

    assert passes.evaluate_batches(Scored(), map(Batch, batches), torch.device("cpu"), None) == {"n": 1.0}
    assert libc.calls == 2 + 1  # after batches 3 and 6, then at the end
    assert passes.trim_heap(torch.device("meta")) is False and libc.calls == 3  # not on other devices
    monkeypatch.setattr(passes, "TRIM_EVERY", 2)
    libc.calls = 0
    loop.train("toy-tag", {**SMALL, "train.epochs": 1, "data.num_train": 64, "train.batch_size": 16}, out=tmp_path / "r")
    assert libc.calls >= 2  # 4 steps: after steps 2 and 4 (and the evaluations' own)


def test_trim_heap_runs_on_this_machine():
    """The real call: glibc on Linux returns a bool; elsewhere nothing is done."""
    assert passes.trim_heap(torch.device("cpu")) in (True, False)


# -- train.max_minutes -------------------------------------------------------------------


def ten_seconds_a_step(monkeypatch):
    """The run's clock reads 10 s per update made, validation taking no time: the limit falls
    at a known step. The loop reads it in each step before counting that step."""
    def clock(self, state):
        state.elapsed = 10.0 * (state.step + 1)
        return state.elapsed

    monkeypatch.setattr(trainer_module.Trainer, "clock", clock)


def test_max_minutes_cuts_the_epoch_under_way_validates_it_and_tests_the_best(tmp_path, monkeypatch):
    ten_seconds_a_step(monkeypatch)
    # 0.5 min = 30 s: the clock reads 30 s in step 3 of epoch 1's 7, which then ends
    run = loop.train("toy-tag", {**SMALL, "train.max_minutes": 0.5}, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    epochs = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [(r["epoch"], r["step"], r.get("cut_short")) for r in epochs] == [(1, 3, True)]
    assert summary["time_limit_reached"] and summary["epochs"] == 1 and summary["steps"] == 3
    assert not summary["stopped_early"] and summary["best"]["epoch"] == 1
    assert set(summary["test"]) == {"loss", "token_accuracy", "exact_match"}  # the cut run is still scored
    assert (run / "model.safetensors").is_file()
    assert checkpoint.load(run / "checkpoints" / "last.safetensors")["loop"]["out_of_time"]


def test_max_minutes_reached_at_an_epoch_end_starts_no_new_epoch(tmp_path, monkeypatch):
    ten_seconds_a_step(monkeypatch)
    # 70 s: reached in epoch 1's last step (7), which ends as usual; epoch 2 never starts
    run = loop.train("toy-tag", {**SMALL, "train.max_minutes": 70 / 60}, out=tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    epochs = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [(r["epoch"], r["step"], "cut_short" in r) for r in epochs] == [(1, 7, False)]
    assert summary["time_limit_reached"] and summary["steps"] == 7


def test_max_minutes_not_reached_changes_nothing(tmp_path, monkeypatch):
    plain = loop.train("toy-tag", SMALL, out=tmp_path / "plain")
    ten_seconds_a_step(monkeypatch)  # 14 steps: 140 s of the 150 allowed
    limited = loop.train("toy-tag", {**SMALL, "train.max_minutes": 2.5}, out=tmp_path / "limited")
    assert without_timings(read_jsonl(limited / "metrics.jsonl")) == without_timings(read_jsonl(plain / "metrics.jsonl"))
    summaries = [json.loads((run / "summary.json").read_text()) for run in (plain, limited)]
    assert summaries[0]["test"] == summaries[1]["test"]
    assert not summaries[0]["time_limit_reached"] and not summaries[1]["time_limit_reached"]


def test_the_run_clock_is_carried_by_checkpoints_into_a_resumed_run(tmp_path, monkeypatch):
    stopped = {**SMALL, "train.checkpoint_every": 4}
    monkeypatch.setenv(loop.KILL_AFTER_STEP_ENV, "5")
    monkeypatch.setattr(loop, "_kill_self", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        loop.train("toy-tag", stopped, out=tmp_path / "run")
    monkeypatch.delenv(loop.KILL_AFTER_STEP_ENV)
    saved = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.safetensors")["loop"]["elapsed"]
    assert saved > 0  # step 4's checkpoint: the time until then
    monkeypatch.setattr(trainer_module, "perf_counter", lambda: 1000.0)  # the resumed part takes no time
    loop.train(resume=tmp_path / "run")
    assert checkpoint.load(tmp_path / "run" / "checkpoints" / "last.safetensors")["loop"]["elapsed"] == pytest.approx(saved, abs=1e-9)


@pytest.mark.parametrize("overrides, message", [
    ({"train.max_minutes": 0}, "train.max_minutes: expected a number of minutes > 0, or null for no limit, got 0"),
    ({"train.max_minutes": -1.5}, "train.max_minutes: expected a number of minutes > 0"),
])
def test_bad_max_minutes_is_named(overrides, message):
    with pytest.raises(ValueError) as err:
        config.resolve("toy-tag", overrides)
    assert message in str(err.value)



def test_the_run_clock_goes_on_from_the_time_already_spent(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(trainer_module, "perf_counter", lambda: now[0])
    timer = trainer_module.RunClock()
    assert timer.elapsed() == 0.0 and timer.agreed == 0.0
    timer.restart(12.5)  # a resumed run: the schedule reads the time carried until the loop reads the clock again
    now[0] += 2.0
    assert timer.elapsed() == 14.5 and timer.agreed == 12.5
