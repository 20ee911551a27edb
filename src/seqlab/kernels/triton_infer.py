"""Persistent small-batch LSTM and GRU inference: weights held on chip across steps, one launch.

For streaming and generation (B ≤ 16) the recurrence is latency-bound: one step's work is
a (B, H) × (H, 4H) product, too small to fill a GPU, and reading W_hh from L2 at every
step dominates. Here the grid is over blocks of UNITS = 16 hidden units (H / 16 programs,
each on its own streaming multiprocessor); a program loads its slice of W_hh
(the G gates' rows of its units, (H, G·UNITS)) ONCE and keeps it, with its part of the
cell state c, on chip for the whole sequence. Per step it reads all of h_{t-1} (B·H
values, from L2, bypassing L1), computes its units' gates and writes its slice of h_t;
then a grid-wide barrier (an atomic counter in global memory) orders step t before t+1.

The barrier needs every program resident at once, so the grid must not exceed the
number of multiprocessors; :func:`fits` checks the shapes. The spin is bounded: a program
that waits too long sets a flag and the call raises instead of hanging.

Under Triton's interpreter programs run one after another, so there the sequence runs
one launch per step (``SYNC=False``: the step's math, same code, no barrier); the tests
check the numbers that way. The barrier itself runs only on a GPU.

Equations: :func:`seqlab.nn.cells.lstm_step` (gates i, f, g, o) and
:func:`seqlab.nn.cells.gru_step` (reset_after=True; r, z, n), with the recurrent-dropout mask
on h before the product; no layer norm here. Shapes (G = 4 for LSTM, 3 for GRU): gx
(T, B, G·H) = W_ih x + b_ih; h0, c0 (B, H); w_hh (G·H, H); b_hh (G·H,) or None; mask (B, H)
or None; valid (T, B) bool or None.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from seqlab.kernels.triton_common import BLOCK_B, dot_config, interpreting
from seqlab.kernels.triton_ops import sigmoid, tanh

UNITS = 16  # hidden units per program (tl.dot's smallest tile)
# On chip per program: the W_hh slice (4 * UNITS * H values) and the h tile (16 * H), 80 * H
# values; compiled for sm_90 that is 160 KiB of shared memory at H = 1024 in 16 bits or
# H = 512 in float32, within the 227 KiB a block may use.
MAX_ROW_BYTES = 2048  # next_power_of_2(H) * element size
MAX_SPINS = 2_000_000  # polls (an L2 round trip each, ~1 µs) before a program gives up: seconds, not a step's µs


def fits(batch: int, hidden: int, dtype: torch.dtype, device: torch.device) -> bool:
    """True if the persistent kernel runs this shape: B ≤ 16, H ≤ 1024 (16-bit) or 512
    (float32), and no more programs than multiprocessors."""
    if batch > BLOCK_B or triton.next_power_of_2(hidden) * dtype.itemsize > MAX_ROW_BYTES:
        return False
    if device.type != "cuda":
        return True  # the interpreter: one launch per step, no residency needed
    return triton.cdiv(hidden, UNITS) <= torch.cuda.get_device_properties(device).multi_processor_count


@triton.jit
def _gate_weights(w_ptr, q, cols, col_ok, kk, k_ok, H, DOT_T: tl.constexpr):
    """W_hh rows of gate q for this program's units, transposed: (HP, UNITS)."""
    w = tl.load(w_ptr + (q * H + cols)[None, :] * H + kk[:, None], mask=k_ok[:, None] & col_ok[None, :], other=0.0)
    return w.to(DOT_T)


@triton.jit
def _gate_in(gx_t, q, rows, row_ok, cols, col_ok, H, G: tl.constexpr):
    """gx of gate q for this program's units (rows of width G*H): (BLOCK_B, UNITS) float32."""
    ok = row_ok[:, None] & col_ok[None, :]
    return tl.load(gx_t + rows[:, None] * G * H + q * H + cols[None, :], mask=ok, other=0.0).to(tl.float32)


@triton.jit
def _gate_rec(h, w, b_ptr, q, cols, col_ok, H, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr):
    """h W_qᵀ (+ b_hh of gate q) for this program's units: (BLOCK_B, UNITS) float32."""
    x = tl.dot(h, w, input_precision=PRECISION)
    if HAS_BIAS:
        x += tl.load(b_ptr + q * H + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    return x


@triton.jit
def _grid_barrier(sync_ptr, s, n_steps, MAX_SPINS: tl.constexpr):
    """After step s: wait until every program has written its slice of h (not after the last).

    One thread per program adds to the counter (release) and polls it (acquire), both at GPU
    scope, between two block-wide barriers; a wait past MAX_SPINS polls sets sync[1].
    """
    if s + 1 < n_steps:
        tl.debug_barrier()
        tl.atomic_add(sync_ptr, 1, sem="release", scope="gpu")
        target = (s + 1) * tl.num_programs(0)
        seen = tl.atomic_add(sync_ptr, 0, sem="acquire", scope="gpu")
        spins = 0
        while (seen < target) & (spins < MAX_SPINS):
            seen = tl.atomic_add(sync_ptr, 0, sem="acquire", scope="gpu")
            spins += 1
        if seen < target:
            tl.atomic_xchg(sync_ptr + 1, 1)
        tl.debug_barrier()


@triton.jit
def _load_mask(mask_ptr, rows, kk, h_ok, H, HAS_MASK: tl.constexpr):
    """The recurrent-dropout mask (BLOCK_B, HP) float32, held for the whole sequence (1 if none)."""
    if HAS_MASK:
        m = tl.load(mask_ptr + rows[:, None] * H + kk[None, :], mask=h_ok, other=0.0).to(tl.float32)
    else:
        m = tl.full((1, 1), 1.0, tl.float32)
    return m


@triton.jit
def _load_h(h_prev, mask_m, rows, kk, h_ok, H, HAS_MASK: tl.constexpr, DOT_T: tl.constexpr):
    """All of h_{t-1} (⊙ mask), (BLOCK_B, HP), read from L2 (other programs wrote it)."""
    h = tl.load(h_prev + rows[:, None] * H + kk[None, :], mask=h_ok, other=0.0, cache_modifier=".cg")
    h = h.to(tl.float32)
    if HAS_MASK:
        h = h * mask_m
    return h.to(DOT_T)


@triton.jit
def _lstm_infer(
    gx_ptr, w_ptr, b_ptr, mask_ptr, valid_ptr, states_ptr, out_ptr, c_ptr, sync_ptr,
    t0, n_steps, B, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_VALID: tl.constexpr, SYNC: tl.constexpr,
    BLOCK_B: tl.constexpr, UNITS: tl.constexpr, HP: tl.constexpr, MAX_SPINS: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """Steps t0 .. t0+n_steps-1. states (T+1, B, H) with states[t0] set; c (B, H) float32 in/out.

    sync: int32 (2,), zeros on entry: the barrier's counter, and a flag set on a timeout.
    """
    rows = tl.arange(0, BLOCK_B)
    row_ok = rows < B
    cols = tl.program_id(0) * UNITS + tl.arange(0, UNITS)
    col_ok = cols < H
    ok = row_ok[:, None] & col_ok[None, :]
    kk = tl.arange(0, HP)
    k_ok = kk < H
    h_ok = row_ok[:, None] & k_ok[None, :]
    idx_own = rows[:, None] * H + cols[None, :]
    w_i = _gate_weights(w_ptr, 0, cols, col_ok, kk, k_ok, H, DOT_T)  # held for the whole sequence
    w_f = _gate_weights(w_ptr, 1, cols, col_ok, kk, k_ok, H, DOT_T)
    w_g = _gate_weights(w_ptr, 2, cols, col_ok, kk, k_ok, H, DOT_T)
    w_o = _gate_weights(w_ptr, 3, cols, col_ok, kk, k_ok, H, DOT_T)
    m = _load_mask(mask_ptr, rows, kk, h_ok, H, HAS_MASK)
    c = tl.load(c_ptr + idx_own, mask=ok, other=0.0)
    for s in range(n_steps):
        t = t0 + s
        h_prev = states_ptr + t * B * H
        h = _load_h(h_prev, m, rows, kk, h_ok, H, HAS_MASK, DOT_T)
        gx_t = gx_ptr + t * B * 4 * H
        i = _gate_in(gx_t, 0, rows, row_ok, cols, col_ok, H, 4)
        f = _gate_in(gx_t, 1, rows, row_ok, cols, col_ok, H, 4)
        g = _gate_in(gx_t, 2, rows, row_ok, cols, col_ok, H, 4)
        o = _gate_in(gx_t, 3, rows, row_ok, cols, col_ok, H, 4)
        i = sigmoid(i + _gate_rec(h, w_i, b_ptr, 0, cols, col_ok, H, HAS_BIAS, PRECISION))
        f = sigmoid(f + _gate_rec(h, w_f, b_ptr, 1, cols, col_ok, H, HAS_BIAS, PRECISION))
        g = tanh(g + _gate_rec(h, w_g, b_ptr, 2, cols, col_ok, H, HAS_BIAS, PRECISION))
        o = sigmoid(o + _gate_rec(h, w_o, b_ptr, 3, cols, col_ok, H, HAS_BIAS, PRECISION))
        c_new = f * c + i * g
        h_new = o * tanh(c_new)
        h_out = h_prev + B * H
        if HAS_VALID:
            keep = (tl.load(valid_ptr + t * B + rows, mask=row_ok, other=0.0) > 0)[:, None]
            c = tl.where(keep, c_new, c)
            h_carry = tl.load(h_prev + idx_own, mask=ok, other=0.0, cache_modifier=".cg")
            tl.store(h_out + idx_own, tl.where(keep, h_new.to(h_out.dtype.element_ty), h_carry), mask=ok)
            tl.store(out_ptr + t * B * H + idx_own, tl.where(keep, h_new, 0.0).to(out_ptr.dtype.element_ty), mask=ok)
        else:
            c = c_new
            tl.store(h_out + idx_own, h_new.to(h_out.dtype.element_ty), mask=ok)
        if SYNC:
            _grid_barrier(sync_ptr, s, n_steps, MAX_SPINS)
    tl.store(c_ptr + idx_own, c, mask=ok)


@triton.jit
def _gru_infer(
    gx_ptr, w_ptr, b_ptr, mask_ptr, valid_ptr, states_ptr, out_ptr, sync_ptr,
    t0, n_steps, B, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_VALID: tl.constexpr, SYNC: tl.constexpr,
    BLOCK_B: tl.constexpr, UNITS: tl.constexpr, HP: tl.constexpr, MAX_SPINS: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """GRU (reset after the product) over steps t0 .. t0+n_steps-1; as _lstm_infer, no c::

        r = σ(gx_r + gh_r),  z = σ(gx_z + gh_z),  n = tanh(gx_n + r ⊙ gh_n),  h = z ⊙ h_{t-1} + (1 − z) ⊙ n
    """
    rows = tl.arange(0, BLOCK_B)
    row_ok = rows < B
    cols = tl.program_id(0) * UNITS + tl.arange(0, UNITS)
    col_ok = cols < H
    ok = row_ok[:, None] & col_ok[None, :]
    kk = tl.arange(0, HP)
    k_ok = kk < H
    h_ok = row_ok[:, None] & k_ok[None, :]
    idx_own = rows[:, None] * H + cols[None, :]
    w_r = _gate_weights(w_ptr, 0, cols, col_ok, kk, k_ok, H, DOT_T)  # held for the whole sequence
    w_z = _gate_weights(w_ptr, 1, cols, col_ok, kk, k_ok, H, DOT_T)
    w_n = _gate_weights(w_ptr, 2, cols, col_ok, kk, k_ok, H, DOT_T)
    m = _load_mask(mask_ptr, rows, kk, h_ok, H, HAS_MASK)
    for s in range(n_steps):
        t = t0 + s
        h_prev = states_ptr + t * B * H
        h = _load_h(h_prev, m, rows, kk, h_ok, H, HAS_MASK, DOT_T)
        gx_t = gx_ptr + t * B * 3 * H
        r = _gate_in(gx_t, 0, rows, row_ok, cols, col_ok, H, 3)
        z = _gate_in(gx_t, 1, rows, row_ok, cols, col_ok, H, 3)
        n = _gate_in(gx_t, 2, rows, row_ok, cols, col_ok, H, 3)
        r = sigmoid(r + _gate_rec(h, w_r, b_ptr, 0, cols, col_ok, H, HAS_BIAS, PRECISION))
        z = sigmoid(z + _gate_rec(h, w_z, b_ptr, 1, cols, col_ok, H, HAS_BIAS, PRECISION))
        n = tanh(n + r * _gate_rec(h, w_n, b_ptr, 2, cols, col_ok, H, HAS_BIAS, PRECISION))
        hp = tl.load(h_prev + idx_own, mask=ok, other=0.0, cache_modifier=".cg").to(tl.float32)  # unmasked
        h_new = z * hp + (1.0 - z) * n
        h_out = h_prev + B * H
        if HAS_VALID:
            keep = (tl.load(valid_ptr + t * B + rows, mask=row_ok, other=0.0) > 0)[:, None]
            tl.store(h_out + idx_own, tl.where(keep, h_new, hp).to(h_out.dtype.element_ty), mask=ok)
            tl.store(out_ptr + t * B * H + idx_own, tl.where(keep, h_new, 0.0).to(out_ptr.dtype.element_ty), mask=ok)
        else:
            tl.store(h_out + idx_own, h_new.to(h_out.dtype.element_ty), mask=ok)
        if SYNC:
            _grid_barrier(sync_ptr, s, n_steps, MAX_SPINS)


def _run(kernel, name: str, gx: Tensor, h0: Tensor, w_hh, b_hh, mask, valid, extra: tuple) -> tuple[Tensor, Tensor]:
    """Launch ``kernel`` over the sequence; returns out (T, B, H) and states (T+1, B, H)."""
    steps, batch, _ = gx.shape
    hidden = h0.shape[-1]
    states = gx.new_empty(steps + 1, batch, hidden)
    states[0] = h0
    out = states[1:] if valid is None else gx.new_empty(steps, batch, hidden)
    valid_f = None if valid is None else valid.to(torch.float32).contiguous()  # (T, B): 1 at real steps
    sync = torch.zeros(2, dtype=torch.int32, device=gx.device)
    args = (
        gx.contiguous(), w_hh.contiguous(), gx if b_hh is None else b_hh.contiguous(),
        gx if mask is None else mask.contiguous(), gx if valid_f is None else valid_f, states, out, *extra, sync,
    )
    consts = {
        "HAS_BIAS": b_hh is not None, "HAS_MASK": mask is not None, "HAS_VALID": valid is not None,
        "BLOCK_B": BLOCK_B, "UNITS": UNITS, "HP": triton.next_power_of_2(hidden), "MAX_SPINS": MAX_SPINS,
        **dot_config(gx.dtype),
    }
    grid = (triton.cdiv(hidden, UNITS),)
    if interpreting():  # programs run one after another: one launch per step, no barrier
        for t in range(steps):
            kernel[grid](*args, t, 1, batch, hidden, SYNC=False, **consts)
    elif steps:
        kernel[grid](*args, 0, steps, batch, hidden, SYNC=True, num_warps=8, **consts)
        if int(sync[1]):
            raise RuntimeError(
                f"{name}: the grid barrier timed out ({grid[0]} programs could not all run at once on "
                f"{torch.cuda.get_device_name(gx.device)}); use a hidden_size of at most {UNITS} per multiprocessor"
            )
    return out, states


def lstm_infer(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM layer over a sequence without gradients; returns out (T, B, H), h_T, c_T.

    Call only where :func:`fits` holds. On a GPU the whole sequence is one launch.
    """
    c = c0.to(torch.float32).contiguous().clone()  # (B, H): c_0 in, c_T out
    out, states = _run(_lstm_infer, "lstm_infer", gx, h0, w_hh, b_hh, mask, valid, (c,))
    return out, states[-1].clone(), c.to(gx.dtype)


def gru_infer(
    gx: Tensor,
    h0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one GRU layer (reset after the product) without gradients; returns out (T, B, H), h_T.

    gx (T, B, 3H), w_hh (3H, H), b_hh (3H,) or None. Call only where :func:`fits` holds.
    """
    out, states = _run(_gru_infer, "gru_infer", gx, h0, w_hh, b_hh, mask, valid, ())
    return out, states[-1].clone()
