"""The tag task through `seqlab train` as a user runs it: the UD POS smoke recipe, a BIO toy
with span F1, and a user's broken CoNLL-U file.

The smoke recipe must make the training loss fall and beat the majority tag on test (the
share of test tokens whose tag is train's most frequent one: NOUN, about 17% in EWT). It
is skipped, with the reason, when the dataset folder is absent.
"""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from seqlab import config
from seqlab.cli.main import main
from seqlab.tasks import tag

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


def majority_rate(data):
    """Test token accuracy of tagging every token with the training split's most frequent tag."""
    (majority, _), = Counter(t for example in data.train for t in example.tags).most_common(1)
    test_tags = [t for example in data.test for t in example.tags]
    return sum(t == majority for t in test_tags) / len(test_tags)


def read_run(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return records, json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_ud_pos_smoke_learns(tmp_path, capsys, monkeypatch):
    if not (ROOT / "ud_english_ewt").is_dir():
        pytest.skip(f"{ROOT / 'ud_english_ewt'} is absent (set SEQLAB_DATA_DIR)")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", "ud-pos-smoke", "--out", str(out)]) == 0
    records, summary = read_run(out)
    data = tag.load_data(config.load("ud-pos-smoke"))
    assert data.tags[max(range(data.num_tags), key=[t for ex in data.train for t in ex.tags].count)] == "NOUN"
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert summary["test"]["token_accuracy"] > majority_rate(data) + 0.2
    for name in ("vocab.json", "tags.json", "chars.json", "model.safetensors"):
        assert (out / name).is_file(), name
    assert capsys.readouterr().out.splitlines()[-1] == f"test token_accuracy: {summary['test']['token_accuracy']:.4f}"


@pytest.mark.slow
def test_bio_toy_reports_span_f1(tmp_path):
    pytest.importorskip("seqeval")
    out = tmp_path / "run"
    settings = ["data.name=entities-bio", "data.num_train=400", "data.num_valid=50", "data.num_test=100",
                "model.char_encoder=cnn", "model.bidirectional=true", "model.hidden_size=32", "train.epochs=3"]
    assert main(["train", "toy-tag", "--out", str(out), *(arg for s in settings for arg in ("--set", s))]) == 0
    _, summary = read_run(out)
    assert summary["test"]["token_accuracy"] > 0.9
    assert 0.8 < summary["test"]["span_f1"] <= 1.0
    assert {"span_precision", "span_recall", "token_accuracy", "exact_match"} <= summary["test"].keys()


def test_broken_conllu_is_one_line_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "my.conllu"
    path.write_text("1\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n2\tbark\tVERB\n", encoding="utf-8")
    code = main(["train", "toy-tag", "--set", "data.name=null", "--set", "data.format=conllu",
                 "--set", f"data.train={path}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].endswith(f"{path}:2: a CoNLL-U word line needs 10 tab-separated fields, got 3: '2\\tbark\\tVERB'")
    assert not any("Traceback" in line for line in err)
