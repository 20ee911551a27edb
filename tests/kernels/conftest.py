"""The Triton kernels under Triton's CPU interpreter (``TRITON_INTERPRET=1``).

``triton.jit`` decides at import time whether a kernel is compiled or interpreted, so
the fixture sets the variable, imports the kernel modules afresh, and afterwards drops
them again (a later import on a GPU gets compiled kernels).
"""

from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace

import pytest

TRITON_MODULES = ("seqlab.kernels.triton_ops", "seqlab.kernels.triton_lstm", "seqlab.kernels.triton_gru")


@pytest.fixture(scope="module")
def interpreted():
    """The kernel modules, interpreted on the CPU; skips if triton is not installed."""
    pytest.importorskip("triton")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        _drop(TRITON_MODULES)
        yield SimpleNamespace(
            lstm=importlib.import_module("seqlab.kernels.triton_lstm"),
            gru=importlib.import_module("seqlab.kernels.triton_gru"),
        )
        _drop(TRITON_MODULES)


def _drop(names) -> None:
    """Forget the modules, and their attributes on the package (``from ... import`` reads those)."""
    for name in names:
        sys.modules.pop(name, None)
        package, _, attr = name.rpartition(".")
        if package in sys.modules and hasattr(sys.modules[package], attr):
            delattr(sys.modules[package], attr)
