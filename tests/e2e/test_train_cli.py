"""`seqlab train` driven through seqlab.cli.main.main, as a user would."""

import json

import pytest

from seqlab.cli.main import main

FAST = ["--set", "train.epochs=1", "--set", "data.num_train=200", "--set", "data.num_test=50"]


def test_train_prints_the_run_dir_and_headline(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy-tag", "--out", str(out), *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == f"run: {out}"
    summary = json.loads((out / "summary.json").read_text())
    assert lines[-1] == f"test token_accuracy: {summary['test']['token_accuracy']:.4f}"


def test_default_run_dir_is_relative_to_cwd(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "toy-tag", *FAST]) == 0
    shown = capsys.readouterr().out.splitlines()[-2].removeprefix("run: ")
    assert shown.startswith("runs/toy-tag-") and (tmp_path / shown / "model.safetensors").is_file()


def test_recipe_file(tmp_path, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("task: tag\nmodel:\n  encoder: gru\n  hidden_size: 8\n")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), *FAST]) == 0
    assert "encoder: gru" in (tmp_path / "run" / "config.yaml").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--set", "model.hiden_size=3"], "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"),
    (["--set", "train.epochs=many"], "train.epochs: expected an integer, got 'many'"),
    (["toy-tga"], "unknown recipe 'toy-tga'; did you mean 'toy-tag'?"),
    (["nowhere.yaml"], "recipe file not found: nowhere.yaml"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlab train: error: ") and message in err
    assert "\n" not in err


@pytest.mark.slow
def test_toy_tag_reaches_100_percent(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy-tag", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "test token_accuracy: 1.0000"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["token_accuracy"] == 1.0 and summary["test"]["exact_match"] == 1.0


@pytest.mark.slow
def test_default_recipe_is_dates_and_shows_its_work(tmp_path, capsys):
    """`seqlab train` alone: date normalization to >= 99.5% exact match, with examples and
    attention heat maps, and the run dir and headline metric on the last lines."""
    out = tmp_path / "run"
    assert main(["train", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recipe"] == "dates" and summary["test"]["exact_match"] >= 0.995
    assert lines[-2] == f"run: {out}" and lines[-1] == f"test exact_match: {summary['test']['exact_match']:.4f}"
    assert "examples (test):" in printed.err and f"attention: {out / 'plots' / 'attention-1.png'}" in printed.err
    assert (out / "plots" / "attention-1.png").stat().st_size > 0
