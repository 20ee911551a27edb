"""seqlab: sequence models you can read and trust.

The math lives in :mod:`seqlab.nn`; training in :mod:`seqlab.training`; the command line
in :mod:`seqlab.cli`.

    >>> import seqlab
    >>> run = seqlab.train("toy-tag", overrides={"train.epochs": 3})  # returns the run dir
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def train(recipe: str | Path | None = None, overrides: Mapping[str, Any] | Iterable[str] = (),
          out: str | Path | None = None, resume: str | Path | None = None) -> Path:
    """Train a recipe (an embedded name or a YAML path; the default if None) and return its run dir;
    with ``resume``, continue that run dir from its last checkpoint.

    See :func:`seqlab.training.loop.train`. torch is imported on the first call, so
    ``import seqlab`` stays light.
    """
    from seqlab.training import loop

    return loop.train(recipe, overrides, out, resume)


def load(path: str | Path, device: str = "cpu") -> Any:
    """Open a finished run dir and return its predictor: ``predict`` (classify, tag),
    ``translate`` (seq2seq), ``generate`` (lm), or the word vectors (word2vec). See
    :func:`seqlab.bundle.load`; torch is imported on the first call."""
    from seqlab import bundle

    return bundle.load(path, device)
