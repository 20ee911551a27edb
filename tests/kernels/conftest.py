"""The Triton kernels under Triton's CPU interpreter (``TRITON_INTERPRET=1``).

Triton decides when it is first imported whether ``@triton.jit`` functions (its own
``tl.zeros``, ``tl.sum`` among them) are compiled or interpreted, so the variable is set
here, when pytest collects this folder, before anything imports triton. It then holds for
the rest of the session; seqlab's ``auto`` backend still takes the Triton kernels only for
CUDA inputs, so other tests are unaffected.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import SimpleNamespace

import pytest

if importlib.util.find_spec("triton") is not None and "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture(scope="module")
def interpreted():
    """The kernel modules, interpreted on the CPU; skips if triton is not installed."""
    pytest.importorskip("triton")
    from triton import knobs

    if not knobs.runtime.interpret or "TRITON_INTERPRET" not in os.environ:
        pytest.skip("triton was imported before tests/kernels/conftest.py could turn on its interpreter")
    return SimpleNamespace(
        lstm=importlib.import_module("seqlab.kernels.triton_lstm"),
        gru=importlib.import_module("seqlab.kernels.triton_gru"),
        infer=importlib.import_module("seqlab.kernels.triton_infer"),
    )
