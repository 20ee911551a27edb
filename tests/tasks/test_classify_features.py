"""classify on numeric feature sequences: sine vs square waves, z-normalization, bundle and CLI predict."""

import json
import math
import random

import numpy as np
import pytest
import torch

import seqlab
from seqlab import config
from seqlab.cli.main import main
from seqlab.errors import DataError
from seqlab.tasks import classify, classify_features


def wave(kind, rng):
    """One noisy wave of 20..50 steps: (value, 0.5 * value + 3) per step, so F = 2 with different scales."""
    length, period, phase = rng.randint(20, 50), rng.uniform(8, 16), rng.uniform(0, 2 * math.pi)
    amplitude, offset = rng.uniform(0.5, 2.0), rng.uniform(-1, 1)
    values = []
    for t in range(length):
        s = math.sin(2 * math.pi * t / period + phase)
        v = offset + amplitude * (s if kind == "sine" else math.copysign(1.0, s)) + rng.gauss(0, 0.05)
        values.append([v, 0.5 * v + 3.0])
    return values


def write_waves(path, n, seed):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            kind = rng.choice(["sine", "square"])
            f.write(json.dumps({"features": wave(kind, rng), "label": kind}) + "\n")


SMALL = {"train.epochs": 6, "model.hidden_size": 16, "model.embedding_dim": 8, "train.device": "cpu",
         "train.checkpoint_every": None, "train.lr": 0.01, "train.batch_size": 16}


@pytest.fixture(scope="module")
def waves_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("waves")
    write_waves(folder / "waves.jsonl", 400, seed=0)
    run = seqlab.train("classify-sequences", {**SMALL, "data.train": str(folder / "waves.jsonl")},
                       out=folder / "run")
    return folder, run


def test_sine_vs_square_reaches_high_accuracy(waves_run):
    _, run = waves_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.95  # 40 carved test waves; 1.0 when this was written
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".json") == [
        "features.json", "labels.json", "split.json", "summary.json"]


def test_normalization_is_fitted_on_train_only(waves_run):
    folder, run = waves_run
    rows = [json.loads(line) for line in (folder / "waves.jsonl").read_text().splitlines()]
    train_rows = json.loads((run / "split.json").read_text())["indices"]["train"]
    steps = np.array([step for i in train_rows for step in rows[i]["features"]])  # (sum T, 2)
    saved = json.loads((run / "features.json").read_text())
    assert saved["num_features"] == 2
    np.testing.assert_allclose(saved["mean"], steps.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(saved["std"], steps.std(axis=0), rtol=1e-12)


def test_only_training_sequences_are_cut_when_scored_ones_are_whole():
    seq = [[float(t)] for t in range(10)]
    examples = {name: [(seq, "a"), (seq, "b")] for name in ("train", "valid", "test")}
    split = {name: [0, 1] for name in examples}
    about = {"sources": {"train": "waves.jsonl"}}
    cut = classify_features.encode_splits(examples, split, about, {"train": 4, "valid": 4, "test": 4})
    whole = classify_features.encode_splits(examples, split, about, {"train": 4, "valid": None, "test": None})
    assert [len(e.features) for e in cut.train + cut.valid + cut.test] == [4] * 6
    assert [len(e.features) for e in whole.train] == [4, 4] and [len(e.features) for e in whole.test] == [10, 10]
    # the normalizer is fitted on the (cut) training steps either way: 0..3
    assert torch.equal(whole.test[0].features[:4], cut.test[0].features)


def test_bundle_predicts_new_waves(waves_run, tmp_path, capsys):
    folder, run = waves_run
    predictor = seqlab.load(run)
    assert predictor.reads_features and predictor.labels == ["sine", "square"]
    rng = random.Random(7)
    kinds = [rng.choice(["sine", "square"]) for _ in range(40)]
    predicted = predictor.predict([wave(kind, rng) for kind in kinds])
    assert sum(label == kind for (label, _), kind in zip(predicted, kinds)) >= 36
    one_feature = [[x] for x in range(5)]
    with pytest.raises(DataError, match=r"shape \(5, 1\); the model reads \(T, 2\) steps"):
        predictor.predict([one_feature])
    # The CLI: JSON lines in, the same lines out with prediction and probability.
    write_waves(tmp_path / "new.jsonl", 5, seed=3)
    assert main(["predict", str(run), "--input", str(tmp_path / "new.jsonl"), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(out) == 5 and all(r["prediction"] in ("sine", "square") and 0.5 <= r["probability"] <= 1
                                 for r in out)
    assert main(["predict", str(run), "--text", "1 2 3"]) != 0
    assert "classifies feature sequences; give --input FILE.jsonl" in capsys.readouterr().err


def test_padding_changes_no_prediction():
    torch.manual_seed(0)
    model = classify.Classifier(0, 3, num_features=2, embedding_dim=4, hidden_size=5, bidirectional=True,
                                pooling="mean").eval()
    examples = [classify_features.FeatureExample(torch.randn(t, 2), 0) for t in (3, 6)]
    tight, wide = classify.collate(examples), classify.collate(examples, pad_to=9)
    assert tight.tokens.shape == (2, 6, 2) and wide.tokens.shape == (2, 9, 2)
    torch.testing.assert_close(model(tight.tokens, tight.lengths), model(wide.tokens, wide.lengths))
    assert classify.example_length(examples[1]) == 6


@pytest.mark.parametrize("line, message", [
    ('{"features": [[1, 2], [3]], "label": "a"}', r"bad.jsonl:2: step 1 has 1 features, step 0 has 2"),
    ('{"features": [[1, 2, 3]], "label": "a"}', r"bad.jsonl:2: 3 features per step; expected 2"),
    ('{"features": [], "label": "a"}', r"bad.jsonl:2: expected 'features' to be a non-empty list"),
    ('{"features": [[1, "x"]], "label": "a"}', r"bad.jsonl:2: step 0 holds 'x'"),
    ('{"values": [[1, 2]], "label": "a"}', r"bad.jsonl:2: no 'features'; the record has keys \['label', 'values'\]"),
])
def test_bad_sequences_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"features": [[1, 2]], "label": "a"}\n' + line + "\n", encoding="utf-8")
    cfg = config.resolve("classify-sequences", {"data.train": str(path)})
    with pytest.raises(DataError, match=message):
        classify.load_data(cfg)
