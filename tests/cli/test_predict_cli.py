"""`seqlab predict RUN`: texts and files in, predictions out, every input column kept."""

import csv
import json

import pytest

import seqlab
from seqlab.cli.main import main


def test_predict_text_classify(classify_run, capsys):
    assert main(["predict", str(classify_run), "--text", "a great film", "--text", "an awful plot"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = seqlab.load(classify_run).predict(["a great film", "an awful plot"])
    assert lines == [f"{label}\t{p:.4f}\t{text}" for (label, p), text in zip(expected, ["a great film", "an awful plot"])]


def test_predict_text_tag(tag_run, capsys):
    assert main(["predict", str(tag_run), "--text", "1 2 3"]) == 0
    tags = seqlab.load(tag_run).predict(["1 2 3"])[0]
    assert capsys.readouterr().out.strip() == " ".join(f"{t}/{g}" for t, g in zip("123", tags))


def test_predict_csv_round_trips_every_column(classify_run, tmp_path, capsys):
    source = tmp_path / "in.csv"
    rows = [{"id": "7", "review": "great, really great", "note": 'has "quotes", commas'},
            {"id": "8", "review": "dull and boring", "note": ""}]
    with open(source, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, ["id", "review", "note"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out.csv"
    assert main(["predict", str(classify_run), "--input", str(source), "--output", str(out), "--column", "review"]) == 0
    with open(out, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        got = list(reader)
    assert reader.fieldnames == ["id", "review", "note", "prediction", "probability"]
    expected = seqlab.load(classify_run).predict([row["review"] for row in rows])
    for row, back, (label, p) in zip(rows, got, expected):
        assert {key: back[key] for key in row} == row
        assert back["prediction"] == label and float(back["probability"]) == pytest.approx(p, abs=1e-6)


def test_predict_jsonl_round_trips_every_key(tag_run, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    records = [{"text": "1 2 3 4", "id": 1, "meta": {"a": [1, 2]}}, {"text": "9 9", "id": 2, "meta": None}]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(tag_run), "--input", str(source), "--output", str(out)]) == 0
    back = [json.loads(line) for line in out.read_text().splitlines()]
    tags = seqlab.load(tag_run).predict([r["text"] for r in records])
    assert back == [{**r, "prediction": " ".join(t)} for r, t in zip(records, tags)]


def test_missing_column_names_file_column_and_columns(classify_run, tmp_path, capsys):
    source = tmp_path / "in.tsv"
    source.write_text("id\tsentence\n1\tgreat\n")
    assert main(["predict", str(classify_run), "--input", str(source), "--output", str(tmp_path / "o.tsv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"seqlab predict: error: {source}: no column 'text'; the file has columns ['id', 'sentence']"
    assert not (tmp_path / "o.tsv").exists()


def test_refuses_to_overwrite_the_input(classify_run, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("text\ngreat\n")
    before = source.read_bytes()
    assert main(["predict", str(classify_run), "--input", str(source), "--output", str(source)]) == 2
    assert "is the input file" in capsys.readouterr().err and source.read_bytes() == before


def test_predict_refuses_a_seq2seq_run(dates_run, capsys):
    assert main(["predict", str(dates_run), "--text", "x"]) == 2
    err = capsys.readouterr().err
    assert f"{dates_run} is a seq2seq run" in err and "use seqlab translate" in err


@pytest.mark.parametrize("argv, message", [
    ([], "give either --text"),
    (["--input", "x.csv"], "--input needs --output"),
    (["--text", "a", "--input", "x.csv"], "give either --text"),
])
def test_predict_argument_errors(classify_run, capsys, argv, message):
    assert main(["predict", str(classify_run), *argv]) == 2
    assert message in capsys.readouterr().err


def test_corrupted_weights_are_one_line_and_untouched(classify_run, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(classify_run, tmp_path / "run")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    before = weights.read_bytes()
    assert main(["predict", str(copy), "--text", "great"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"seqlab predict: error: {weights} is corrupted or truncated: ") and "\n" not in err
    assert weights.read_bytes() == before
