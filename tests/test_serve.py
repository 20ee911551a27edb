"""`seqlab serve`: the HTTP app over each task's bundle, called in-process through FastAPI's
TestClient (no socket). Every served answer is checked against the bundle's own Python
call, which the bundle tests check against the model."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

import seqlab
from seqlab import config
from seqlab.cli.main import main
from seqlab.serve import create_app
from seqlab.training.checkpoint import save_tensors


@pytest.fixture(scope="module")
def classify_client(classify_run):
    return TestClient(create_app(classify_run, max_items=3))


def test_health_and_info_describe_the_run(classify_client, classify_run):
    assert classify_client.get("/health").json() == {"status": "ok", "task": "classify"}
    info = classify_client.get("/info").json()
    summary = json.loads((classify_run / "summary.json").read_text())
    assert info["task"] == "classify" and info["run"] == classify_run.name and info["reads"] == "texts"
    assert info["labels"] == seqlab.load(classify_run).labels
    assert info["test"] == summary["test"] and info["recipe"] == summary["recipe"]
    assert info["endpoints"] == ["GET /health", "GET /info", "POST /predict"]


def test_predict_gives_the_bundles_labels_and_probabilities(classify_client, classify_run):
    texts = ["the film was good", "awful plot and dull", "really superb"]
    response = classify_client.post("/predict", json={"texts": texts})
    assert response.status_code == 200
    served = response.json()["predictions"]
    clf = seqlab.load(classify_run)
    for got, (label, p), probabilities in zip(served, clf.predict(texts), clf.predict_proba(texts)):
        assert got["label"] == label and got["probability"] == pytest.approx(p, abs=1e-6)
        assert got["probabilities"] == pytest.approx(probabilities, abs=1e-6)
        assert sum(got["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert classify_client.post("/predict", json={"texts": []}).json() == {"predictions": []}


@pytest.mark.parametrize("body, status, message", [
    ({"text": "one text"}, 422, "text"),  # unknown key: FastAPI names it
    ({"texts": "not a list"}, 422, "texts"),
    ({"texts": [1, 2]}, 422, "texts"),
    ({"tokens": [["a", "b"]]}, 400, 'this model classifies texts; give {"texts": [...]}, not tokens'),
    ({}, 400, 'give {"texts": [...]}'),
    ({"texts": ["a", "b", "c", "d"]}, 400, "texts: 4 items; this server takes at most 3 a request"),
])
def test_bad_predict_bodies_are_refused_with_the_key_named(classify_client, body, status, message):
    response = classify_client.post("/predict", json=body)
    assert response.status_code == status
    assert message in json.dumps(response.json()["detail"]).replace('\\"', '"')


def test_a_task_has_only_its_own_endpoints(classify_client):
    assert classify_client.post("/translate", json={"texts": ["x"]}).status_code == 404
    assert classify_client.post("/generate", json={}).status_code == 404


def test_tag_predict_takes_texts_or_token_lists(tag_run):
    client = TestClient(create_app(tag_run))
    tagger = seqlab.load(tag_run)
    words = tagger.saved.vocab.decode(list(range(4, 10)))
    texts = [" ".join(words[:4]), " ".join(words[2:]), "   "]
    expected = tagger.predict(texts)
    by_text = client.post("/predict", json={"texts": texts}).json()["predictions"]
    by_tokens = client.post("/predict", json={"tokens": [t.split() for t in texts]}).json()["predictions"]
    assert by_text == by_tokens == [{"tokens": t.split(), "tags": tags} for t, tags in zip(texts, expected)]
    both = client.post("/predict", json={"texts": texts, "tokens": [["a"]]})
    assert both.status_code == 400 and "give either" in both.json()["detail"]


def test_translate_matches_the_bundle_with_beam_and_attention(dates_run):
    client = TestClient(create_app(dates_run))
    translator = seqlab.load(dates_run)
    texts = ["23 November 2026", "Nov 3, 1999"]
    for beam in (1, 3):
        served = client.post("/translate", json={"texts": texts, "beam": beam}).json()["translations"]
        assert [t["text"] for t in served] == translator.translate(texts, beam_size=beam)
    detailed = client.post("/translate", json={"texts": texts, "attention": True}).json()["translations"]
    reference = translator.translate(texts, return_attention=True)
    for got, want in zip(detailed, reference):
        assert got["text"] == want.text and got["output_tokens"] == want.output_tokens
        assert got["score"] == pytest.approx(want.score, abs=1e-4)
        weights = torch.tensor(got["attention"])
        assert torch.allclose(weights, want.attention, atol=1e-6)  # (output tokens [+ <eos>], source tokens)
        assert torch.allclose(weights.sum(-1), torch.ones(len(weights)), atol=1e-5)
    bad = client.post("/translate", json={"texts": texts, "beam": 0})
    assert bad.status_code == 422 and "beam" in json.dumps(bad.json())


def test_generate_is_seeded_and_its_stream_is_the_same_text(shakespeare_run):
    client = TestClient(create_app(shakespeare_run, max_length=50))
    generator = seqlab.load(shakespeare_run)
    body = {"prompt": "ROMEO:", "length": 40, "temperature": 0.8, "top_k": 10, "seed": 7, "n": 2}
    samples = client.post("/generate", json=body).json()["samples"]
    assert samples == [generator.generate("ROMEO:", 40, temperature=0.8, top_k=10, seed=s) for s in (7, 8)]
    streamed = client.post("/generate", json={**body, "stream": True})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/plain")
    assert streamed.text == "\n".join(samples)
    too_long = client.post("/generate", json={**body, "length": 51})
    assert too_long.status_code == 400 and "at most 50 tokens a sample" in too_long.json()["detail"]
    for key, value in (("temperature", -1), ("top_p", 1.5), ("top_k", 0), ("length", 0)):
        assert client.post("/generate", json={**body, key: value}).status_code == 422, key


def test_a_conditioned_model_names_its_conditions_before_any_stream(names_lm_run):
    client = TestClient(create_app(names_lm_run))
    generator = seqlab.load(names_lm_run)
    assert client.get("/info").json()["conditions"] == list(generator.conditions)
    language = generator.conditions[0]
    samples = client.post("/generate", json={"condition": language, "n": 3, "seed": 1, "length": 20}).json()
    assert samples["samples"] == [generator.generate("", 20, seed=s, condition=language) for s in (1, 2, 3)]
    for stream in (False, True):
        unknown = client.post("/generate", json={"condition": "Klingon", "stream": stream})
        assert unknown.status_code == 400
        assert "condition 'Klingon' is not one this model was trained with" in unknown.json()["detail"]
        missing = client.post("/generate", json={"stream": stream})
        assert missing.status_code == 400 and "give a condition" in missing.json()["detail"]


def test_unknown_prompt_tokens_come_back_as_warnings_or_are_refused(names_lm_run):
    client = TestClient(create_app(names_lm_run))
    language = seqlab.load(names_lm_run).conditions[0]
    body = client.post("/generate", json={"condition": language, "prompt": "\u263a", "length": 5}).json()
    assert any("never saw" in warning for warning in body["warnings"])
    for stream in (False, True):
        refused = client.post("/generate", json={"condition": language, "prompt": "\u263a", "on_unknown": "refuse",
                                                 "stream": stream})
        assert refused.status_code == 400 and "the prompt has tokens this model never saw" in refused.json()["detail"]


START = datetime(2021, 3, 1)


def write_series(path, n: int) -> tuple[list[list[float]], list[datetime]]:
    """Two hourly columns with a daily cycle; returns the rows and their times."""
    rows = [[10 + 3 * math.sin(2 * math.pi * i / 24), 20 + math.cos(2 * math.pi * i / 24)] for i in range(n)]
    times = [START + timedelta(hours=i) for i in range(n)]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["time", "load", "temp"])
        writer.writerows([t.isoformat(sep=" "), f"{a:.4f}", f"{b:.4f}"] for t, (a, b) in zip(times, rows))
    return rows, times


def test_forecast_matches_the_bundle_and_refuses_short_input(tmp_path):
    rows, times = write_series(tmp_path / "series.csv", 300)
    overrides = {"data.name": None, "data.train": str(tmp_path / "series.csv"), "data.format": "timeseries-csv",
                 "forecast.time_column": "time", "forecast.targets": "load", "forecast.lookback": 24,
                 "forecast.horizon": 4, "model.encoder": "linear", "train.epochs": 1}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("task: forecast\n", encoding="utf-8")
    run = seqlab.train(recipe, overrides=overrides, out=tmp_path / "run")
    client = TestClient(create_app(run))
    info = client.get("/info").json()
    assert info["columns"] == ["load", "temp"] and info["targets"] == ["load"] and info["rows_needed"] == 24
    recent, stamps = rows[-30:], times[-30:]
    served = client.post("/forecast", json={"rows": recent, "timestamps": [t.isoformat() for t in stamps]}).json()
    want = seqlab.load(run).forecast(recent, stamps)
    assert served["names"] == want.names and served["steps"] == want.steps == [1, 2, 3, 4]
    assert torch.allclose(torch.tensor(served["values"]), torch.tensor(want.values), atol=1e-9)
    assert served["timestamps"] == [t.isoformat() for t in want.timestamps]
    short = client.post("/forecast", json={"rows": recent[:5]})
    assert short.status_code == 400 and "rows: 5 rows; the model reads the last 24 steps" in short.json()["detail"]


@pytest.fixture
def word2vec_run(tmp_path):
    """A run dir as a word2vec run leaves it (the vectors set by hand: king - man + woman = queen)."""
    out = tmp_path / "w2v"
    out.mkdir()
    config.save(config.from_dict({"task": "word2vec"}), out / "config.yaml")
    (out / "vocab.json").write_text(json.dumps({"words": ["man", "woman", "king", "queen"], "counts": [4, 3, 2, 1]}))
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.94, 0.34, 0.0], [-0.34, 0.94, 0.0]])
    save_tensors({"input": vectors, "output": torch.zeros(4, 3)}, out / "model.safetensors")
    return out


def test_word2vec_similar_and_analogy(word2vec_run):
    client = TestClient(create_app(word2vec_run))
    assert client.get("/info").json()["words"] == 4
    neighbours = client.post("/similar", json={"word": "man", "topn": 2}).json()["neighbours"]
    assert [word for word, _ in neighbours] == ["king", "woman"]
    assert neighbours[0][1] == pytest.approx(0.94 / math.hypot(0.94, 0.34), abs=1e-5)  # cos of king and man
    assert client.post("/analogy", json={"a": "king", "b": "man", "c": "woman"}).json()["answers"][0][0] == "queen"
    unknown = client.post("/similar", json={"word": "emperor"})
    assert unknown.status_code == 400 and "word 'emperor' is not in the vocabulary" in unknown.json()["detail"]


def test_cli_serves_the_app_it_builds(classify_run, monkeypatch, capsys):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    assert main(["serve", str(classify_run), "--port", "8123"]) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == 8123
    assert TestClient(served["app"]).get("/health").json()["task"] == "classify"
    assert f"serving {classify_run} at http://127.0.0.1:8123" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "--port: expected an integer in 1..65535, got 0"),
    (["--max-items", "0"], "max_items must be an integer >= 1, got 0"),
    (["--device", "gpu"], "--device: 'gpu' is not a device; expected auto, cpu, cuda or cuda:N"),
    pytest.param(["--device", "cuda"], "--device: 'cuda' was asked for, but torch sees no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")),
])
def test_cli_refuses_bad_options(classify_run, capsys, argv, message):
    assert main(["serve", str(classify_run), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_an_unfinished_run(tmp_path, capsys):
    config.save(config.from_dict({"task": "classify"}), tmp_path / "config.yaml")
    assert main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqlab serve: error:") and len(err.splitlines()) == 1


def test_a_classifier_of_feature_sequences_takes_sequences(tmp_path):
    """Steps of F numbers in, as seqlab.load(run).probabilities takes them; texts are refused."""
    rows = []
    for n in range(60):  # rising vs falling ramps of 2 features, 5..9 steps
        label = "up" if n % 2 else "down"
        steps = [[t if label == "up" else -t, 1.0] for t in range(5 + n % 5)]
        rows.append(json.dumps({"features": steps, "label": label}))
    (tmp_path / "ramps.jsonl").write_text("\n".join(rows) + "\n")
    run = seqlab.train("classify-sequences", {"data.train": str(tmp_path / "ramps.jsonl"), "train.epochs": 1,
                                              "model.hidden_size": 8, "model.embedding_dim": 4,
                                              "train.checkpoint_every": None}, out=tmp_path / "run")
    client = TestClient(create_app(run))
    assert client.get("/info").json()["reads"] == "sequences"
    sequences = [[[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]], [[0.0, 1.0], [-1.0, 1.0]]]
    served = client.post("/predict", json={"sequences": sequences}).json()["predictions"]
    expected = seqlab.load(run).predict_proba(sequences)
    assert [p["probabilities"] for p in served] == [pytest.approx(e, abs=1e-6) for e in expected]
    refused = client.post("/predict", json={"texts": ["up"]})
    assert refused.status_code == 400 and 'this model classifies sequences; give {"sequences": [...]}' in refused.json()["detail"]
