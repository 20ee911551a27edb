"""word2vec: seqlab's batched-SGD trainer vs gensim on the same corpus and settings.

Both read the same sentences (seqlab's tokenization of the corpus, one line per document),
with the same vector size, window, negatives, min_count, sample, epochs and learning
rates; both with ``--workers`` threads (seqlab's ``word2vec.workers``: Hogwild threads, one
torch thread each), skip-gram noise words shared per center unless ``--per-pair``. Speed is
training words per second: the corpus's words (before the vocabulary cut and subsampling)
times the epochs, over the training time alone (vocabulary building and scoring excluded).
Quality is the accuracy on the Google analogy questions among the 30,000 most frequent
words, scored for both by seqlab's evaluator (gensim's own ``evaluate_word_analogies`` on
gensim's vectors is printed as a cross-check of that evaluator). Needs ``pip install gensim``.

    python benchmarks/word2vec_vs_gensim.py --corpus word2vec_lee --epochs 10
    python benchmarks/word2vec_vs_gensim.py --corpus imdb --epochs 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

import seqlab
from seqlab import config
from seqlab.embeddings import WordVectors
from seqlab.tasks import word2vec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="word2vec_lee", choices=word2vec.CORPORA)
    parser.add_argument("--architecture", default="skipgram", choices=["skipgram", "cbow"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--batch-words", type=int, default=1000, help="seqlab: corpus words per SGD step")
    parser.add_argument("--workers", type=int, default=2, help="worker threads, for gensim and seqlab alike")
    parser.add_argument("--per-pair", action="store_true",
                        help="seqlab: fresh noise words for every pair (word2vec.shared_negatives=false)")
    parser.add_argument("--shared-draws", type=int, default=2,
                        help="seqlab: noise draws per center, as multiples of --negative (word2vec.shared_draws)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="RUN_DIR", help="keep seqlab's run here (a new folder) instead of a temporary one")
    args = parser.parse_args()
    overrides = {"data.name": args.corpus, "data.lowercase": True, "data.min_freq": args.min_count,
                 "model.embedding_dim": args.dim, "train.epochs": args.epochs, "train.device": "cpu",
                 "train.log_every": 100, "seed": args.seed, "word2vec.architecture": args.architecture,
                 "word2vec.window": args.window, "word2vec.negative": args.negative,
                 "word2vec.sample": args.sample, "word2vec.batch_words": args.batch_words,
                 "word2vec.workers": args.workers, "word2vec.shared_negatives": not args.per_pair,
                 "word2vec.shared_draws": args.shared_draws}
    cfg = config.resolve("word2vec-lee", overrides)
    questions = word2vec.analogy_path(cfg.word2vec.analogies)
    print(f"load average {os.getloadavg()}; workers {args.workers} (seqlab: one torch thread each); seqlab noise "
          f"words {'per pair' if args.per_pair else f'shared per center, {args.shared_draws} x {args.negative} draws'}")

    with tempfile.TemporaryDirectory() as tmp:
        run = seqlab.train("word2vec-lee", overrides, out=args.keep or f"{tmp}/run")
        summary = __import__("json").loads((run / "summary.json").read_text())
        ours = WordVectors.from_run(run)
    ours_speed, corpus_words = summary["words_per_s"], summary["corpus_words"]

    import gensim
    from gensim.models import Word2Vec

    lines, _ = word2vec.read_lines(cfg)
    sentences = [word2vec.tokenize(line, True) for line in lines]
    model = Word2Vec(vector_size=args.dim, window=args.window, negative=args.negative, min_count=args.min_count,
                     sample=args.sample, workers=args.workers, sg=int(args.architecture == "skipgram"),
                     seed=args.seed, alpha=cfg.word2vec.alpha, min_alpha=cfg.word2vec.min_alpha)
    model.build_vocab(sentences)
    began = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=args.epochs)
    gensim_time = time.perf_counter() - began
    theirs = WordVectors(list(model.wv.index_to_key), torch.from_numpy(model.wv.vectors))
    gensim_own, _ = model.wv.evaluate_word_analogies(str(questions), restrict_vocab=cfg.word2vec.restrict_vocab)

    scored = {name: v.evaluate_analogies(questions, cfg.word2vec.restrict_vocab) for name, v in
              (("seqlab", ours), (f"gensim {gensim.__version__}", theirs))}
    speeds = {"seqlab": ours_speed, f"gensim {gensim.__version__}": corpus_words * args.epochs / gensim_time}
    print(f"\ncorpus {args.corpus}: {corpus_words:,} words, {len(sentences):,} lines; vocabulary: seqlab "
          f"{len(ours):,}, gensim {len(theirs):,}; {args.architecture}, dim {args.dim}, window {args.window}, "
          f"negative {args.negative}, sample {args.sample}, epochs {args.epochs}\n")
    print("| trainer | words/s | analogy total | semantic | syntactic | answered |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, s in scored.items():
        print(f"| {name} | {speeds[name]:,.0f} | {s['total']:.4f} | {s['semantic']:.4f} | {s['syntactic']:.4f} | "
              f"{s['answered']} |")
    print(f"\nspeed ratio seqlab / gensim: {ours_speed / speeds[f'gensim {gensim.__version__}']:.3f}; "
          f"gensim's own evaluator on gensim's vectors: {gensim_own:.4f}")


if __name__ == "__main__":
    main()
