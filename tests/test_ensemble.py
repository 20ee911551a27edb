"""seqlab ensemble: classify runs averaged into one predictor, and data.seed, which lets them share a split.

The ensemble's probabilities are checked against the members' own (their mean, by hand),
its metrics against the labels counted here, and its refusals by message.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import seqlab
from seqlab import bundle
from seqlab.cli.main import main
from seqlab.ensemble import Ensemble, build
from seqlab.errors import ConfigError, DataError

TINY = {"train.epochs": 2, "train.checkpoint_every": None, "model.hidden_size": 8, "model.embedding_dim": 8}


@pytest.fixture(scope="module")
def members(classify_run, tmp_path_factory) -> list[Path]:
    """classify_run (seed 0) and two more seeds of its recipe on the same CSV, with its split (data.seed 0)."""
    folder = tmp_path_factory.mktemp("members")
    train = bundle.read_config(classify_run)[1].data.train
    runs = [Path(classify_run)]
    for seed in (1, 2):
        runs.append(Path(seqlab.train("classify-csv", {**TINY, "data.train": train, "seed": seed, "data.seed": 0},
                                      out=folder / f"seed{seed}")))
    return runs


@pytest.fixture(scope="module")
def ensemble_dir(members, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ensembles") / "three"
    build(members, out)
    return out


def test_data_seed_keeps_the_split_while_the_seed_changes(members):
    splits = [json.loads((run / "split.json").read_text())["indices"] for run in members]
    assert splits[1] == splits[0] == splits[2]
    cfgs = [bundle.read_config(run)[1] for run in members]
    assert [cfg.seed for cfg in cfgs] == [0, 1, 2] and [cfg.data_seed for cfg in cfgs] == [0, 0, 0]


def test_probabilities_are_the_members_mean(members, ensemble_dir):
    texts = ["the film was great", "awful plot really", "and the"]
    ensemble = seqlab.load(ensemble_dir)
    assert isinstance(ensemble, Ensemble) and ensemble.task == "classify"
    each = [seqlab.load(run).probabilities(texts) for run in members]  # same labels, same column order
    expected = (each[0] + each[1] + each[2]) / 3
    torch.testing.assert_close(ensemble.probabilities(texts), expected)
    predicted = ensemble.predict(texts)
    assert [label for label, _ in predicted] == [ensemble.labels[i] for i in expected.argmax(dim=1).tolist()]
    assert ensemble.predict_proba(texts)[0] == pytest.approx(dict(zip(ensemble.labels, expected[0].tolist())))


def test_summary_scores_the_ensemble_and_each_member(members, ensemble_dir):
    summary = json.loads((ensemble_dir / "summary.json").read_text())
    about = json.loads((ensemble_dir / "ensemble.json").read_text())
    assert [(ensemble_dir / name).resolve() for name in about["members"]] == [run.resolve() for run in members]
    for n, run in enumerate(members):  # each member's own scores, as its training wrote them
        own = json.loads((run / "summary.json").read_text())
        assert summary["members"][n]["valid_accuracy"] == pytest.approx(own["valid"]["accuracy"])
        assert summary["members"][n]["test_accuracy"] == pytest.approx(own["test"]["accuracy"])
    # the ensemble's test accuracy, counted here from its predictions and the CSV's labels
    cfg = bundle.read_config(members[0])[1]
    from seqlab.tasks.classify_data import split_rows

    rows = split_rows(cfg)[0]["test"]
    predicted = seqlab.load(ensemble_dir).predict([text for text, _ in rows])
    right = sum(label == gold for (label, _), (_, gold) in zip(predicted, rows))
    assert summary["test"]["accuracy"] == pytest.approx(right / len(rows))
    assert summary["headline"] == {"metric": "accuracy", "split": "test", "value": summary["test"]["accuracy"]}
    assert summary["recipe"] == "ensemble: classify-csv"
    assert (ensemble_dir / "confusion.txt").is_file() and (ensemble_dir / "plots" / "confusion.png").is_file()


def test_cli_builds_predicts_evaluates_and_lists(members, tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, members[:2]), "--out", str(out)]) == 0
    assert "ensemble of 2: valid accuracy" in capsys.readouterr().out
    assert main(["predict", str(out), "--text", "the film was great"]) == 0
    label, probability, text = capsys.readouterr().out.strip().split("\t")
    expected = seqlab.load(out).predict(["the film was great"])[0]
    assert (label, float(probability), text) == (expected[0], pytest.approx(expected[1], abs=1e-4), "the film was great")
    before = json.loads((out / "eval-test.json").read_text())
    assert main(["eval", str(out)]) == 0
    assert json.loads((out / "eval-test.json").read_text())["metrics"] == pytest.approx(before["metrics"])
    assert main(["runs", str(tmp_path)]) == 0
    assert "ensemble: classify-csv" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    page = capsys.readouterr().out
    assert "## Members" in page and "**the ensemble**" in page


def test_serve_predicts_with_an_ensemble(ensemble_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from seqlab.serve import create_app

    client = TestClient(create_app(ensemble_dir))
    info = client.get("/info").json()
    assert info["task"] == "classify" and info["labels"] == seqlab.load(ensemble_dir).labels
    answer = client.post("/predict", json={"texts": ["awful plot"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == seqlab.load(ensemble_dir).predict(["awful plot"])[0][0]


def test_members_that_split_differently_are_refused(members, tmp_path):
    train = bundle.read_config(members[0])[1].data.train
    other = seqlab.train("classify-csv", {**TINY, "data.train": train, "seed": 3}, out=tmp_path / "seed3")
    with pytest.raises(ConfigError, match=r"seed3: its validation or test split is not .*data\.seed"):
        build([members[0], other], tmp_path / "ens")
    assert not (tmp_path / "ens").exists()  # nothing written before the checks pass


def test_bad_ensembles_are_refused(members, tag_run, tmp_path):
    with pytest.raises(ValueError, match="at least two runs"):
        build(members[:1], tmp_path / "a")
    with pytest.raises(ValueError, match="named twice"):
        build([members[0], members[0]], tmp_path / "b")
    with pytest.raises(ValueError, match="is a tag run; an ensemble averages classify runs"):
        build([members[0], tag_run], tmp_path / "c")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not an empty folder"):
        build(members[:2], tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    unfinished = tmp_path / "unfinished"
    shutil.copytree(members[1], unfinished)
    (unfinished / "summary.json").unlink()
    with pytest.raises(ValueError, match="unfinished: not finished"):
        build([members[0], unfinished], tmp_path / "d")
    with pytest.raises(DataError, match="nowhere: not a run dir"):
        build([members[0], tmp_path / "nowhere"], tmp_path / "e")


def test_a_member_moved_away_is_named(members, tmp_path):
    copies = [shutil.copytree(run, tmp_path / f"m{n}") for n, run in enumerate(members[:2])]
    build(copies, tmp_path / "ens")
    shutil.rmtree(copies[1])
    with pytest.raises(DataError, match="member '../m1' is not a run dir"):
        seqlab.load(tmp_path / "ens")


def test_classifier_probabilities_do_not_depend_on_the_batch(classify_run):
    """Texts are batched by length (little padding); each row is the text's own probabilities."""
    clf = seqlab.load(classify_run)
    texts = ["great", "the film was really awful and the plot was dull", "fine film", "boring"]
    together = clf.probabilities(texts)
    alone = torch.cat([clf.probabilities([text]) for text in texts])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
