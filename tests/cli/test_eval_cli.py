"""`seqlab eval RUN`: the bundle scores its split exactly as the training run did."""

import json

import pytest

from seqlab.cli.main import main


@pytest.mark.parametrize("fixture", ["tag_run", "classify_run", "dates_run"])
def test_eval_test_split_equals_the_summary(fixture, request, capsys):
    run = request.getfixturevalue(fixture)
    assert main(["eval", str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    written = json.loads((run / "eval-test.json").read_text())
    # The same model, data, batches and metric code: the same numbers, bit for bit.
    assert written["metrics"] == summary["test"]
    headline = summary["headline"]["metric"]
    assert f"{headline} (headline)" in out and f"{summary['test'][headline]:.4f}" in out
    assert f"wrote {run / 'eval-test.json'}" in out


def test_eval_valid_split_equals_the_best_epoch(tag_run, capsys):
    assert main(["eval", str(tag_run), "--split", "valid"]) == 0
    summary = json.loads((tag_run / "summary.json").read_text())
    written = json.loads((tag_run / "eval-valid.json").read_text())
    assert written["metrics"] == summary["valid"] and written["split"] == "valid"


def test_eval_batch_size_does_not_change_counts(tag_run, capsys):
    assert main(["eval", str(tag_run), "--set", "eval.batch_size=7"]) == 0
    written = json.loads((tag_run / "eval-test.json").read_text())
    summary = json.loads((tag_run / "summary.json").read_text())
    assert written["metrics"]["token_accuracy"] == summary["test"]["token_accuracy"]  # a ratio of counts
    assert written["overrides"] == ["eval.batch_size=7"]


def test_eval_of_whole_texts_keeps_the_bundles_vocabulary(classify_run, capsys):
    # eval.truncate=false changes only the scored texts, not the vocabulary built from training's:
    # the bundle's vocabulary check passes (the CSV's texts are short, so the scores stay).
    assert main(["eval", str(classify_run), "--set", "eval.truncate=false"]) == 0
    written = json.loads((classify_run / "eval-test.json").read_text())
    assert written["metrics"] == json.loads((classify_run / "summary.json").read_text())["test"]


@pytest.mark.parametrize("argv, message", [
    (["--set", "model.hidden_size=3"], "eval takes only data.* and eval.* keys"),
    (["--set", "eval.batch_sise=3"], "unknown key 'eval.batch_sise'; did you mean 'eval.batch_size'?"),
    (["--set", "data.num_train=50"], "the recipe's data now gives another vocab"),
])
def test_eval_bad_input_is_one_line(tag_run, capsys, argv, message):
    assert main(["eval", str(tag_run), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlab eval: error: ") and message in err and "\n" not in err


def test_eval_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "config.yaml is missing" in capsys.readouterr().err
