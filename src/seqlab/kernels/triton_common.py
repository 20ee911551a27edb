"""What the Triton LSTM and GRU kernels share: availability, launch sizes, device helpers.

Design (both cells, :mod:`seqlab.kernels.triton_lstm` and :mod:`seqlab.kernels.triton_gru`):

- the caller computes the input projection of every step, ``gx = W_ih x_t + b_ih``, as one
  matrix product; a kernel runs only the recurrence;
- ONE launch runs the whole sequence (persistent over time). The grid is over blocks of
  ``BLOCK_B`` sequences of the batch; each program owns all hidden units of its rows and
  loops over the T steps itself, so no step ever waits on another program: per step it
  computes ``h_rec W_hhᵀ`` with ``tl.dot`` (W_hh streamed from L2 in tiles), the gate math,
  the recurrent-dropout mask and the optional layer norm of each gate (its row statistics
  are local to the program), and ``tl.debug_barrier()`` orders the step's writes of h
  before the next step reads them;
- training saves the gate activations (and the normalized pre-activations with layer
  norm); the backward kernel walks time in reverse, one launch too, producing the gate
  gradients ``dgates`` (T, B, G·H); the weight gradients are then ONE torch product over
  all steps, ``dW_hh = dgatesᵀ h_rec``, outside the kernel.

With this design W_hh is re-read from L2 at every step by each program, and a batch of B
sequences uses only ceil(B / 16) streaming multiprocessors. For inference with B ≤ 16
(no layer norm; LSTM and GRU) :mod:`seqlab.kernels.triton_infer` splits the hidden units over programs
instead, each holding its slice of W_hh on chip, with a grid-wide barrier per step. Not
done: that split for training (the backward) and with layer norm (its row statistics
would need a second barrier per step).

Under ``TRITON_INTERPRET=1`` the kernels run on CPU tensors through Triton's interpreter
(how the tests check them). The interpreter's ``tl.dot`` gives wrong numbers for bfloat16
operands (triton 3.9), so there the products run in float32 on the bfloat16 values.
"""

from __future__ import annotations

import importlib.util
import os

import torch
from torch import Tensor

BLOCK_B = 16  # sequences per program; tl.dot needs tiles of at least 16 rows
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
NOT_INSTALLED = "without the triton package (pip install triton)"


def available() -> bool:
    """True if the triton package can be imported (it is not imported here)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True if Triton's CPU interpreter is on (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def device_lacks(x: Tensor) -> list[str]:
    """What this input lacks for the Triton kernels: a CUDA device (or the interpreter), a dtype."""
    lacks = []
    if not available():
        lacks.append(NOT_INSTALLED)
    if x.device.type != "cuda" and not (interpreting() and x.device.type == "cpu"):
        lacks.append(f"inputs on {x.device.type} (it needs a CUDA GPU; TRITON_INTERPRET=1 runs it on the CPU)")
    if x.dtype not in DTYPES:
        lacks.append(f"dtype {x.dtype} (it runs float32, float16, bfloat16)")
    return lacks


def tile(hidden: int) -> int:
    """Width of the hidden-unit tiles: a power of two in [16, 64]."""
    return max(16, min(64, 1 << (hidden - 1).bit_length()))


def dot_config(dtype: torch.dtype) -> dict:
    """Operand dtype and precision of ``tl.dot`` for a layer of this dtype.

    float32 runs IEEE products (as torch's default matmul, no TF32); float16 and bfloat16
    products take 16-bit operands and accumulate in float32, except bfloat16 under the
    interpreter (see the module docstring).
    """
    import triton.language as tl

    if dtype == torch.float32 or (dtype == torch.bfloat16 and interpreting()):
        return {"DOT_T": tl.float32, "PRECISION": "ieee"}
    return {"DOT_T": tl.float16 if dtype == torch.float16 else tl.bfloat16, "PRECISION": "tf32"}


def grid(batch: int) -> tuple[int]:
    return ((batch + BLOCK_B - 1) // BLOCK_B,)
