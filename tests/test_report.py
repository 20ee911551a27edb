"""seqlab report: a run dir as Markdown, read back against the files the run wrote."""

from __future__ import annotations

import json
import shutil

import pytest

from seqlab import config
from seqlab.cli.main import main
from seqlab.report import run_report


def epoch_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "epoch"]


def table_rows(text, heading):
    """The body rows of the Markdown table under ``heading``, split into cells."""
    lines = text.splitlines()
    start = lines.index(heading) + 4  # heading, blank, header, rule
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_report_of_a_finished_run(classify_run):
    text = run_report(classify_run)
    summary = json.loads((classify_run / "summary.json").read_text())
    assert text.startswith(f"# {classify_run.name}\n")
    assert f"**test accuracy {summary['test']['accuracy']:.4f}**" in text and "recipe classify-csv" in text
    changed = {row[0].strip("`"): (row[1], row[2]) for row in table_rows(text, "## Changed from the recipe `classify-csv`")}
    recipe = config.load("classify-csv")
    assert changed["model.hidden_size"] == (f"`{recipe.model.hidden_size}`", "`8`")
    assert changed["train.epochs"] == (f"`{recipe.train.epochs}`", "`3`")
    assert "model.encoder" not in changed  # a key the run left as the recipe had it
    rows = table_rows(text, "## Epochs")
    records = epoch_records(classify_run)
    assert [row[0].strip("*") for row in rows] == [str(r["epoch"]) for r in records]
    bold = [row[0] for row in rows if row[0].startswith("**")]
    assert bold == [f"**{summary['best']['epoch']}**"]
    header = text.splitlines()[text.splitlines().index("## Epochs") + 2]
    assert header.split("|")[2].strip() == "train_loss"
    assert [float(row[1]) for row in rows] == pytest.approx([r["train_loss"] for r in records], abs=5e-5)
    test = dict(table_rows(text, "## Test (the best epoch's weights)"))
    assert float(test["macro_f1"]) == pytest.approx(summary["test"]["macro_f1"], abs=5e-5)
    assert "## Confusion matrix (test)" in text


def test_an_unfinished_run_reports_its_epochs_and_its_checkpoints_recipe(classify_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(classify_run, run)
    (run / "summary.json").unlink()
    with open(run / "metrics.jsonl", "a") as out:
        out.write('{"kind": "epoch", "epo')  # a line cut short by a killed run
    text = run_report(run)
    assert "**unfinished** (no summary.json yet) · 3 epoch(s) recorded" in text
    assert "## Changed from the recipe `classify-csv`" in text  # named by checkpoints/last.safetensors
    (run / "checkpoints" / "last.safetensors").unlink()
    assert "## Set away from seqlab's defaults" in run_report(run)


def test_cli_prints_or_writes_the_page(classify_run, tmp_path, capsys):
    assert main(["report", str(classify_run)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"# {classify_run.name}")
    out = tmp_path / "report.md"
    assert main(["report", str(classify_run), "--output", str(out)]) == 0
    assert out.read_text() == printed and not (tmp_path / "report.md.tmp").exists()


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp, "not a run dir (no config.yaml)"),
    (lambda tmp: (tmp / "config.yaml").write_text("task: classify\nmodel: {hidden: 3}\n") and tmp,
     "config.yaml: unknown key 'model.hidden'"),
])
def test_cli_refuses_what_is_not_a_run(tmp_path, capsys, make, message):
    assert main(["report", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
