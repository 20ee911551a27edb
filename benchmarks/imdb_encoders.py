"""The sequence encoders side by side on IMDB: test accuracy beside training time.

The same classifier (word embedding -> ENCODER -> pooling -> linear) on one seeded IMDB
subset, with only the encoder changed: conv, LSTM, GRU, conv+GRU and a Transformer
encoder — the trade-off the notes describe (convolutions: fast, blind to order beyond
their window; recurrent layers: order-aware, sequential; the hybrid: convolutions shorten
the sequence, a GRU reads what is left). Starts from the ``imdb-smoke`` recipe and widens
it (``--train``, ``--tokens``); each run is one ``seqlab.train`` call, one after another
in this process; prints a Markdown table from each run's summary.json.

    OMP_NUM_THREADS=1 SEQLAB_DATA_DIR=../shared/datasets python benchmarks/imdb_encoders.py \
        [--train 4000 --eval 1000 --tokens 200 --epochs 3] [--out runs/bench-imdb-encoders]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import seqlab

# What each encoder changes in the shared recipe; everything else is the same for all.
ENCODERS = {
    "conv": ["model.encoder=conv", "model.conv_channels=64", "model.conv_kernel_size=5", "model.conv_layers=2",
             "model.conv_pool=2", "model.pooling=max", "model.bidirectional=false"],
    "lstm": ["model.encoder=lstm", "model.bidirectional=true", "model.pooling=mean"],
    "gru": ["model.encoder=gru", "model.bidirectional=true", "model.pooling=mean"],
    "conv+gru": ["model.encoder=conv+gru", "model.conv_channels=64", "model.conv_kernel_size=5",
                 "model.conv_layers=1", "model.conv_pool=2", "model.bidirectional=true", "model.pooling=mean"],
    "transformer": ["model.encoder=transformer", "model.num_layers=2", "model.num_heads=4", "model.ff_size=128",
                    "model.pooling=mean", "model.bidirectional=false", "train.lr=0.001"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="training reviews (data.limit_train)")
    parser.add_argument("--eval", type=int, default=1000, help="valid and test reviews each (data.limit_eval)")
    parser.add_argument("--tokens", type=int, default=200, help="each review cut to its first N word tokens")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-imdb-encoders"))
    args = parser.parse_args()
    shared = [f"data.limit_train={args.train}", f"data.limit_eval={args.eval}",
              f"data.max_tokens_per_example={args.tokens}", f"train.epochs={args.epochs}",
              "model.embedding_dim=64", "model.hidden_size=64", "train.bucket=true", "train.batch_size=32"]
    print("| encoder | test accuracy | valid accuracy (best epoch) | parameters | wall s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in args.encoders:
        out = args.out / f"{name.replace('+', '-')}-{time.strftime('%H%M%S')}"
        start = time.perf_counter()
        run = seqlab.train("imdb-smoke", [*shared, *ENCODERS[name]], out=out)
        wall = time.perf_counter() - start
        summary = json.loads((Path(run) / "summary.json").read_text())
        print(f"| {name} | {summary['test']['accuracy']:.4f} | {summary['valid']['accuracy']:.4f} "
              f"| {summary['num_parameters']:,} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
