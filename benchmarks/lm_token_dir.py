"""Memory and time of an lm's data: token ids in memory against ``data.token_dir`` files.

Writes a plain-text corpus of the IMDB reviews (train then test, one review a line,
``--copies`` times over), then, each in a fresh process so that its peak resident size is
its own: ``lm.load_data`` with the ids held in memory; with ``data.token_dir`` (tokenizing
into the files); with the files already made (mapping them); and, for each, one pass over
an epoch's training windows as the loop reads them (batch 64, bptt 128). Prints a Markdown
table: seconds and peak RSS (``ru_maxrss``) of each.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/lm_token_dir.py [--copies 2] [--tokenizer word]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import torch
from seqlab import config
from seqlab.tasks import lm
cfg = config.from_dict(json.loads(sys.argv[1]))
start = time.perf_counter()
data = lm.load_data(cfg)
loaded = time.perf_counter() - start
windows = lm.train_windows(data.train, cfg.train.batch_size, torch.Generator().manual_seed(0))
total = 0
for window in windows:
    total += int(window.inputs[:, -1].sum())  # touch every window
print(json.dumps({"load_s": loaded, "epoch_s": time.perf_counter() - start - loaded, "windows": len(windows),
                  "tokens": len(data.train) + len(data.valid) + len(data.test), "vocab": len(data.vocab),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_corpus(path: Path, copies: int) -> int:
    from seqlab.data import registry

    reviews = [text for split in ("train", "test") for text, _ in registry.load("imdb", split)]
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(copies):
            for text in reviews:
                out.write(text.replace("\n", " ") + "\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2, help="the reviews this many times over")
    parser.add_argument("--tokenizer", default="word", choices=["char", "word", "bpe"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        size = write_corpus(corpus, args.copies)
        base = {"task": "lm", "data": {"name": None, "format": "text", "train": str(corpus),
                                       "tokenizer": args.tokenizer, "min_freq": 5, "bptt": 128},
                "train": {"batch_size": 64}}
        mapped = {**base, "data": {**base["data"], "token_dir": str(Path(tmp) / "tokens")}}
        rows = []
        for label, cfg in (("ids in memory", base), ("data.token_dir, tokenizing", mapped),
                           ("data.token_dir, files made", mapped)):
            done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True,
                                  check=True)
            rows.append((label, json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"corpus: {size / 2**20:,.0f} MiB of text ({args.copies} x the IMDB reviews), {args.tokenizer} tokens, "
          f"{rows[0][1]['tokens']:,} tokens, vocabulary {rows[0][1]['vocab']:,}\n")
    print("| data | load s | one epoch of windows s | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: |")
    for label, r in rows:
        print(f"| {label} | {r['load_s']:.1f} | {r['epoch_s']:.2f} | {r['rss_mib']:,.0f} |")


if __name__ == "__main__":
    main()
