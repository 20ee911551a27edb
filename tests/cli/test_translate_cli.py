"""`seqlab translate RUN`: translations, attention tables, and every kind of bad input."""

import json

import pytest

import seqlab
from seqlab.cli.main import main


def test_translate_prints_the_bundles_translations(dates_run, capsys):
    assert main(["translate", str(dates_run), "--text", "Nov 23, 26", "--text", "23.11.2026"]) == 0
    expected = seqlab.load(dates_run).translate(["Nov 23, 26", "23.11.2026"])
    assert capsys.readouterr().out.splitlines() == [f"Nov 23, 26 -> {expected[0]}", f"23.11.2026 -> {expected[1]}"]


def test_beam_one_equals_the_default_greedy(dates_run, capsys):
    assert main(["translate", str(dates_run), "--text", "Nov 23, 26"]) == 0
    greedy = capsys.readouterr().out
    assert main(["translate", str(dates_run), "--text", "Nov 23, 26", "--beam", "1"]) == 0
    assert capsys.readouterr().out == greedy
    assert main(["translate", str(dates_run), "--text", "Nov 23, 26", "--beam", "5"]) == 0
    assert capsys.readouterr().out.startswith("Nov 23, 26 -> ")


def test_show_attention_prints_a_table_and_writes_a_png(dates_run, tmp_path, capsys):
    argv = ["translate", str(dates_run), "--text", "Nov 23", "--show-attention", "--plots", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    result = seqlab.load(dates_run).translate(["Nov 23"], return_attention=True)[0]
    path = tmp_path / "translate-attention-1.png"
    assert f"attention heat map: {path}" in out and path.stat().st_size > 0
    assert "␣" in out  # the space between "Nov" and "23" is a visible column header
    first_row = " ".join(f"{w:.2f}" for w in result.attention[0].tolist())
    cells = next(line for line in out.splitlines() if line.startswith("│")).split("│")[2:-1]
    assert " ".join(cell.strip() for cell in cells) == first_row


def test_empty_source_gives_empty_output(dates_run, tmp_path, capsys):
    assert main(["translate", str(dates_run), "--text", ""]) == 0
    assert capsys.readouterr().out == " -> \n"
    source, out = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("Nov 23, 26\n\n23.11.2026\n")
    assert main(["translate", str(dates_run), "--input", str(source), "--output", str(out)]) == 0
    expected = seqlab.load(dates_run).translate(["Nov 23, 26", "", "23.11.2026"])
    assert out.read_text().splitlines() == expected and expected[1] == ""


def test_only_unknown_tokens_still_translate_with_a_warning(dates_run, capsys):
    assert main(["translate", str(dates_run), "--text", "§§§"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("§§§ -> ")
    assert "seqlab translate: warning: every token of source '§§§' is unknown" in captured.err


def test_long_source_truncated_with_a_warning_or_refused(dates_run, capsys):
    argv = ["translate", str(dates_run), "--text", "Monday, November 23rd 2026", "--max-source-len", "8"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "source of 26 tokens is longer than the maximum 8" in captured.err and "kept its first 8" in captured.err
    assert captured.out.startswith("Monday, November 23rd 2026 -> ")
    assert main([*argv, "--on-long", "refuse"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlab translate: error: source of 26 tokens is longer than the maximum 8") and "\n" not in err


def test_recipe_maximum_is_the_default(dates_run, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(dates_run, tmp_path / "run")
    text = (copy / "config.yaml").read_text()
    (copy / "config.yaml").write_text(text.replace("max_tokens_per_example: null", "max_tokens_per_example: 5"))
    assert main(["translate", str(copy), "--text", "Nov 23, 26", "--on-long", "refuse"]) == 2
    assert "longer than the maximum 5" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--beam", "0"], "--beam: expected an integer >= 1, got 0"),
    (["--max-len", "0"], "--max-len: expected an integer > 0, got 0"),
    (["--max-len", "-3"], "--max-len: expected an integer > 0, got -3"),
])
def test_bad_search_settings(dates_run, capsys, argv, message):
    assert main(["translate", str(dates_run), "--text", "Nov 23", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"seqlab translate: error: {message}"


@pytest.mark.parametrize("fixture, task, command", [("tag_run", "tag", "predict"), ("classify_run", "classify", "predict")])
def test_another_tasks_bundle_names_its_task_and_command(fixture, task, command, request, capsys):
    run = request.getfixturevalue(fixture)
    assert main(["translate", str(run), "--text", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"seqlab translate: error: {run} is a {task} run, not seq2seq; use seqlab {command}"


def test_translate_jsonl_file_keeps_every_key(dates_run, tmp_path, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    records = [{"id": 1, "text": "Nov 23, 26"}, {"id": 2, "text": ""}]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["translate", str(dates_run), "--input", str(source), "--output", str(out)]) == 0
    back = [json.loads(line) for line in out.read_text().splitlines()]
    expected = seqlab.load(dates_run).translate([r["text"] for r in records])
    assert back == [{**r, "translation": t} for r, t in zip(records, expected)]
