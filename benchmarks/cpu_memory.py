"""Resident memory of repeated CPU inference at varying lengths: seqlab's fused loop vs torch.nn.

A 2-layer BiLSTM (128 units) reads 100 batches of 64 random sequences, each batch of a
random length in [50, 800] (uneven lengths inside it), under ``no_grad``, on one thread;
every 25 calls it prints the peak and the current resident size. ``trim`` calls glibc's
``malloc_trim(0)`` before each print (memory freed but kept by the allocator is returned).

    python benchmarks/cpu_memory.py fused            # seqlab.nn.LSTM(backend="fused")
    python benchmarks/cpu_memory.py torch            # torch.nn.LSTM
    python benchmarks/cpu_memory.py fused trim
    MALLOC_MMAP_THRESHOLD_=1048576 python benchmarks/cpu_memory.py fused
"""

import random
import resource
import sys

import torch

from seqlab.nn import LSTM
from seqlab.training.passes import trim_heap


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    backend, trim = sys.argv[1], "trim" in sys.argv[2:]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if backend == "torch":
        lstm = torch.nn.LSTM(128, 128, num_layers=2, batch_first=True, bidirectional=True).eval()
    else:
        lstm = LSTM(128, 128, num_layers=2, batch_first=True, bidirectional=True, backend=backend).eval()
    random.seed(0)
    with torch.no_grad():
        for i in range(100):
            steps = random.randint(50, 800)
            x = torch.randn(64, steps, 128)
            lengths = torch.randint(steps // 2, steps + 1, (64,))
            lengths[0] = steps
            lstm(x) if backend == "torch" else lstm(x, lengths=lengths)
            if i % 25 == 24:
                if trim:
                    trim_heap(torch.device("cpu"))  # glibc's malloc_trim(0), as training does
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{backend} call {i + 1}: peak RSS {peak:.0f} MiB, now {resident_mib():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
