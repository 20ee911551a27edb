"""Where a word2vec epoch spends its time: noise draws, windows, and whole single-thread epochs.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/word2vec_parts.py
    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/word2vec_parts.py --corpus imdb --words 500000

On one torch thread, the median of ``--repeats`` rounds:

- noise draws for one step (``--centers`` × 2·K float64 uniforms): searching the cumulative
  unigram^0.75 distribution (``torch.searchsorted``, gensim's way) against seqlab's alias table;
- ``window_chunks`` for one step of ``word2vec.batch_words`` kept words;
- one skip-gram epoch (the recipe's defaults, shared noise words) over the kept words of one
  subsampling draw, in µs per center and corpus words per second;
- with ``--profile``, torch's profiler table of one epoch (self time per operation).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seqlab import config
from seqlab.tasks import word2vec


def median_us(fn, repeats: int, inner: int = 1) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - began) / inner * 1e6)
    return statistics.median(times)


class NoTally:
    """train_epoch's tally, keeping nothing."""

    failed = False

    def add(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="word2vec_lee", choices=word2vec.CORPORA)
    parser.add_argument("--words", type=int, default=0, help="train on the first N kept words only (0: all)")
    parser.add_argument("--dim", type=int, default=100, help="vector size (word2vec_vs_gensim.py's default)")
    parser.add_argument("--centers", type=int, default=1000, help="centers whose noise words one draw makes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {"data.name": args.corpus, "model.embedding_dim": args.dim, "train.device": "cpu"}
    cfg = config.resolve("word2vec-lee", overrides)
    w, data = cfg.word2vec, word2vec.load_data(cfg)
    generator = torch.Generator().manual_seed(0)
    kept = torch.rand(len(data.ids), generator=generator, dtype=torch.float64) < word2vec.keep_probabilities(
        data.counts, w.sample)[data.ids]
    where = kept.nonzero(as_tuple=True)[0]
    if args.words:
        where = where[:args.words]
    ids, lines = data.ids[where], data.lines[where]
    raw_words = data.raw_words * len(where) / int(kept.sum())  # the corpus words these kept words stand for
    print(f"{args.corpus}: {len(data.words):,} words in the vocabulary, {len(ids):,} kept words trained on; "
          f"torch {torch.__version__}, 1 thread")

    weights = data.counts.double() ** 0.75
    cdf = weights.cumsum(0) / weights.sum()
    noise = word2vec.NoiseSampler(data.counts)
    shape = (args.centers, 2 * w.shared_draws * w.negative)
    search = median_us(lambda: torch.searchsorted(cdf, torch.rand(shape, generator=generator, dtype=torch.float64)),
                       args.repeats, 20)
    alias = median_us(lambda: noise.draw(shape, generator), args.repeats, 20)
    print(f"noise draws, {shape[0]} x {shape[1]}: searchsorted {search:.1f} µs, alias table {alias:.1f} µs")

    step = min(w.batch_words, len(ids))
    windows = median_us(lambda: word2vec.window_chunks(ids, lines, 0, step, w.window, True, generator),
                        args.repeats, 20)
    print(f"window_chunks, {step} centers: {windows:.1f} µs")

    model = word2vec.build_model(cfg, data)

    def epoch() -> None:
        word2vec.train_epoch(model, ids, lines, 1, cfg.train.epochs, w, noise, [generator], NoTally())

    epoch()  # warm-up
    seconds = median_us(epoch, args.repeats) / 1e6
    print(f"one epoch: {seconds * 1e3:.1f} ms, {seconds / len(ids) * 1e6:.2f} µs per center, "
          f"{raw_words / seconds:,.0f} corpus words/s")
    if args.profile:
        with torch.profiler.profile() as prof:
            epoch()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
