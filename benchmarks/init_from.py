"""model.init_from on a small IMDB subset: a classifier started from a word-level LSTM
language model of its own training reviews, against the same classifier from scratch.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/init_from.py [--lm-epochs N] [--epochs N]

The language model reads only the classifier's training split (written to a text file,
one review a line); validation and test reviews are never seen before scoring.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import seqlab
from seqlab import config
from seqlab.data import registry
from seqlab.tasks import classify

SHARED = {"model.encoder": "lstm", "model.embedding_dim": 64, "model.hidden_size": 128, "model.num_layers": 1,
          "train.device": "cpu", "train.checkpoint_every": None}
CLASSIFY = {**SHARED, "model.bidirectional": False, "model.pooling": "max", "data.max_vocab": 10000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-epochs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = config.resolve("imdb-smoke", CLASSIFY)
    split = classify.load_data(cfg).split
    rows = registry.load("imdb", "train")
    with tempfile.TemporaryDirectory() as folder:
        text = Path(folder) / "train.txt"
        text.write_text("".join(rows[i][0].replace("\n", " ") + "\n" for i in split["train"]), encoding="utf-8")
        start = time.perf_counter()
        lm = seqlab.train("shakespeare-smoke", {**SHARED, "data.name": None, "data.train": str(text),
                                                "data.format": "text", "data.tokenizer": "word", "data.lowercase": True,
                                                "data.max_vocab": 10000, "data.bptt": 64, "data.limit_train": None,
                                                "data.limit_eval": None, "train.epochs": args.lm_epochs,
                                                "model.dropout": 0.2}, out=Path(folder) / "lm")
        lm_summary = json.loads((lm / "summary.json").read_text())
        print(f"lm: {time.perf_counter() - start:.1f} s, held-out perplexity {lm_summary['test']['perplexity']:.1f}")
        for name, extra in (("scratch", {}), ("init_from", {"model.init_from": str(lm)})):
            run = seqlab.train("imdb-smoke", {**CLASSIFY, **extra, "train.epochs": args.epochs},
                               out=Path(folder) / name)
            summary = json.loads((run / "summary.json").read_text())
            print(f"{name}: {summary['wall_time_s']:.1f} s, best valid accuracy {summary['valid']['accuracy']:.4f}, "
                  f"test accuracy {summary['test']['accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
