"""seqlab ensemble: classify or tag runs averaged into one predictor, and data.seed, which lets them share a split.

The ensemble's probabilities are checked against the members' own (their mean, by hand),
its metrics against the labels counted here, and its refusals by message.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

import seqlab
from seqlab import bundle, config
from seqlab.cli.main import main
from seqlab.ensemble import ClassifyEnsemble, TagEnsemble, build
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
    assert isinstance(ensemble, ClassifyEnsemble) and ensemble.task == "classify"
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


def test_bad_ensembles_are_refused(members, tag_run, dates_run, tmp_path):
    with pytest.raises(ValueError, match="at least two runs"):
        build(members[:1], tmp_path / "a")
    with pytest.raises(ValueError, match="named twice"):
        build([members[0], members[0]], tmp_path / "b")
    with pytest.raises(ValueError, match="is a tag run; an ensemble averages classify runs or tag runs, all of one"):
        build([members[0], tag_run], tmp_path / "c")
    with pytest.raises(ValueError, match="is a seq2seq run; an ensemble averages classify runs or tag runs"):
        build([dates_run, shutil.copytree(dates_run, tmp_path / "dates2")], tmp_path / "c")
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


def test_eval_overrides_apply_to_every_member_and_are_kept(members, tmp_path, capsys):
    """--set eval.truncate=false: members cut texts at data.max_tokens_per_example (400 in
    classify-csv) no more, now and whenever the ensemble is loaded again."""
    long_text = "awful " * 450 + "great " * 60  # its last 60 words lie past the cap
    whole = [dataclasses.replace(m, cfg=config.apply_overrides(m.cfg, ["eval.truncate=false"]))
             for m in map(seqlab.load, members[:2])]
    assert len(whole[0].encode(long_text)) == 510 and len(seqlab.load(members[0]).encode(long_text)) == 400
    build(members[:2], tmp_path / "whole", overrides=["eval.truncate=false"])
    ensemble = seqlab.load(tmp_path / "whole")
    assert json.loads((tmp_path / "whole" / "ensemble.json").read_text())["overrides"] == ["eval.truncate=false"]
    assert ensemble.cfg.eval.truncate is False and all(m.cfg.eval.truncate is False for m in ensemble.members)
    expected = (whole[0].probabilities([long_text]) + whole[1].probabilities([long_text])) / 2
    torch.testing.assert_close(ensemble.probabilities([long_text]), expected)
    assert main(["report", str(tmp_path / "whole")]) == 0
    assert "Every member predicts with `eval.truncate=false`." in capsys.readouterr().out
    with pytest.raises(ConfigError, match="'data.seed=1': an ensemble takes only eval.. keys"):
        build(members[:2], tmp_path / "other", overrides=["data.seed=1"])


def test_eval_of_an_ensemble_applies_its_overrides_to_the_members(members, ensemble_dir, monkeypatch):
    """seqlab eval ENS --set eval.truncate=false: each member reads whole texts for that scoring."""
    seen = []
    real = bundle.Classifier.probabilities
    monkeypatch.setattr(bundle.Classifier, "probabilities",
                        lambda self, texts: seen.append(self.cfg.eval.truncate) or real(self, texts))
    from seqlab.evaluation import evaluate_run

    evaluate_run(ensemble_dir, "valid", ["eval.truncate=false"])
    assert seen == [False, False, False]


def test_classifier_probabilities_do_not_depend_on_the_batch(classify_run):
    """Texts are batched by length (little padding); each row is the text's own probabilities."""
    clf = seqlab.load(classify_run)
    texts = ["great", "the film was really awful and the plot was dull", "fine film", "boring"]
    together = clf.probabilities(texts)
    alone = torch.cat([clf.probabilities([text]) for text in texts])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


# -- tag ensembles -----------------------------------------------------------------------

TAG = {"train.epochs": 1, "train.checkpoint_every": None, "data.num_train": 200, "data.num_valid": 40,
       "data.num_test": 60, "model.hidden_size": 16}  # tag_run's settings (conftest)


@pytest.fixture(scope="module")
def tag_members(tag_run, tmp_path_factory) -> list[Path]:
    """tag_run (seed 0) and seed 1 of its recipe, on the same generated sentences (data.seed 0)."""
    out = tmp_path_factory.mktemp("tag-members") / "seed1"
    return [Path(tag_run), Path(seqlab.train("toy-tag", {**TAG, "seed": 1, "data.seed": 0}, out=out))]


def test_tag_ensemble_averages_each_tokens_probabilities(tag_members, tmp_path, capsys):
    out = tmp_path / "tags"
    assert main(["ensemble", *map(str, tag_members), "--out", str(out)]) == 0
    assert "ensemble of 2: valid token accuracy" in capsys.readouterr().out
    ensemble = seqlab.load(out)
    assert isinstance(ensemble, TagEnsemble) and ensemble.tags == seqlab.load(tag_members[0]).tags
    inputs = ["1 2 3", [], "7 7 1 9 4"]
    each = [seqlab.load(run).token_probabilities(inputs) for run in tag_members]
    expected = [[ensemble.tags[i] for i in ((a + b) / 2).argmax(dim=1).tolist()] for a, b in zip(*each)]
    assert ensemble.predict(inputs) == expected and [len(tags) for tags in expected] == [3, 0, 5]
    # the summary's figures: each member's own test score, and the ensemble's counted here
    summary = json.loads((out / "summary.json").read_text())
    for n, run in enumerate(tag_members):
        own = json.loads((run / "summary.json").read_text())["test"]["token_accuracy"]
        assert summary["members"][n]["test_token_accuracy"] == pytest.approx(own)
    from seqlab.tasks.tag_data import split_sentences

    sentences = split_sentences(bundle.read_config(tag_members[0])[1])[0]["test"]
    guessed = ensemble.predict([tokens for tokens, _ in sentences])
    right = sum(g == t for (_, tags), guess in zip(sentences, guessed) for g, t in zip(guess, tags))
    assert summary["test"]["token_accuracy"] == pytest.approx(right / sum(len(tags) for _, tags in sentences))
    whole = sum(guess == tags for (_, tags), guess in zip(sentences, guessed))
    assert summary["test"]["exact_match"] == pytest.approx(whole / len(sentences))
    assert summary["headline"]["metric"] == "token_accuracy" and (out / "tags.json").is_file()
    assert main(["predict", str(out), "--text", "1 2 3"]) == 0
    assert capsys.readouterr().out.strip() == " ".join(f"{w}/{t}" for w, t in zip("123", expected[0]))
    assert main(["report", str(out)]) == 0
    assert "| run | valid token accuracy | test token accuracy |" in capsys.readouterr().out
    assert main(["eval", str(out), "--split", "valid"]) == 0
    assert json.loads((out / "eval-valid.json").read_text())["metrics"] == pytest.approx(summary["valid"])


def test_tag_members_on_other_sentences_are_refused(tag_run, tmp_path):
    other = seqlab.train("toy-tag", {**TAG, "seed": 1}, out=tmp_path / "seed1")  # data seeded by 1: other sentences
    with pytest.raises(ConfigError, match="its validation or test split is not"):
        build([tag_run, other], tmp_path / "ens")


def test_tagger_token_probabilities_are_what_it_predicts_from(tag_run):
    tagger = seqlab.load(tag_run)
    inputs = ["1 2 3", "", ["4", "4"]]
    probabilities = tagger.token_probabilities(inputs)
    assert [tuple(p.shape) for p in probabilities] == [(3, len(tagger.tags)), (0, len(tagger.tags)),
                                                      (2, len(tagger.tags))]
    torch.testing.assert_close(probabilities[0].sum(dim=1), torch.ones(3))
    assert tagger.predict(inputs) == [[tagger.tags[i] for i in p.argmax(dim=1).tolist()] for p in probabilities]
    from seqlab.tasks.tag import TagExample, collate

    ids = [tagger.saved.vocab.encode(list("123"))]
    batch = collate([TagExample(ids[0], [0, 0, 0], None if tagger.saved.char_vocab is None else
                                [tagger.saved.char_vocab.encode([c]) for c in "123"])])
    assert tagger.predict(["1 2 3"])[0] == [tagger.tags[i] for i in tagger.model.predict(batch)[0]]


def test_bio_tag_ensemble_scores_spans_as_seqeval(tmp_path):
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    settings = {**TAG, "data.name": "entities-bio", "data.num_train": 300, "data.seed": 0}
    runs = [seqlab.train("toy-tag", {**settings, "seed": seed}, out=tmp_path / f"s{seed}") for seed in (0, 1)]
    summary = build(runs, tmp_path / "ens")
    from seqlab.tasks.tag_data import split_sentences

    sentences = split_sentences(bundle.read_config(runs[0])[1])[0]["test"]
    true = [tags for _, tags in sentences]
    guess = seqlab.load(tmp_path / "ens").predict([tokens for tokens, _ in sentences])
    assert summary["test"]["span_f1"] == pytest.approx(seqeval_metrics.f1_score(true, guess))
    assert summary["test"]["span_precision"] == pytest.approx(seqeval_metrics.precision_score(true, guess))
