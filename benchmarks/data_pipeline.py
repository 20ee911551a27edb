"""Data pipeline speed and memory: IMDB into encoded tensors, and a large file streamed.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/data_pipeline.py imdb
    python benchmarks/data_pipeline.py stream --gb 1.0 [--path /tmp/seqlab-stream.txt]

`imdb` loads the 25k/25k reviews, word-tokenizes them (lower-cased), builds the
vocabulary from train only (min_freq 2) and encodes both splits into one flat int32
tensor per split plus offsets, printing the seconds of each stage.

`stream` writes a generated text file of the given size (once; reused if present), then
streams it line by line through the word tokenizer into token counts (the first pass of a
vocabulary build) and reports the peak resident memory: it must stay bounded whatever
the file's size. Run each mode in its own process so peak RSS belongs to that mode.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from seqlab.data import registry, sources
from seqlab.data.tokenize import WordTokenizer
from seqlab.data.vocab import Vocab


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def encode_split(vocab: Vocab, token_lists: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat (N,) int32 ids and (B + 1,) int64 offsets: example b is ids[offsets[b]:offsets[b+1]]."""
    ids = vocab.encode_corpus(token_lists)
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.int64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
    flat = torch.tensor([i for row in ids for i in row], dtype=torch.int32)
    return flat, offsets


def bench_imdb() -> None:
    stages = {}
    start = time.perf_counter()
    train = list(registry.load("imdb", "train"))
    test = list(registry.load("imdb", "test"))
    stages["read 50k reviews"] = time.perf_counter() - start
    tokenizer = WordTokenizer(lowercase=True)
    mark = time.perf_counter()
    train_tokens = [tokenizer.tokenize(text) for text, _ in train]
    test_tokens = [tokenizer.tokenize(text) for text, _ in test]
    stages["word-tokenize"] = time.perf_counter() - mark
    mark = time.perf_counter()
    vocab = Vocab.build(train_tokens, min_freq=2)
    stages["vocabulary (train only)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    train_ids, _ = encode_split(vocab, train_tokens)
    test_ids, _ = encode_split(vocab, test_tokens)
    stages["encode to tensors"] = time.perf_counter() - mark
    total = time.perf_counter() - start
    print(
        f"IMDB: {len(train)} + {len(test)} reviews, {train_ids.numel() + test_ids.numel():,} tokens, "
        f"vocabulary {len(vocab):,} (min_freq 2)"
    )
    for name, seconds in stages.items():
        print(f"  {name:<26} {seconds:6.2f} s")
    print(f"  {'total':<26} {total:6.2f} s   peak RSS {peak_rss_mib():,.0f} MiB")


def write_text_file(path: Path, size_bytes: int, seed: int = 0) -> None:
    """Lines of random words from a 5,000-word made-up lexicon, until the file has size_bytes."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lexicon = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    lines = [" ".join(rng.choice(lexicon) for _ in range(rng.randint(5, 30))) + ".\n" for _ in range(20000)]
    block = "".join(lines).encode()
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "wb") as file:
        written = 0
        while written < size_bytes:
            file.write(block)
            written += len(block)
    tmp.replace(path)


def bench_stream(path: Path, gigabytes: float) -> None:
    size = int(gigabytes * 1e9)
    if not path.exists() or path.stat().st_size < size:
        print(f"writing {gigabytes} GB to {path} ...", file=sys.stderr)
        write_text_file(path, size)
    tokenizer = WordTokenizer(lowercase=True)
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    lines = 0
    for line in sources.read_text(path):
        counts.update(tokenizer.tokenize(line))
        lines += 1
    seconds = time.perf_counter() - start
    size_mb = path.stat().st_size / 1e6
    print(
        f"streamed {size_mb:,.0f} MB ({lines:,} lines, {sum(counts.values()):,} tokens, "
        f"{len(counts):,} types) in {seconds:.1f} s = {size_mb / seconds:.1f} MB/s; peak RSS {peak_rss_mib():,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["imdb", "stream"])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the streamed file (stream mode)")
    parser.add_argument("--path", type=Path, default=Path("/tmp/seqlab-stream.txt"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.mode == "imdb":
        bench_imdb()
    else:
        bench_stream(args.path, args.gb)


if __name__ == "__main__":
    main()
