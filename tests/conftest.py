"""Shared fixtures: tiny finished runs, each trained once per test session.

The bundle, eval, predict, translate and runs tests all read these run dirs; a test
that damages a run works on its own copy (``shutil.copytree``).

The Triton kernels run under Triton's CPU interpreter (``TRITON_INTERPRET=1``). Triton
decides when it is first imported whether ``@triton.jit`` functions (its own ``tl.zeros``,
``tl.sum`` among them) are compiled or interpreted, so the variable is set here, before
anything imports triton, and holds for the session; seqlab's ``auto`` backend never takes
the Triton kernels, so other tests are unaffected. (This lives in the top-level conftest,
not in tests/kernels/: a second ``conftest`` module would shadow this one for the tests
that import its helpers.)
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import os
import random
import sys
from types import SimpleNamespace

import pytest

if importlib.util.find_spec("triton") is not None and "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture(scope="module")
def interpreted():
    """The Triton kernel modules, interpreted on the CPU; skips if triton is not installed."""
    pytest.importorskip("triton")
    from triton import knobs

    if not knobs.runtime.interpret or "TRITON_INTERPRET" not in os.environ:
        pytest.skip("triton was imported before tests/conftest.py could turn on its interpreter")
    return SimpleNamespace(
        lstm=importlib.import_module("seqlab.kernels.triton_lstm"),
        gru=importlib.import_module("seqlab.kernels.triton_gru"),
        infer=importlib.import_module("seqlab.kernels.triton_infer"),
    )

TINY = {"train.epochs": 1, "train.checkpoint_every": None}


@pytest.fixture(scope="session")
def tag_run(tmp_path_factory):
    """toy-tag, one epoch on 200 generated sequences."""
    import seqlab

    out = tmp_path_factory.mktemp("bundles") / "tag"
    return seqlab.train("toy-tag", {**TINY, "data.num_train": 200, "data.num_valid": 40, "data.num_test": 60,
                                    "model.hidden_size": 16}, out=out)


@pytest.fixture(scope="session")
def dates_run(tmp_path_factory):
    """dates-smoke (char seq2seq with attention), one epoch on 300 pairs."""
    import seqlab

    out = tmp_path_factory.mktemp("bundles") / "dates"
    return seqlab.train("dates-smoke", {**TINY, "data.num_train": 300, "data.num_valid": 30, "data.num_test": 30,
                                        "model.hidden_size": 32}, out=out)


POSITIVE = ["good", "great", "fine", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring"]
FILLER = ["the", "film", "was", "plot", "really", "and"]


def write_reviews(path, n: int = 120, seed: int = 0) -> None:
    """A small labeled CSV (text,label,id): a review is positive when it holds a positive word."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "text", "label"])
        for i in range(n):
            label = rng.choice(["pos", "neg"])
            words = rng.sample(FILLER, 3) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
            rng.shuffle(words)
            writer.writerow([i, " ".join(words), label])


@pytest.fixture(scope="session")
def classify_run(tmp_path_factory):
    """classify-csv on a 120-row CSV written here (12 rows carved out for test)."""
    import seqlab

    folder = tmp_path_factory.mktemp("bundles")
    write_reviews(folder / "reviews.csv")
    return seqlab.train("classify-csv", {**TINY, "train.epochs": 3, "data.train": str(folder / "reviews.csv"),
                                         "model.hidden_size": 8, "model.embedding_dim": 8}, out=folder / "classify")


@pytest.fixture(scope="session")
def shakespeare_run(tmp_path_factory):
    """shakespeare-smoke (char lm on a token stream), one epoch on 20k characters."""
    import seqlab

    out = tmp_path_factory.mktemp("bundles") / "shakespeare"
    return seqlab.train("shakespeare-smoke", {**TINY, "data.limit_train": 20000, "data.limit_eval": 4000,
                                              "model.hidden_size": 32}, out=out)


@pytest.fixture(scope="session")
def names_lm_run(tmp_path_factory):
    """names-generate-smoke (char lm of names, conditioned on the language), one epoch on 1,000 names."""
    import seqlab

    out = tmp_path_factory.mktemp("bundles") / "names-lm"
    return seqlab.train("names-generate-smoke", {**TINY, "data.limit_train": 1000, "model.hidden_size": 32}, out=out)
