"""`seqlab similar` and `seqlab analogy` on a small hand-made word2vec run dir."""

import json

import pytest
import torch

from seqlab import config
from seqlab.cli.main import main
from seqlab.training.checkpoint import save_tensors

WORDS = ["man", "woman", "king", "queen", "cat"]


@pytest.fixture
def run_dir(tmp_path):
    """A run dir as a word2vec run leaves it: config.yaml, vocab.json, model.safetensors."""
    out = tmp_path / "run"
    out.mkdir()
    config.save(config.from_dict({"task": "word2vec"}), out / "config.yaml")
    (out / "vocab.json").write_text(json.dumps({"words": WORDS, "counts": [5, 4, 3, 2, 1]}))
    # man 0°, woman 90°, king 20°, queen 110°, cat out of the plane (a little away from man)
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.94, 0.34, 0.0], [-0.34, 0.94, 0.0], [-0.1, 0.0, 1.0]])
    save_tensors({"input": vectors, "output": torch.zeros(5, 3)}, out / "model.safetensors")
    return out


def test_similar_prints_neighbours(run_dir, capsys):
    assert main(["similar", str(run_dir), "man", "--topn", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["king", "woman"]  # cos 20° = 0.94, then cos 90° = 0


def test_analogy_is_a_minus_b_plus_c(run_dir, capsys):
    assert main(["analogy", str(run_dir), "king", "man", "woman", "--topn", "1"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == "queen"


@pytest.mark.parametrize("argv", [["similar", "RUN", "emperor"], ["analogy", "RUN", "king", "emperor", "woman"]])
def test_unknown_word_is_named(run_dir, capsys, argv):
    assert main([str(run_dir) if a == "RUN" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert "word 'emperor' is not in the vocabulary (5 words)" in err and len(err.splitlines()) == 1


def test_a_run_of_another_task_is_refused(tag_run, capsys):
    assert main(["similar", str(tag_run), "man"]) == 2
    assert "is a tag run, not word2vec; use seqlab predict" in capsys.readouterr().err
