"""The classify smoke recipes and a user's own CSV, through `seqlab train` as a user runs it.

Each smoke recipe must make the training loss fall and beat the majority class on test
(the share of test examples whose label is train's most frequent one). Registry recipes
are skipped, with the reason, when their dataset folder is absent.
"""

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from seqlab import config
from seqlab.cli.main import main
from seqlab.tasks import classify

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")
SMOKE = {"names-smoke": "names", "imdb-smoke": "imdb", "sst2-smoke": "sst2"}


def majority_rate(data):
    """Test accuracy of always predicting the training split's most frequent label."""
    (majority, _), = Counter(example.label for example in data.train).most_common(1)
    return sum(example.label == majority for example in data.test) / len(data.test)


def check_run(out, data):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert summary["test"]["accuracy"] > majority_rate(data)
    assert 0.0 < summary["test"]["macro_f1"] <= 1.0
    for name in ("tokenizer.json", "vocab.json", "labels.json", "split.json", "confusion.txt", "plots/confusion.png"):
        assert (out / name).is_file(), name
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(SMOKE))
def test_smoke_recipe_learns(recipe, tmp_path, capsys, monkeypatch):
    if not (ROOT / SMOKE[recipe]).is_dir():
        pytest.skip(f"{ROOT / SMOKE[recipe]} is absent (set SEQLAB_DATA_DIR)")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out)]) == 0
    summary = check_run(out, classify.load_data(config.load(recipe)))
    assert capsys.readouterr().out.splitlines()[-1] == f"test accuracy: {summary['test']['accuracy']:.4f}"


def test_users_csv_in_one_command(tmp_path, capsys):
    # Sentiment carried by one word among filler; the label depends on it alone.
    rng = random.Random(0)
    filler = ["the", "a", "film", "plot", "actor", "scene", "story", "was", "it", "this"]
    rows = []
    for _ in range(400):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(filler, k=rng.randint(3, 10))
        words.insert(rng.randrange(len(words) + 1), rng.choice(["great", "superb"] if label == "pos" else
                                                                ["awful", "boring"]))
        rows.append((" ".join(words), label))
    path = tmp_path / "my.csv"
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    out = tmp_path / "run"
    fast = ["--set", "train.epochs=4", "--set", "model.hidden_size=16", "--set", "model.embedding_dim=16"]
    assert main(["train", "classify-csv", "--set", f"data.train={path}", "--out", str(out), *fast]) == 0
    cfg = config.resolve("classify-csv", [f"data.train={path}"])
    summary = check_run(out, classify.load_data(cfg))
    assert summary["test"]["accuracy"] >= 0.9
    assert json.loads((out / "labels.json").read_text()) == ["neg", "pos"]


def test_users_csv_without_the_columns(tmp_path, capsys):
    path = tmp_path / "my.csv"
    path.write_text("review,stars\nfine,5\n", encoding="utf-8")
    assert main(["train", "classify-csv", "--set", f"data.train={path}", "--out", str(tmp_path / "run")]) == 2
    assert "no column 'text'; the file has columns ['review', 'stars']" in capsys.readouterr().err
