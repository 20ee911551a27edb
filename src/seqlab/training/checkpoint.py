"""Training checkpoints without pickle: one safetensors file per checkpoint.

A run dir keeps its checkpoints in ``checkpoints/``:

    checkpoints/last.safetensors  the whole training state, rewritten after every epoch
                                  and every ``train.checkpoint_every`` steps
    checkpoints/best.safetensors  the model weights of the best epoch so far (by
                                  ``train.monitor``); plain tensors, like model.safetensors

``last.safetensors`` is a safetensors file whose tensors are

    model/<name>                  the model's state dict
    optimizer/<path>              every tensor of the optimizer's state dict (Adam moments, step)
    scheduler/<path>              any tensor of the lr scheduler's state dict (usually none)
    rng/torch                     torch.get_rng_state(): dropout and anything else drawing from it
    rng/cuda/<i>                  torch.cuda.get_rng_state_all(), when cuda was in use
    rng/shuffle                   the shuffling generator's state at the start of the current epoch
    ranks/<r>/rng/..., ranks/<r>/carried/...
                                  under torchrun: process r's own random state and carried state
                                  (``processes`` in STATE says how many; see training.distributed)

and whose header metadata holds one key, ``seqlab_checkpoint``: the JSON text of
``{"format": 1, "state": STATE}``. STATE holds the rest: format-independent scalars (epoch,
step, the batch index within the epoch, the epoch's running loss sums, the best score so
far, the byte length of metrics.jsonl when it was written, the resolved config and its
sha256) and the optimizer's and scheduler's other state. In STATE a mapping is written
``{"dict": [[key, value], ...]}`` (so integer keys stay integers) and a tensor as
``{"tensor": NAME}``, NAME being its entry in the file.
Reading it needs only ``safetensors.safe_open(path, "pt").metadata()``, and loading a
checkpoint from a stranger runs no code. :func:`open_resume` checks a run dir before a
resume (a checkpoint is there, it was written for the run's config.yaml). Every file is written to a temp file beside its
place and moved there with ``os.replace``, so a killed run leaves the previous checkpoint
whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from seqlab import config as recipes
from seqlab.config import Config
from seqlab.errors import ConfigError

FORMAT = 1  # bump when the layout above changes
METADATA_KEY = "seqlab_checkpoint"
FOLDER = "checkpoints"
LAST = "last.safetensors"
BEST = "best.safetensors"


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, then move it into place, so a
    reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_tensors(tensors: Mapping[str, torch.Tensor], path: Path, metadata: Mapping[str, str] | None = None) -> None:
    """Tensors (moved to the CPU, made contiguous) as safetensors, written atomically."""
    plain = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    write_atomic(path, lambda tmp: save_file(plain, tmp, metadata=dict(metadata) if metadata else None))


def config_hash(config_dict: Mapping[str, Any]) -> str:
    """sha256 of the resolved config as canonical JSON."""
    return hashlib.sha256(json.dumps(config_dict, sort_keys=True).encode("utf-8")).hexdigest()


def save(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` (nested dicts, lists and scalars with tensors anywhere) as one file.

    Tensors become safetensors entries named by their path in ``state`` (``model/embedding.weight``);
    everything else goes, as JSON, into the header metadata.
    """
    tensors: dict[str, torch.Tensor] = {}
    plain = _split(state, "", tensors)
    metadata = {METADATA_KEY: json.dumps({"format": FORMAT, "state": plain})}
    save_tensors(tensors, path, metadata)


def load(path: Path) -> dict[str, Any]:
    """Read a file written by :func:`save`: the same nested state, tensors on the CPU."""
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata() or {}
        if METADATA_KEY not in metadata:
            raise ValueError(f"{path} is not a seqlab training checkpoint (no {METADATA_KEY!r} metadata)")
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (safe_open is no dict)
    stored = json.loads(metadata[METADATA_KEY])
    if stored["format"] != FORMAT:
        raise ValueError(f"{path}: checkpoint format {stored['format']!r}; this seqlab reads format {FORMAT}")
    return _join(stored["state"], tensors)


def _split(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` with every tensor moved into ``tensors`` and replaced by ``{"tensor": key}``."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value
        return {"tensor": path}
    if isinstance(value, Mapping):
        return {"dict": [[key, _split(item, f"{path}/{key}".lstrip("/"), tensors)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_split(item, f"{path}/{i}", tensors) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot store {type(value).__name__} at {path!r}")


def _join(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Undo :func:`_split`. Dicts are stored as key/value pairs, so int keys (the
    optimizer's parameter ids) come back as ints."""
    if isinstance(value, dict):
        if "tensor" in value:
            return tensors[value["tensor"]]
        return {key: _join(item, tensors) for key, item in value["dict"]}
    if isinstance(value, list):
        return [_join(item, tensors) for item in value]
    return value


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first dotted key (``train.lr``) whose value differs between two nested configs, or None."""
    for key in list(a) + [key for key in b if key not in a]:
        if key not in a or key not in b:
            return f"{prefix}{key}"
        if isinstance(a[key], Mapping) and isinstance(b[key], Mapping):
            found = first_difference(a[key], b[key], f"{prefix}{key}.")
            if found is not None:
                return found
        elif a[key] != b[key]:
            return f"{prefix}{key}"
    return None


def open_resume(run_dir: Path, recipe: str | Path | None, overrides: Mapping[str, Any] | Iterable[str],
                out: str | Path | None) -> tuple[Path, Config, dict[str, Any]]:
    """Check that ``run_dir`` can be continued; return it (absolute), its config and its last checkpoint."""
    if out is not None:
        raise ValueError(f"resume continues in RUN_DIR ({run_dir}); it takes no --out/out ({out})")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"resume: run dir not found: {run_dir}")
    run_dir = run_dir.resolve()
    path = run_dir / FOLDER / LAST
    if not path.is_file():
        raise ValueError(f"resume: no checkpoint in {run_dir}: looked for {FOLDER}/{LAST}, "
                         "which a run writes after each epoch and every train.checkpoint_every steps")
    if (run_dir / "summary.json").is_file():
        raise ValueError(f"resume: {run_dir} has finished (its summary.json is written); nothing to resume")
    cfg = recipes.load(run_dir / "config.yaml")
    if not isinstance(overrides, (Mapping, str)):
        overrides = list(overrides)  # may be a one-shot iterator
    if recipe is not None or overrides:
        asked = recipes.resolve(recipe, overrides) if recipe is not None else recipes.apply_overrides(cfg, overrides)
        key = first_difference(recipes.to_dict(asked), recipes.to_dict(cfg))
        if key is not None:
            raise ConfigError(f"resume takes its recipe from {run_dir / 'config.yaml'}; the recipe and overrides "
                              f"given differ at {key}")
    state = load(path)
    key = first_difference(state["config"], recipes.to_dict(cfg))
    if key is not None:
        raise ConfigError(f"resume: {path} belongs to a different config than {run_dir / 'config.yaml'}: "
                          f"{key} is {_at(state['config'], key)!r} there and {_at(recipes.to_dict(cfg), key)!r} here")
    return run_dir, cfg, state


def _at(tree: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[part] if isinstance(tree, Mapping) and part in tree else None
    return tree
