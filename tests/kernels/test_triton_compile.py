"""The Triton kernels compile for an H100 (sm_90) without a GPU.

The interpreter tests check the numbers but not that Triton's compiler accepts the
kernels; triton ships ptxas, so compiling to a cubin needs no device. This runs in a
fresh process because this session's triton runs in interpreter mode (conftest.py).
Compiled here, float16 operands, every feature on (bias, recurrent-dropout mask, layer
norm, lengths): the LSTM forward (training) and the GRU backward, which between them use
every shared device function of seqlab.kernels.triton_ops, and the persistent GRU
inference kernel with its grid barrier (shared with the LSTM one), whose PTX must hold the barrier's release-add and acquire-load
at GPU scope (its run is checked only on a GPU, by benchmarks/triton_lstm.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import inspect
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from seqlab.kernels import triton_gru, triton_infer, triton_lstm

    FLOAT32_BUFFERS = {"cells_ptr", "act_ptr", "xhat_ptr", "rstd_ptr", "pre_ptr", "dpre_ptr", "dact_ptr",
                       "dh_ptr", "dc_ptr", "valid_ptr", "dgh_ptr", "dnx_ptr", "c_ptr"}
    CONSTANTS = {"BLOCK_B": 16, "BLOCK_H": 64, "BLOCK_K": 64, "DOT_T": tl.float16, "PRECISION": "tf32",
                 "TRAINING": True, "UNITS": 16, "HP": 512, "MAX_SPINS": 1000}

    for kernel in (triton_lstm._lstm_forward, triton_gru._gru_backward, triton_infer._gru_infer):
        names = list(inspect.signature(kernel.fn).parameters)
        signature, constexprs = {}, {}
        for i, name in enumerate(names):
            if name in ("T", "B", "H", "t0", "n_steps"):
                signature[name] = "i32"
            elif name == "sync_ptr":
                signature[name] = "*i32"
            elif name.endswith("_ptr"):
                signature[name] = "*fp32" if name in FLOAT32_BUFFERS else "*fp16"
            else:
                signature[name] = "constexpr"
                constexprs[(i,)] = CONSTANTS.get(name, True)  # HAS_*, SYNC: every feature on
        compiled = triton.compile(ASTSource(kernel, signature, constexprs), target=GPUTarget("cuda", 90, 32))
        assert compiled.asm["cubin"], kernel.fn.__name__
        print(kernel.fn.__name__, "compiled")
    ptx = compiled.asm["ptx"]
    assert "red.global.gpu.release.add" in ptx and "ld.global.gpu.acquire" in ptx, "no grid barrier"
    print("barrier found")
    """
)


@pytest.mark.slow
def test_kernels_compile_for_sm90():
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:4] == [
        "_lstm_forward compiled",
        "_gru_backward compiled",
        "_gru_infer compiled",
        "barrier found",
    ]
