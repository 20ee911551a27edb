"""`seqlab train --resume RUN_DIR` after a real kill: the same metrics as a run never stopped."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from seqlab.cli.main import main
from seqlab.training.loop import KILL_AFTER_STEP_ENV
from seqlab.training.records import without_timings

SETS = ["data.num_train=200", "data.num_valid=50", "data.num_test=50", "train.epochs=2", "model.hidden_size=16",
        "train.device=cpu", "train.checkpoint_every=4", "train.log_every=3", "model.dropout=0.3"]
ARGS = [arg for key in SETS for arg in ("--set", key)]


def read(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return without_timings(records), json.loads((run / "summary.json").read_text())


@pytest.mark.slow
def test_killed_mid_epoch_then_resumed(tmp_path, capsys):
    killed = tmp_path / "killed"
    # Same thread count as this process: float sums may depend on it.
    env = {**os.environ, KILL_AFTER_STEP_ENV: "10", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run([sys.executable, "-m", "seqlab", "train", "toy-tag", "--out", str(killed), *ARGS], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    # SIGKILL after step 10 (epoch 2, batch 3); the last checkpoint is step 8's, step 9's record came after it
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (killed / "summary.json").exists()
    assert main(["train", "--resume", str(killed)]) == 0
    reference = tmp_path / "reference"
    assert main(["train", "toy-tag", "--out", str(reference), *ARGS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == lines[3]  # the same headline printed
    records, summary = read(killed)
    expected_records, expected = read(reference)
    assert records == expected_records
    assert summary["test"] == expected["test"] and summary["best"] == expected["best"]


def test_resume_errors_through_the_cli(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"seqlab train: error: resume: no checkpoint in {tmp_path / 'run'}: looked for "
                   "checkpoints/last.safetensors, which a run writes after each epoch and every "
                   "train.checkpoint_every steps")
