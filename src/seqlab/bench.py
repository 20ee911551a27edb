"""Side-by-side speed of recurrent layers: torch.nn, seqlab's backends and Keras 3.

A benchmark is a grid of layer configurations (:class:`LayerConfig`: cell, batch, length,
sizes, layers, direction, recurrent dropout, layer norm, dtype, training or inference)
and a list of contenders, all timed in one process:

- ``torch.nn``: ``torch.nn.LSTM / GRU / RNN`` (cuDNN on a GPU, oneDNN on the CPU), the peer
  every ratio is taken against;
- ``reference``, ``native``, ``fused``, ``auto``, ``triton``: ``seqlab.nn``'s layers with that
  ``backend=``, called as users call them;
- ``keras``: Keras 3 on the JAX backend (:func:`keras_contender`), only when ``keras`` and
  ``jax`` are importable. They are not seqlab dependencies; install them for the benchmark
  alone with ``pip install keras jax`` (``pip install "jax[cuda12]"`` on a GPU machine) and
  run with ``KERAS_BACKEND=jax``.

A contender that cannot run a configuration (torch.nn with recurrent dropout, the fused
CPU loop on a GPU, a backend that is not installed) gives a row marked ``n/a`` with the
reason, taken from the error the layer raised.

Timing: every contender runs ``warmup`` calls, then ``repeats`` rounds in which each
contender in turn runs one untimed call and ``iters`` timed ones, so drift on a shared
machine hits all alike and no contender is timed on the caches another left; the
figure is the median over rounds of the time per call, measured with CUDA events on a
GPU and ``time.perf_counter`` on the CPU (or, with ``clock="process"``, the process's
CPU time, which on a shared CPU leaves out the time other processes held the cores). A
training call is forward, ``loss = output.sum()``, backward and one plain SGD step
(Keras's ``train_on_batch`` does the same with its SGD); an inference call is the
forward pass in eval mode without autograd.

Reported per row: tokens/s (B·T per call), milliseconds per call, the ratio of tokens/s
to torch.nn's on the same configuration, peak memory (``torch.cuda.max_memory_allocated``
over one call on a GPU; ``n/a`` on the CPU, where torch's allocator is invisible to
tracemalloc and the process's peak RSS is a high-water mark shared by all contenders),
and the share of the device's matmul peak: the layer's matrix-product FLOPs
(:func:`layer_flops`) per second over those of one large matmul at the same dtype, the
fastest of a few measured once at the start (:func:`~seqlab.bench_peers.matmul_peak`).
"""

from __future__ import annotations

import itertools
import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from seqlab.bench_peers import DTYPES, build_call, interleaved, matmul_peak, peak_memory
from seqlab.errors import ConfigError

CELLS = ("lstm", "gru", "rnn")
MODES = ("train", "infer")
CONTENDERS = ("torch.nn", "reference", "native", "fused", "auto", "triton", "keras")
DEFAULT_CONTENDERS = ("torch.nn", "reference", "fused", "auto", "triton")
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_DTYPE_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}


@dataclass(frozen=True)
class LayerConfig:
    """One benchmarked layer: a recurrent layer called on a (B, T, input_size) batch."""

    cell: str = "lstm"  # lstm | gru | rnn
    batch: int = 32  # B, sequences per call
    steps: int = 100  # T, time steps per sequence
    input_size: int = 128  # features of each input step
    hidden_size: int = 256  # H
    num_layers: int = 1  # stacked layers
    bidirectional: bool = False  # two directions per layer
    recurrent_dropout: float = 0.0  # variational dropout on the recurrent state (training only)
    layer_norm: bool = False  # layer norm of each gate's pre-activation
    dtype: str = "float32"  # float32 | float16 | bfloat16 | float64
    mode: str = "train"  # train (forward + backward + SGD step) | infer (forward, no autograd)

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, CELLS)
        _check_choice("mode", self.mode, MODES)
        _check_choice("dtype", self.dtype, tuple(DTYPES))
        for name in ("batch", "steps", "input_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"bench: {name} must be a positive integer, got {value!r}")
        for name in ("bidirectional", "layer_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"bench: {name} must be true or false, got {getattr(self, name)!r}")
        p = self.recurrent_dropout
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ConfigError(f"bench: recurrent_dropout must be a number in [0, 1), got {p!r}")

    @property
    def tokens(self) -> int:
        """Tokens per call, B·T."""
        return self.batch * self.steps

    def label(self) -> str:
        """A short name for tables: ``lstm train B=32 T=100 I=128 H=256 fp32``."""
        parts = [self.cell, self.mode, f"B={self.batch}", f"T={self.steps}", f"I={self.input_size}"]
        parts.append(f"H={self.hidden_size}")
        if self.num_layers > 1:
            parts.append(f"L={self.num_layers}")
        if self.bidirectional:
            parts.append("bi")
        if self.recurrent_dropout:
            parts.append(f"rd={self.recurrent_dropout:g}")
        if self.layer_norm:
            parts.append("ln")
        parts.append(_DTYPE_SHORT[self.dtype])
        return " ".join(parts)


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"bench: {name} must be one of {', '.join(choices)}; got {value!r}")


_CPU = {"batch": 32, "steps": 100, "input_size": 128, "hidden_size": 256}
_H100 = {"batch": 64, "steps": 256, "input_size": 512, "hidden_size": 512, "num_layers": 2, "dtype": "float16"}
_STREAM = {"steps": 512, "input_size": 512, "hidden_size": 512, "dtype": "float16", "mode": "infer"}

# Named grids. cpu-small is the speed issue's CPU shape; h100 its GPU table; tiny a smoke test.
PRESETS: dict[str, tuple[LayerConfig, ...]] = {
    "tiny": (
        LayerConfig(batch=4, steps=6, input_size=8, hidden_size=16),
        LayerConfig(batch=4, steps=6, input_size=8, hidden_size=16, mode="infer"),
    ),
    "cpu-small": (
        LayerConfig(**_CPU),
        LayerConfig(**_CPU, mode="infer"),
        LayerConfig(**_CPU, recurrent_dropout=0.25),
        LayerConfig(**_CPU, cell="gru"),
        LayerConfig(**_CPU, cell="gru", mode="infer"),
    ),
    "h100": (
        LayerConfig(**_H100),
        LayerConfig(**_H100, mode="infer"),
        LayerConfig(**_H100, recurrent_dropout=0.25),
        LayerConfig(**_H100, layer_norm=True),
        LayerConfig(**{**_H100, "dtype": "float32"}),
        LayerConfig(**{**_H100, "dtype": "float32"}, recurrent_dropout=0.25),
        LayerConfig(**_STREAM, batch=1),
        LayerConfig(**_STREAM, batch=8),
    ),
}


# -- the grid ---------------------------------------------------------------------------

_FIELDS = {f.name: f.type for f in fields(LayerConfig)}


def expand_grid(spec: dict) -> list[LayerConfig]:
    """Every combination of a {field: value or list of values} mapping, as LayerConfigs.

    Fields left out keep LayerConfig's defaults. Unknown fields and bad values raise
    ConfigError naming the field.
    """
    import difflib

    if not isinstance(spec, dict):
        raise ConfigError(f"bench: a grid must be a mapping of field to value(s), got {type(spec).__name__}")
    for key in spec:
        if key not in _FIELDS:
            close = difflib.get_close_matches(str(key), _FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(_FIELDS)}"
            raise ConfigError(f"bench: unknown grid field {key!r}{hint}")
    keys = list(spec)
    values = [v if isinstance(v, list) else [v] for v in spec.values()]
    for key, options in zip(keys, values):
        if not options:
            raise ConfigError(f"bench: grid field {key!r} has an empty list of values")
    return [LayerConfig(**dict(zip(keys, combo))) for combo in itertools.product(*values)]


def load_grid(path: str | Path) -> list[LayerConfig]:
    """Read a YAML grid: one {field: value(s)} mapping, or a list of them (each expanded).

    Example::

        - {cell: [lstm, gru], batch: 32, steps: 100, mode: [train, infer]}
        - {cell: lstm, recurrent_dropout: 0.25}
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"bench: grid file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"bench: {path} is not valid YAML: {err}") from None
    blocks = data if isinstance(data, list) else [data]
    configs = []
    for number, block in enumerate(blocks, 1):
        try:
            configs += expand_grid(block)
        except ConfigError as err:
            raise ConfigError(f"{err} (in {path}, grid {number})") from None
    if not configs:
        raise ConfigError(f"bench: {path} holds no grid")
    return configs


def parse_contenders(names: str | list[str]) -> tuple[str, ...]:
    """'torch.nn,auto' -> ('torch.nn', 'auto'); torch.nn always comes first (the peer)."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    items = [n for n in items if n]
    for name in items:
        _check_choice("contender", name, CONTENDERS)
    if not items:
        raise ConfigError("bench: name at least one contender")
    ordered = ["torch.nn"] + [n for n in dict.fromkeys(items) if n != "torch.nn"]
    return tuple(ordered)


# -- FLOPs ----------------------------------------------------------


def layer_flops(config: LayerConfig) -> int:
    """Matrix-product FLOPs of one call (elementwise gate math left out).

    Each layer l and direction multiplies the gate pre-activations of all T steps,
    G·H wide (G = 4 LSTM, 3 GRU, 1 RNN), by the input (width I_l) and the state (H)::

        F_forward = Σ_l  D · 2 · B · T · G · H · (I_l + H),   I_0 = I, I_l = D·H for l > 0

    with D = 2 if bidirectional else 1. Training adds the backward, which takes two
    products of the same size per forward product (gradients of the inputs and of the
    weights): F_train = 3 · F_forward. Layer norm and dropout add no products.
    """
    c = config
    directions = 2 if c.bidirectional else 1
    gates = _GATES[c.cell]
    total = 0
    for layer in range(c.num_layers):
        width_in = c.input_size if layer == 0 else directions * c.hidden_size
        total += directions * 2 * c.batch * c.steps * gates * c.hidden_size * (width_in + c.hidden_size)
    return 3 * total if c.mode == "train" else total


# -- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """How each configuration is timed (the CLI's flags; defaults live here)."""

    warmup: int = 2  # untimed calls of each contender first
    repeats: int = 5  # interleaved rounds; the figure is their median
    iters: int = 2  # calls per contender per round
    matmul_size: int | None = None  # side of the peak matmul; None: 8192 on a GPU, 1024 on the CPU
    clock: str = "wall"  # wall (perf_counter / CUDA events) | process (CPU time; CPU only, for shared machines)

    def __post_init__(self) -> None:
        for name in ("warmup", "repeats", "iters"):
            value = getattr(self, name)
            low = 0 if name == "warmup" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"bench: {name} must be an integer >= {low}, got {value!r}")
        _check_choice("clock", self.clock, ("wall", "process"))
        if self.matmul_size is not None and (not isinstance(self.matmul_size, int) or self.matmul_size < 1):
            raise ConfigError(f"bench: matmul_size must be a positive integer, got {self.matmul_size!r}")


def resolve_device(name: str | None) -> torch.device:
    """'cpu', 'cuda' or None (the GPU when there is one); a GPU asked for but absent is an error."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"bench: device must be cpu or cuda, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"bench: device {name!r} asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def machine_info(device: torch.device) -> dict:
    info = {
        "device": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "onednn": torch.backends.mkldnn.is_available(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def run_bench(
    configs: list[LayerConfig],
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS,
    device: torch.device | None = None,
    settings: BenchSettings = BenchSettings(),
    log: Callable[[str], None] | None = None,
) -> dict:
    """Time every contender on every configuration; returns the JSON-ready report.

    The report holds ``machine``, ``settings``, ``matmul_peak`` (FLOP/s per dtype) and
    ``results``: one row per (configuration, contender) with ``status`` "ok" or "n/a"
    (then ``reason``), ``seconds``, ``tokens_per_s``, ``vs_torch_nn``, ``peak_memory_bytes``,
    ``flops`` and ``matmul_peak_share``.
    """
    import gc

    device = device or resolve_device(None)
    if settings.clock == "process" and device.type != "cpu":
        raise ConfigError("bench: clock 'process' (CPU time) measures the CPU only; use the wall clock on a GPU")
    contenders = parse_contenders(contenders)
    log = log or (lambda _: None)
    peaks = {}
    for dtype in dict.fromkeys(c.dtype for c in configs):
        peaks[dtype] = matmul_peak(device, DTYPES[dtype], settings.matmul_size, clock=settings.clock)
        log(f"matmul peak {dtype}: {peaks[dtype] / 1e9:,.1f} GFLOP/s")
    results = []
    for config in configs:
        calls, reasons = {}, {}
        for name in contenders:
            try:
                calls[name] = build_call(config, name, device)
            except (ValueError, TypeError, RuntimeError, NotImplementedError, ImportError) as err:
                reasons[name] = str(err).splitlines()[0] if str(err) else type(err).__name__
        seconds = interleaved(calls, device, settings.warmup, settings.repeats, settings.iters, settings.clock)
        flops = layer_flops(config)
        for name in contenders:
            row = {"config": asdict(config), "label": config.label(), "contender": name, "flops": flops}
            if name in reasons:
                results.append({**row, "status": "n/a", "reason": reasons[name]})
                log(f"{config.label()} | {name}: n/a ({reasons[name]})")
                continue
            s = seconds[name]
            peer = seconds.get("torch.nn")
            row.update(
                status="ok",
                seconds=s,
                tokens_per_s=config.tokens / s,
                vs_torch_nn=None if peer is None else peer / s,
                peak_memory_bytes=None if calls[name].host_clock else peak_memory(calls[name].run, device),
                matmul_peak_share=flops / s / peaks[config.dtype],
            )
            results.append(row)
            log(f"{config.label()} | {name}: {config.tokens / s:,.0f} tokens/s")
        del calls
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {
        "machine": machine_info(device),
        "settings": asdict(settings),
        "contenders": list(contenders),
        "matmul_peak": peaks,
        "results": results,
    }


# -- reports --------------------------------------------------------------------------------


def to_markdown(report: dict) -> str:
    """The report as a Markdown table, one row per (configuration, contender), with a header line."""
    m, s = report["machine"], report["settings"]
    where = m.get("gpu") or f"CPU ({m['cpu']}), {m['threads']} thread{'s' if m['threads'] != 1 else ''}"
    peaks = ", ".join(f"{d} {p / 1e9:,.0f} GFLOP/s" for d, p in report["matmul_peak"].items())
    lines = [
        (
            f"{where}; torch {m['torch']}; {'CPU time' if s['clock'] == 'process' else 'wall clock'}, "
            f"median of {s['repeats']} interleaved rounds × {s['iters']} calls "
            f"after {s['warmup']} warm-up calls; matmul peak {peaks}."
        ),
        "",
        "| config | contender | tokens/s | ms/call | vs torch.nn | peak MiB | % matmul peak | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report["results"]:
        head = f"| {row['label']} | {row['contender']} |"
        if row["status"] != "ok":
            lines.append(f"{head} n/a | | | | | {row['reason'].replace('|', '/')} |")
            continue
        ratio = "" if row["vs_torch_nn"] is None else f"{row['vs_torch_nn']:.2f}×"
        memory = "n/a" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**20:,.0f}"
        lines.append(
            f"{head} {row['tokens_per_s']:,.0f} | {row['seconds'] * 1e3:.2f} | {ratio} | {memory} "
            f"| {100 * row['matmul_peak_share']:.1f}% | |"
        )
    return "\n".join(lines) + "\n"


def write_report(report: dict, json_path: str | Path | None = None, markdown_path: str | Path | None = None) -> None:
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    if markdown_path:
        Path(markdown_path).write_text(to_markdown(report))


def configs_from(
    preset: str | None = None, grid: str | Path | None = None, flags: dict | None = None
) -> list[LayerConfig]:
    """The configurations to run: a preset, a YAML grid file, or a grid from flags.

    ``flags`` maps LayerConfig fields to a value or list of values; with a preset or a
    grid file they override those configurations' fields (each combination applied).
    """
    if preset is not None and grid is not None:
        raise ConfigError("bench: give --preset or --grid, not both")
    flags = flags or {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"bench: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        base = list(PRESETS[preset])
    elif grid is not None:
        base = load_grid(grid)
    else:
        return expand_grid(flags)
    if not flags:
        return base
    overrides = expand_grid(flags)  # validates the fields
    changed = [{k: getattr(o, k) for k in flags} for o in overrides]
    return list(dict.fromkeys(replace(c, **change) for c in base for change in changed))
