"""Training throughput of a seq2seq recipe on this machine: N shuffled batches, timed.

    python benchmarks/seq2seq_epoch.py multi30k-lstm --batches 100
    python benchmarks/seq2seq_epoch.py multi30k-lstm --batches 100 --set model.input_feeding=false

Times forward + backward + AdamW step (train_step of the loop) over the first N batches
of a seeded shuffle of the recipe's training split, after 3 warm-up batches, and prints
target tokens/s, ms per batch and the epoch time it implies (batches per epoch × ms).
With input feeding the decoder steps through the target in Python; without it the
decoder runs over the whole target in one call.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import torch

from seqlab import config
from seqlab.tasks import get_task
from seqlab.training.loop import batches, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = config.resolve(args.recipe, args.overrides)
    task = get_task(cfg.task)
    torch.manual_seed(cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = task.load_data(cfg)
    model = task.build_model(cfg, data).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    stream = batches(data.train, cfg.train.batch_size, task.collate, torch.Generator().manual_seed(0))
    for _ in range(3):
        train_step(model, optimizer, next(stream), cfg.train.clip_norm)
    tokens, start = 0, time.perf_counter()
    for _ in range(args.batches):
        batch = next(stream)
        train_step(model, optimizer, batch, cfg.train.clip_norm)
        tokens += batch.num_tokens
    wall = time.perf_counter() - start
    per_epoch = math.ceil(len(data.train) / cfg.train.batch_size)
    print(f"{args.recipe} {' '.join(args.overrides)}: {args.batches} batches of {cfg.train.batch_size}, "
          f"{torch.get_num_threads()} threads, {sum(p.numel() for p in model.parameters()):,} parameters")
    print(f"  {tokens / wall:,.0f} target tokens/s, {1000 * wall / args.batches:.0f} ms/batch, "
          f"epoch of {per_epoch} batches ~ {per_epoch * wall / args.batches / 60:.1f} min (wall {wall:.0f} s)")


if __name__ == "__main__":
    main()
