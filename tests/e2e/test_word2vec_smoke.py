"""word2vec-lee through `seqlab train`, then `seqlab similar` and `seqlab analogy`, as a user runs them.

The Lee corpus (60k words) is far too small for the analogy benchmark, so the check is
weak and robust instead: the loss falls, and a word's nearest neighbours are mostly words
that occur within 5 words of it somewhere in the corpus — far more often than random
words of the vocabulary do (about 0.73 against 0.21 when this was written).
"""

import json
import os
from pathlib import Path

import pytest
import torch

from seqlab import config
from seqlab.cli.main import main
from seqlab.embeddings import WordVectors
from seqlab.tasks import word2vec

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


def window_pairs(corpus: word2vec.Corpus, window: int = 5) -> set[tuple[int, int]]:
    """Every (word, word) id pair within ``window`` words of each other on one line."""
    ids, lines = corpus.ids.tolist(), corpus.lines.tolist()
    pairs = set()
    for i in range(len(ids)):
        for j in range(i + 1, min(i + window + 1, len(ids))):
            if lines[j] == lines[i]:
                pairs.update({(ids[i], ids[j]), (ids[j], ids[i])})
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_word2vec_lee_learns_neighbours_that_share_contexts(tmp_path, capsys, monkeypatch, workers):
    for dataset in ("word2vec_lee", "word_analogy"):
        if not (ROOT / dataset).is_dir():
            pytest.skip(f"{ROOT / dataset} is absent (set SEQLAB_DATA_DIR)")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", "word2vec-lee", "--out", str(out), "--set", f"word2vec.workers={workers}"]) == 0
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "model.safetensors", "vocab.json"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert len(epochs) == config.load("word2vec-lee").train.epochs
    every = config.load("word2vec-lee").train.log_every
    assert [r["step"] for r in steps] == list(range(every, every * len(steps) + 1, every))  # all workers counted
    assert steps[0]["train_loss"] > epochs[-1]["train_loss"] + 0.5  # about 3.9 -> 2.5 nats per prediction
    assert all(r["tokens_per_s"] > 0 for r in steps)
    assert steps[0]["lr"] > steps[-1]["lr"]  # linear decay
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["metric"] == "analogy_accuracy"
    assert summary["analogy"]["answered"] > 0 and 0 <= summary["headline"]["value"] <= 1

    vectors = WordVectors.from_run(out)
    corpus = word2vec.load_data(config.load(out / "config.yaml"))
    assert vectors.words == corpus.words
    near = window_pairs(corpus)
    words = range(20, 120)  # frequent content words, past the commonest function words
    hit = sum((w, vectors.index(n)) in near for w in words for n, _ in vectors.most_similar(vectors.words[w], 5))
    draws = torch.randint(0, len(vectors), (len(words), 5), generator=torch.Generator().manual_seed(0))
    chance = sum((w, int(r)) in near for w, row in zip(words, draws) for r in row)
    assert hit / (5 * len(words)) > 0.5 and hit > 2 * chance

    capsys.readouterr()
    assert main(["similar", str(out), "minister", "--topn", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 2 for line in lines)
    assert main(["analogy", str(out), "king", "man", "woman", "--topn", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
