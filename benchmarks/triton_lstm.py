"""GPU speed of seqlab's Triton LSTM and GRU kernels against cuDNN and the reference backend.

Needs a CUDA GPU and triton. First checks the kernels on this GPU (compiled, not the
interpreter): ``backend="triton"`` against ``backend="reference"`` with the same
recurrent-dropout masks and layer-norm gains, forward and gradients, in float32 and in
the benchmark dtype. Then times, in one process with the contenders interleaved, after
warm-up, with CUDA events, the median of ``--repeats`` runs:

- training (forward + backward of every parameter, no optimizer), B=64 T=256 I=H=512,
  2 layers, LSTM then GRU: torch.nn's layer (cuDNN) without dropout; seqlab's reference
  and triton backends with ``recurrent_dropout=0.25``, with ``layer_norm=True``, and
  without either;
- inference (eval, no gradients), T=512 I=H=512, 1 layer, B=1 and B=8: torch.nn.LSTM
  (cuDNN) and seqlab's triton backend (the persistent kernel of seqlab.kernels.triton_infer;
  with layer norm the batch-block kernel).

Prints Markdown tables (tokens/s = B*T per run, ms per run, ratio to cuDNN) and writes
them with the raw medians as JSON.

    python benchmarks/triton_lstm.py [--dtype float16] [--repeats 10] [--json triton_lstm.json]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from seqlab import nn as snn

TRAIN = {"batch": 64, "steps": 256, "size": 512, "layers": 2}
INFER = [{"batch": 1, "steps": 512, "size": 512}, {"batch": 8, "steps": 512, "size": 512}]
PEER = "torch.nn (cuDNN)"
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def check(dtype: torch.dtype, tol: float) -> list[str]:
    """Triton vs reference on this GPU, per variant: the largest difference of the output and
    of each parameter's gradient, relative to that tensor's largest entry."""
    lines = []
    for kwargs in (
        {},
        {"recurrent_dropout": 0.25},
        {"layer_norm": True},
        {"recurrent_dropout": 0.25, "layer_norm": True},
    ):
        for cls in (snn.LSTM, snn.GRU):
            torch.manual_seed(0)
            reference = cls(24, 40, 2, bidirectional=True, backend="reference", **kwargs).cuda().to(dtype)
            triton = cls(24, 40, 2, bidirectional=True, backend="triton", **kwargs).cuda().to(dtype)
            triton.load_state_dict(reference.state_dict())
            x = torch.randn(7, 20, 24, device="cuda", dtype=dtype)
            results = []
            for layer in (reference, triton):
                torch.manual_seed(1)
                out, _ = layer(x)
                results.append([out] + list(torch.autograd.grad(out.float().pow(2).sum(), list(layer.parameters()))))
            worst = max(
                float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-6))
                for b, a in zip(*results)
            )
            verdict = "ok" if worst <= tol else f"FAILS (> {tol})"
            lines.append(f"{cls.__name__} {kwargs or 'plain'} {dtype}: max relative difference {worst:.2e} {verdict}")
    return lines + check_inference(dtype, tol)


def check_inference(dtype: torch.dtype, tol: float) -> list[str]:
    """The inference kernels (eval, no gradients) at H=512: B=1 and 8 run the persistent
    kernel (32 programs and their grid barrier), B=20 and layer norm the batch-block one."""
    lines = []
    for batch, layer_norm in [(1, False), (8, False), (20, False), (8, True)]:
        torch.manual_seed(0)
        reference = snn.LSTM(64, 512, layer_norm=layer_norm, backend="reference").cuda().to(dtype).eval()
        triton = snn.LSTM(64, 512, layer_norm=layer_norm, backend="triton").cuda().to(dtype).eval()
        triton.load_state_dict(reference.state_dict())
        x = torch.randn(40, batch, 64, device="cuda", dtype=dtype)
        lengths = torch.randint(1, 41, (batch,)) if batch > 1 else None
        with torch.no_grad():
            (out_r, (h_r, c_r)), (out_t, (h_t, c_t)) = reference(x, lengths=lengths), triton(x, lengths=lengths)
        worst = max(
            float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-6))
            for a, b in [(out_t, out_r), (h_t, h_r), (c_t, c_r)]
        )
        verdict = "ok" if worst <= tol else f"FAILS (> {tol})"
        name = f"LSTM inference B={batch} H=512 layer_norm={layer_norm} {dtype}"
        lines.append(f"{name}: max relative difference {worst:.2e} {verdict}")
    return lines


def time_cuda(fn, repeats: int, warmup: int = 3) -> list[float]:
    """Seconds per call of each repeat, by CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return times


def train_step(layer: torch.nn.Module, x: torch.Tensor):
    def step():
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        out.float().pow(2).mean().backward()

    return step


def infer_step(layer: torch.nn.Module, x: torch.Tensor):
    def step():
        with torch.no_grad():
            layer(x)

    return step


def interleaved(contenders: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each contender, one repeat of each in turn."""
    for fn in contenders.values():
        time_cuda(fn, 1)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name] += time_cuda(fn, 1, warmup=0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def training(cell: str, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """cell: "LSTM" or "GRU"; torch.nn's layer against seqlab's reference and triton backends."""
    b, t, size, layers = TRAIN["batch"], TRAIN["steps"], TRAIN["size"], TRAIN["layers"]
    x = torch.randn(t, b, size, device="cuda", dtype=dtype)

    def make(**kwargs):
        return getattr(snn, cell)(size, size, layers, **kwargs).cuda().to(dtype).train()

    peer = getattr(torch.nn, cell)(size, size, layers).cuda().to(dtype)
    contenders = {PEER: train_step(peer, x)}
    for label, kwargs in [
        ("recurrent_dropout=0.25", {"recurrent_dropout": 0.25}),
        ("layer_norm", {"layer_norm": True}),
        ("plain", {}),
    ]:
        for backend in ("reference", "triton"):
            contenders[f"seqlab {backend}, {label}"] = train_step(make(backend=backend, **kwargs), x)
    return interleaved(contenders, repeats)


def inference(dtype: torch.dtype, repeats: int, batch: int, steps: int, size: int) -> dict[str, float]:
    x = torch.randn(steps, batch, size, device="cuda", dtype=dtype)
    contenders = {
        PEER: infer_step(torch.nn.LSTM(size, size).cuda().to(dtype).eval(), x),
        "seqlab triton": infer_step(snn.LSTM(size, size, backend="triton").cuda().to(dtype).eval(), x),
        "seqlab triton, layer_norm": infer_step(
            snn.LSTM(size, size, layer_norm=True, backend="triton").cuda().to(dtype).eval(), x
        ),
    }
    return interleaved(contenders, repeats)


def table(title: str, medians: dict[str, float], tokens: int) -> str:
    peer = medians[PEER]
    rows = [f"| {title} | tokens/s | ms | vs cuDNN |", "| --- | ---: | ---: | ---: |"]
    for name, seconds in medians.items():
        rows.append(f"| {name} | {tokens / seconds:,.0f} | {seconds * 1e3:.2f} | {peer / seconds:.2f}× |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float16")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", default="triton_lstm.json", help="where to write the medians")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/triton_lstm.py needs a CUDA GPU")
    dtype = DTYPES[args.dtype]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    for line in check(torch.float32, tol=1e-4) + check(dtype, tol=3e-2 if dtype != torch.float32 else 1e-4):
        print(line)
    results = {"dtype": args.dtype, "device": torch.cuda.get_device_name()}
    results["training"] = {"shape": TRAIN}
    for cell in ("LSTM", "GRU"):
        train = training(cell, dtype, args.repeats)
        results["training"][cell] = train
        print(
            f"\nTraining, {cell} B={TRAIN['batch']} T={TRAIN['steps']} I=H={TRAIN['size']}, {TRAIN['layers']} layers, "
            f"{args.dtype}, median of {args.repeats}\n"
        )
        print(table(cell, train, TRAIN["batch"] * TRAIN["steps"]))
    results["inference"] = []
    for shape in INFER:
        medians = inference(dtype, args.repeats, **shape)
        results["inference"].append({"shape": shape, "seconds": medians})
        print(
            f"\nInference, LSTM B={shape['batch']} T={shape['steps']} I=H={shape['size']}, 1 layer, {args.dtype}, "
            f"median of {args.repeats} (µs per step: cuDNN "
            f"{medians[PEER] / shape['steps'] * 1e6:.1f}, triton "
            f"{medians['seqlab triton'] / shape['steps'] * 1e6:.1f})\n"
        )
        print(table("layer", medians, shape["batch"] * shape["steps"]))
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
