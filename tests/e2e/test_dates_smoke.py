"""The dates-smoke recipe (seq2seq) through `seqlab train`, as a user runs it."""

import json

import pytest

from seqlab.cli.main import main


@pytest.mark.slow
def test_dates_smoke_trains_and_the_loss_falls(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "dates-smoke", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["train_loss"] < records[0]["train_loss"] / 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["metric"] == "exact_match" and 0.0 <= summary["test"]["exact_match"] <= 1.0
    assert summary["test"]["token_accuracy"] > 0.5  # chance over the 11 target characters is ~0.1
    for name in ("tokenizer.json", "src_vocab.json", "tgt_vocab.json", "model.safetensors"):
        assert (out / name).is_file(), name
    assert capsys.readouterr().out.splitlines()[-1].startswith("test exact_match: ")
