"""The lm smoke recipes through `seqlab train`, as a user runs them.

Each must end below the unigram entropy of its training tokens: the loss (nats per
token) of the best model that ignores context, H = -sum_c p(c) ln p(c) with p the
training frequencies; beating it means the model learned to use what came before.
"""

import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest

from seqlab import config
from seqlab.cli.main import main
from seqlab.tasks import lm

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")


def unigram_entropy(ids):
    counts = Counter(ids)
    total = sum(counts.values())
    return -sum(n / total * math.log(n / total) for n in counts.values())


@pytest.mark.slow
@pytest.mark.parametrize("recipe, dataset", [("shakespeare-smoke", "tinyshakespeare"),
                                             ("names-generate-smoke", "names")])
def test_lm_smoke_recipe_beats_the_unigram_entropy(recipe, dataset, tmp_path, capsys, monkeypatch):
    if not (ROOT / dataset).is_dir():
        pytest.skip(f"{ROOT / dataset} is absent (set SEQLAB_DATA_DIR)")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))
    out = tmp_path / "run"
    assert main(["train", recipe, "--out", str(out)]) == 0
    data = lm.load_data(config.load(recipe))
    if isinstance(data.train, lm.TokenStream):
        targets = data.train.tokens.tolist()
    else:  # every token after <sos> is predicted, <eos> included
        targets = [token for example in data.train for token in example.tokens[1:]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["loss"] < unigram_entropy(targets) - 0.3
    assert summary["test"]["perplexity"] == pytest.approx(math.exp(summary["test"]["loss"]))
    samples = (out / "samples.txt").read_text()
    if data.conditions:  # a line of samples for every language
        assert all(f"  {language}: " in samples for language in data.conditions)
    else:
        assert len(samples.splitlines()[1:]) > 1
    assert capsys.readouterr().out.splitlines()[-1] == f"test loss: {summary['test']['loss']:.4f}"
