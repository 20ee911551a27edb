"""The multi30k-smoke recipe (seq2seq on a real corpus) through `seqlab train`, as a user runs it."""

import json
import os
from pathlib import Path

import pytest

from seqlab.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # unknown-token rates of a 2,000-pair vocabulary
@pytest.mark.skipif(not (ROOT / "multi30k").is_dir(), reason=f"{ROOT / 'multi30k'} is absent (set SEQLAB_DATA_DIR)")
def test_multi30k_smoke_trains_and_scores_bleu(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sacrebleu")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", "multi30k-smoke", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] - 0.5
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["metric"] == "bleu" and summary["best"]["metric"] == "valid_bleu"
    test = summary["test"]
    assert 0.0 < test["bleu"] <= 100.0 and test["bleu"] == test["bleu_lc"]  # lowercased words: the two agree
    assert 0.0 < test["chrf"] <= 100.0
    assert test["perplexity"] == pytest.approx(2.718281828459045 ** test["loss"])
    split = json.loads((out / "split.json").read_text())
    assert [len(split["indices"][name]) for name in ("train", "valid", "test")] == [2000, 100, 100]
    for name in ("tokenizer.json", "src_vocab.json", "tgt_vocab.json", "model.safetensors", "plots/attention-1.png"):
        assert (out / name).is_file(), name
    assert capsys.readouterr().out.splitlines()[-1].startswith("test bleu: ")
