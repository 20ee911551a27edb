"""DDP under torchrun (gloo, CPU): two processes against one process with the global batch.

Starting processes is the slow part, so one torchrun launch (tests/training/ddp_worker.py)
does the two-process side of every check; this process then does the one-process side.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab.cli.main import main
from seqlab.errors import ConfigError
from seqlab.tasks import classify, lm
from seqlab.training import checkpoint, distributed
from seqlab.training.loop import evaluate, train
from seqlab.training.records import without_timings

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from ddp_worker import tiny_classifier, tiny_examples  # noqa: E402

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "nice", "boring", "fun", "dull"]


def write_csv(path: Path, n: int, seed: int) -> Path:
    """n rows of 2-6 words; pos when at least half of them are kind words."""
    g = torch.Generator().manual_seed(seed)
    rows = ["text,label"]
    for _ in range(n):
        size = int(torch.randint(2, 7, (1,), generator=g))
        words = [WORDS[int(i)] for i in torch.randint(len(WORDS), (size,), generator=g)]
        kind = sum(word in ("good", "great", "fine", "nice", "fun") for word in words)
        rows.append(" ".join(words) + "," + ("pos" if 2 * kind >= len(words) else "neg"))
    path.write_text("\n".join(rows) + "\n")
    return path


def settings(args: dict) -> list[str]:
    return [arg for key, value in args.items() for arg in ("--set", f"{key}={value}")]


def classify_args(tmp_path: Path, batch_size: int) -> list[str]:
    # 64 examples: 2 processes x batch 32 and 1 process x batch 64 both make one update per
    # epoch from the same seeded order (process r takes batch r of 32: examples 32r..32r+31 of it)
    return ["classify-csv", *settings({
        "data.train": write_csv(tmp_path / "train.csv", 64, 0), "data.valid": write_csv(tmp_path / "valid.csv", 30, 1),
        "data.test": write_csv(tmp_path / "test.csv", 30, 2), "model.dropout": 0, "model.embedding_dim": 8,
        "model.hidden_size": 8, "train.epochs": 2, "train.batch_size": batch_size, "eval.batch_size": 8,
        "train.device": "cpu", "train.log_every": 1})]


# 2 epochs of 3 windows, a checkpoint every 2 steps: killed after step 5, a resume starts from
# step 4's checkpoint (epoch 2, window 1), whose carried state differs from process to process
RESUMED = {"train.epochs": 2, "train.checkpoint_every": 2}


# a time limit passed in the first window: both processes end the epoch there, together (the
# cosine following process 0's clock)
TIMED = {"train.epochs": 2, "train.max_minutes": "0.000001", "train.schedule": "warmup_cosine"}


def lm_args(batch_size: int, extra: dict | None = None) -> list[str]:
    # stream windows: process r reads rows [8r, 8r + 8) of the 16 parallel streams one process reads
    return ["shakespeare-smoke", *settings({
        "data.limit_train": 3000, "data.limit_eval": 500, "model.hidden_size": 16, "model.embedding_dim": 8,
        "train.epochs": 1, "train.batch_size": batch_size, "train.device": "cpu", "train.log_every": 1,
        **(extra or {})})]


def records(run: Path) -> list[dict]:
    return without_timings(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())


def weights(run: Path) -> dict:
    return checkpoint.load(run / "checkpoints" / "last.safetensors")["model"]


def assert_same_weights(run: Path, reference: Path) -> None:
    got, expected = weights(run), weights(reference)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The torchrun side: the worker's files, its stdout, and the two run dirs."""
    tmp = tmp_path_factory.mktemp("ddp")
    # the two-process lm run reads token files (process 0 makes them, process 1 maps them); the
    # one-process run it is held against reads its ids from memory
    plan = {"out": str(tmp), "runs": [classify_args(tmp, 32),
                                      [*lm_args(8, {"data.token_dir": tmp / "tokens"}), "--out", str(tmp / "lm")],
                                      [*lm_args(8, TIMED), "--out", str(tmp / "timed")]],
            "killed": [*lm_args(8, RESUMED), "--out", str(tmp / "killed")], "kill_after": 5}
    (tmp / "plan.json").write_text(json.dumps(plan, default=str))
    done = torchrun([str(HERE / "ddp_worker.py"), str(tmp / "plan.json")], tmp)
    assert (tmp / "killed" / "metrics.jsonl").is_file(), done.stderr[-4000:]
    assert done.returncode != 0 and not (tmp / "killed" / "summary.json").exists()  # the last run was killed
    return tmp, done.stdout


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """2 processes on this machine, one thread each."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           *args], cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.slow
def test_ranks_agree_on_metrics_and_average_gradients(two_processes):
    tmp, _ = two_processes
    results = [torch.load(tmp / f"grads-{rank}.pt") for rank in range(2)]
    examples, model = tiny_examples(), tiny_classifier()
    # 17 examples in batches of 3: process 0 scores batches 0, 2, 4 (9 examples), process 1 batches 1, 3, 5 (8)
    expected = evaluate(model, examples, classify.collate, 3, torch.device("cpu"))
    assert results[0]["metrics"] == results[1]["metrics"]  # the same floats in every process
    assert results[0]["metrics"] == pytest.approx(expected, rel=1e-6)
    # one batch of 4 per process = one batch of 8 (examples 0..7) in one process: DDP averages the gradients
    model.loss(classify.collate(examples[:8])).backward()
    for name, p in model.named_parameters():
        for result in results:
            torch.testing.assert_close(result["grads"][name], p.grad, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.slow
def test_two_processes_train_classify_like_one_with_the_global_batch(two_processes, tmp_path, capsys):
    tmp, stdout = two_processes
    # printed by process 0 alone: the classify run's two lines, then the lm runs'
    assert [line.split()[0] for line in stdout.splitlines()] == ["run:", "test"] * 3
    (run,) = (tmp / "runs").iterdir()  # one run dir, named by process 0
    assert main(["train", *classify_args(tmp_path, 64), "--out", str(tmp_path / "one")]) == 0
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (run, tmp_path / "one"))
    assert (summary["processes"], expected["processes"], summary["steps"], expected["steps"]) == (2, 1, 2, 2)
    # the same weights after 2 updates (Adam's second step depends on the gradients' sizes, not only signs)
    assert_same_weights(run, tmp_path / "one")
    # validation and test figures summed over the processes equal one process's (train_loss differs:
    # the loop weighs each batch's mean loss by its tokens, and here one batch of 64 became two of 32)
    assert summary["test"] == pytest.approx(expected["test"], rel=1e-5)
    got, reference = records(run), records(tmp_path / "one")
    assert [(r["kind"], r["step"]) for r in got] == [(r["kind"], r["step"]) for r in reference]
    for record, ref in zip(got, reference):
        assert {k: v for k, v in record.items() if k.startswith("valid_")} == pytest.approx(
            {k: v for k, v in ref.items() if k.startswith("valid_")}, rel=1e-5)


@pytest.mark.slow
def test_two_processes_train_a_language_model_like_one_with_twice_the_streams(two_processes, tmp_path):
    tmp, _ = two_processes
    assert main(["train", *lm_args(16), "--out", str(tmp_path / "one")]) == 0
    assert_same_weights(tmp / "lm", tmp_path / "one")
    assert sorted(p.name for p in (tmp / "tokens").iterdir()) == [
        "meta.json", "test.bin", "tokenizer.json", "train.bin", "valid.bin", "vocab.json"]
    got, reference = records(tmp / "lm"), records(tmp_path / "one")
    assert len(got) == len(reference) == 4  # 3 windows, then the epoch
    for record, ref in zip(got, reference):  # equal windows: the token-weighted train_loss agrees too
        assert record.pop("kind") == ref.pop("kind")
        assert record == pytest.approx(ref, rel=1e-5)


@pytest.mark.slow
def test_two_processes_stop_together_when_the_time_limit_is_reached(two_processes):
    tmp, _ = two_processes
    summary = json.loads((tmp / "timed" / "summary.json").read_text())
    assert (summary["processes"], summary["time_limit_reached"], summary["epochs"], summary["steps"]) == (2, True, 1, 1)
    (epoch,) = [r for r in records(tmp / "timed") if r["kind"] == "epoch"]
    assert epoch["cut_short"] and epoch["step"] == 1


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_under_torchrun(two_processes, tmp_path):
    tmp, _ = two_processes
    done = torchrun(["-m", "seqlab", "train", "--resume", str(tmp / "killed")], tmp)
    assert done.returncode == 0, done.stderr[-4000:]
    assert main(["train", *lm_args(16, RESUMED), "--out", str(tmp_path / "one")]) == 0
    assert_same_weights(tmp / "killed", tmp_path / "one")
    got, reference = records(tmp / "killed"), records(tmp_path / "one")
    assert [(r["kind"], r["step"]) for r in got] == [(r["kind"], r["step"]) for r in reference]  # none twice
    for record, ref in zip(got, reference):
        assert {k: v for k, v in record.items() if k != "kind"} == pytest.approx(
            {k: v for k, v in ref.items() if k != "kind"}, rel=1e-5)


@pytest.mark.slow
def test_resume_needs_the_same_number_of_processes(two_processes, tmp_path, capsys):
    tmp, _ = two_processes
    stopped = tmp_path / "stopped"
    shutil.copytree(tmp / "lm", stopped)
    (stopped / "summary.json").unlink()
    assert main(["train", "--resume", str(stopped)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"resume: {stopped / 'checkpoints' / 'last.safetensors'} was written by a run of 2 processes (torchrun); "
        "this one has 1; resume it with the same number")


def test_a_task_with_its_own_trainer_is_refused_under_torchrun(monkeypatch):
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=r"task: 'word2vec' trains with its own trainer, which does not run "
                                          r"under torchrun \(DDP\); train it in one process"):
        train("word2vec-lee")


def test_teacher_forcing_decay_is_refused_under_torchrun(monkeypatch):
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=r"train.teacher_forcing_schedule: linear plans its decay over the updates "
                                          r"of one process, so under torchrun it would decay too slowly"):
        train("dates-smoke", {"train.teacher_forcing_schedule": "linear", "train.teacher_forcing": 0.5})


# -- the sharing rules, without a process group -------------------------------------------


def place(rank: int, world_size: int = 3) -> distributed.Distributed:
    return distributed.Distributed(rank, world_size, torch.device("cpu"), owns_group=False)


def test_each_process_takes_every_world_size_th_batch_and_as_many_as_the_others():
    # 8 batches, 3 processes: 8 // 3 = 2 each; batches 6 and 7 are left out of the epoch
    assert place(0).per_rank(8) == 2
    assert [place(r).share(range(8), 2) for r in range(3)] == [[0, 3], [1, 4], [2, 5]]
    assert [place(r).share(range(8)) for r in range(3)] == [[0, 3, 6], [1, 4, 7], [2, 5]]  # scoring: all
    with pytest.raises(ConfigError, match=r"train.batch_size: an epoch has 2 batch\(es\), fewer than the 3 processes"):
        place(0).per_rank(2)


def test_a_language_model_epoch_is_split_by_rows():
    stream = lm.TokenStream(torch.arange(1, 200), "stream", bptt=10)
    g = torch.Generator().manual_seed(0)
    whole = lm.epoch_batches(stream, 6, g)  # one process, 6 parallel streams
    parts = [place(r).share_epoch_batches(lm.epoch_batches, "lm")(stream, 2, torch.Generator().manual_seed(0))
             for r in range(3)]
    assert all(len(part) == len(whole) for part in parts)
    for k, batch in enumerate(whole):
        assert torch.equal(torch.cat([part[k].inputs for part in parts]), batch.inputs)  # (6, T) from 3 x (2, T)
        assert torch.equal(torch.cat([part[k].targets for part in parts]), batch.targets)
        assert sum(part[k].num_tokens for part in parts) == batch.num_tokens
        assert all(part[k].carry == batch.carry for part in parts)
    # scoring (no generator) is the whole pass in order, in every process
    scored = place(1).share_epoch_batches(lm.epoch_batches, "lm")(stream, 4, None)
    assert [b.inputs.tolist() for b in scored] == [b.inputs.tolist() for b in lm.epoch_batches(stream, 4, None)]


def test_padded_sequences_split_by_rows_and_a_batch_too_small_to_share_is_left_out():
    # 7 sequences, 2 processes x 2 rows: drawn as batches of 4 + 3 rows; the batch of 3 gives
    # process 1 one row, so it stays; with 3 processes x 2 rows (one batch of 6, then 1) the 1 goes
    examples = [lm.LMExample([lm.SOS_ID, 5 + i, *([6] * i), lm.EOS_ID], 0) for i in range(7)]
    two = [place(r, 2).share_epoch_batches(lm.epoch_batches, "lm")(examples, 2, torch.Generator().manual_seed(0))
           for r in range(2)]
    assert [len(b) for b in two[0]] == [2, 2] and [len(b) for b in two[1]] == [2, 1]
    assert sorted(row[1] for part in two for b in part for row in b.inputs.tolist()) == [5 + i for i in range(7)]
    assert sum(b.num_tokens for part in two for b in part) == sum(len(e.tokens) - 1 for e in examples)
    three = place(2).share_epoch_batches(lm.epoch_batches, "lm")(examples, 2, torch.Generator().manual_seed(0))
    assert [len(b) for b in three] == [2]
