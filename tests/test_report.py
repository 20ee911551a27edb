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
    rows = table_rows(text, "## Changed from the recipe `classify-csv` as shipped now")
    changed = {row[0].strip("`"): (row[1], row[2]) for row in rows}
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
    assert "## Changed from the recipe `classify-csv` as shipped now" in text  # named by checkpoints/last.safetensors
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


def test_numbers_are_shown_at_their_scale(tmp_path):
    """A hand-written run dir: BLEU and perplexity with 2 decimals, losses with 4, seconds with 1."""
    config.save(config.from_dict({"task": "seq2seq"}), tmp_path / "config.yaml")
    record = {"kind": "epoch", "epoch": 1, "step": 10, "train_loss": 2.345678, "valid_bleu": 37.4412,
              "valid_perplexity": 1234.56, "train_s": 12.3456, "train_tokens_per_s": 1603.04}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    summary = {"recipe": "my-file", "task": "seq2seq", "headline": {"metric": "bleu", "split": "test", "value": 36.789},
               "test": {"bleu": 36.789}, "best": {"epoch": 1, "metric": "valid_bleu", "mode": "max"}, "epochs": 1,
               "wall_time_s": 3725.0, "num_parameters": 1234567}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    text = run_report(tmp_path)
    assert text.splitlines()[2].startswith("**test bleu 36.79** · task seq2seq · recipe my-file · 1 epoch(s) · "
                                           "wall time 1 h 02 min")
    assert "1,234,567 parameters" in text
    assert table_rows(text, "## Epochs") == [["**1**", "2.3457", "37.44", "1,234.6", "12.3", "1,603.0"]]
    assert "## Set away from seqlab's defaults" in text  # my-file is no shipped recipe


def test_cli_names_a_bad_output(classify_run, tmp_path, capsys):
    assert main(["report", str(classify_run), "--output", str(tmp_path)]) == 2
    assert "is a folder; expected a file name such as report.md" in capsys.readouterr().err
    assert main(["report", str(classify_run), "--output", str(tmp_path / "missing" / "r.md")]) == 2
    assert f"--output: no folder {tmp_path / 'missing'} to write r.md into" in capsys.readouterr().err


def test_a_run_stopped_by_its_time_limit_says_so(tmp_path):
    """A hand-written run dir whose second epoch train.max_minutes cut short."""
    config.save(config.from_dict({"task": "tag"}), tmp_path / "config.yaml")
    records = [{"kind": "epoch", "epoch": 1, "step": 7, "train_loss": 1.5, "valid_loss": 1.25},
               {"kind": "epoch", "epoch": 2, "step": 9, "train_loss": 1.0, "valid_loss": 1.125, "cut_short": True}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = {"recipe": "my-file", "task": "tag", "test": {"loss": 1.0}, "epochs": 2, "stopped_early": False,
               "time_limit_reached": True, "best": {"epoch": 2, "metric": "valid_loss", "mode": "min"}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    text = run_report(tmp_path)
    assert "task tag · recipe my-file · 2 epoch(s), stopped at train.max_minutes · " in text
    assert table_rows(text, "## Epochs") == [["1", "1.5000", "1.2500"], ["**2** (cut short)", "1.0000", "1.1250"]]
