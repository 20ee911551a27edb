"""`seqlab runs [DIR]`: the run dirs as a table, newest first."""

import json
import os
import shutil

from seqlab.cli.main import main


def test_runs_table(tag_run, classify_run, tmp_path, capsys):
    shutil.copytree(tag_run, tmp_path / "older-tag")
    shutil.copytree(classify_run, tmp_path / "newer-classify")
    (tmp_path / "killed").mkdir()
    shutil.copy(tag_run / "config.yaml", tmp_path / "killed" / "config.yaml")
    for name, when in (("older-tag", 1_700_000_000), ("killed", 1_700_000_500), ("newer-classify", 1_700_001_000)):
        os.utime(tmp_path / name / "config.yaml", (when, when))
    assert main(["runs", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "│" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["newer-classify", "killed", "older-tag"]
    assert "classify-csv" in lines[0] and "accuracy" in lines[0] and "finished" in lines[0]
    assert "unfinished" in lines[1] and "tag" in lines[1]
    assert "toy-tag" in lines[2] and "token_accuracy" in lines[2]


def test_runs_default_folder_and_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 2
    assert "runs: no such folder of runs" in capsys.readouterr().err
    (tmp_path / "runs").mkdir()
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.strip() == "no runs in runs"


def test_runs_says_why_a_finished_run_stopped(tag_run, tmp_path, capsys):
    for name, key in (("limited", "time_limit_reached"), ("patient", "stopped_early"), ("whole", None)):
        shutil.copytree(tag_run, tmp_path / name)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        summary.update({"time_limit_reached": False, "stopped_early": False, **({key: True} if key else {})})
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    assert main(["runs", str(tmp_path)]) == 0
    status = {line.split("│")[1].strip(): line.split("│")[-2].strip()
              for line in capsys.readouterr().out.splitlines() if "│" in line}
    assert status == {"limited": "finished (time limit)", "patient": "finished (stopped early)", "whole": "finished"}
