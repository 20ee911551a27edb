"""What `seqlab serve` adds to a prediction: HTTP + JSON round trips against the bundle's own call.

    python benchmarks/serve_latency.py RUN [--batch 1,32] [--requests 50]

RUN: a finished classify run. The script starts the app on a loopback port (uvicorn, in a
thread of this process), then for each batch size alternates two ways of classifying the
same made-up 12-word texts: the bundle's ``predict`` in this process, and a POST /predict
with httpx over a kept-alive connection. It prints the median milliseconds per call of
each, texts/s, and the difference (what HTTP, JSON and the server's thread hand-off cost),
after the median of a GET /health round trip (HTTP alone, no model). Client and server share
this process and its interpreter lock, so the difference is an upper bound on what a server in
its own process adds. Needs the serve extra and httpx.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

import httpx
import torch
import uvicorn

import seqlab
from seqlab.serve import create_app

WORDS = ["the", "film", "was", "a", "quiet", ",", "moving", "and", "often", "funny", "portrait", "of", "grief",
         "but", "its", "plot", "drags"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts_for(batch: int, seed: int) -> list[str]:
    rng = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (12,), generator=rng)) for _ in range(batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--batch", default="1,32", help="texts per call, comma-separated")
    parser.add_argument("--requests", type=int, default=50, help="calls per way and batch size")
    args = parser.parse_args()
    clf = seqlab.load(args.run)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(clf, max_items=4096), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    print(f"run {args.run}, torch threads {torch.get_num_threads()}, {args.requests} calls per way\n")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        health = []
        for _ in range(args.requests):
            start = time.perf_counter()
            client.get("/health").raise_for_status()
            health.append(time.perf_counter() - start)
        print(f"GET /health round trip (no model): {statistics.median(health) * 1e3:.2f} ms median\n")
        print("| texts per call | in-process ms | HTTP ms | HTTP - in-process ms | in-process texts/s | HTTP texts/s |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for batch in (int(b) for b in args.batch.split(",")):
            texts = texts_for(batch, batch)
            local, remote = [], []
            for _ in range(3):  # warm-up of both ways
                clf.predict(texts)
                client.post("/predict", json={"texts": texts}).raise_for_status()
            for _ in range(args.requests):
                start = time.perf_counter()
                clf.predict(texts)
                local.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.post("/predict", json={"texts": texts}).raise_for_status()
                remote.append(time.perf_counter() - start)
            a, b = statistics.median(local) * 1e3, statistics.median(remote) * 1e3
            print(f"| {batch} | {a:.2f} | {b:.2f} | {b - a:.2f} | {batch / a * 1e3:,.0f} | {batch / b * 1e3:,.0f} |")
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
