"""A classify run's exported ONNX graph in onnxruntime beside the same model in torch.

    python benchmarks/onnx_speed.py RUN [--batch 1,32] [--length 40] [--repeats 50]

Exports RUN (``seqlab.export.export_onnx``, into a temporary folder), then for each batch
size alternates the two on the same padded batch of random token ids, all of length
``--length``: torch (``softmax(model(tokens, lengths))`` under ``no_grad``, the bundle's own
path, which takes torch's packed layer on the CPU) and onnxruntime (one session, default
options). Prints median milliseconds per call, texts/s, the ratio, and the largest
difference between their probabilities. torch and onnxruntime each use
``--threads`` intra-op threads (default 1).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import onnxruntime as ort
import torch

import seqlab
from seqlab.export import export_onnx


def alternating_ms(calls, repeats: int) -> list[float]:
    """Median milliseconds of each call, the calls taking turns (so load drifts hit all alike)."""
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, spent in zip(calls, times):
            start = time.perf_counter()
            call()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) * 1e3 for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--batch", default="1,32", help="texts per call, comma-separated")
    parser.add_argument("--length", type=int, default=40, help="tokens per text")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clf = seqlab.load(args.run)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = export_onnx(args.run, Path(folder) / "model.onnx")
        exported = time.perf_counter() - start
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    print(f"run {args.run}; export {exported:.1f} s; {args.threads} thread(s); texts of {args.length} tokens; "
          f"median of {args.repeats}\n")
    print("| texts per call | torch ms | onnxruntime ms | torch / onnxruntime | onnxruntime texts/s | max diff |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    vocab = clf.model.embedding.num_embeddings
    for batch in (int(b) for b in args.batch.split(",")):
        tokens = torch.randint(1, vocab, (batch, args.length), generator=torch.Generator().manual_seed(batch))
        lengths = torch.full((batch,), args.length)
        feed = {"tokens": tokens.numpy(), "lengths": lengths.numpy()}

        def run_torch(tokens=tokens, lengths=lengths):
            with torch.no_grad():
                return torch.softmax(clf.model(tokens, lengths), dim=-1)

        def run_onnx(feed=feed):
            return session.run(None, feed)[0]

        for _ in range(3):
            run_torch(), run_onnx()
        a, b = alternating_ms([run_torch, run_onnx], args.repeats)
        diff = (run_torch() - torch.from_numpy(run_onnx())).abs().max().item()
        print(f"| {batch} | {a:.2f} | {b:.2f} | {a / b:.2f}× | {batch / b * 1e3:,.0f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
