"""Triton kernels for one LSTM layer, one direction: training (forward + backward) and inference.

The equations are those of :func:`seqlab.nn.cells.lstm_step` (with its recurrent-dropout
mask on h before the recurrent product and its layer norm of each gate's pre-activation);
the design is in :mod:`seqlab.kernels.triton_common`. Shapes (gates in torch's order
i, f, g, o)::

    gx      (T, B, 4H)  W_ih x_t + b_ih for every step (one product, by the caller)
    h0, c0  (B, H)      initial state
    w_hh    (4H, H)     recurrent weights;  b_hh (4H,) or None
    mask    (B, H)      recurrent-dropout mask (already scaled by 1/(1-p)), or None
    ln      (γ, β)      each (4H,): layer norm of each gate block, or None
    valid   (T, B) bool False at padding (the state is carried, the output is zero), or None

Buffers saved for the backward (float32): the activations ``act`` (T, B, 4H) = σ(i), σ(f),
tanh(g), σ(o); the cell states ``cells`` (T+1, B, H); with layer norm the normalized
pre-activations ``xhat`` (T, B, 4H) and ``rstd`` (T, B, 4). The backward (one launch)
produces ``dpre`` (T, B, 4H), the gradient of each gate's pre-activation, which is the
gradient of gx; then ``dW_hh = dpreᵀ (h_{t-1} ⊙ mask)`` is one torch product over all steps.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.kernels import triton_infer
from seqlab.kernels.triton_common import BLOCK_B, dot_config, grid, tile
from seqlab.kernels.triton_ops import affine as _affine
from seqlab.kernels.triton_ops import back_dot, ln_backward, rec_dot, row_stats, sigmoid, tanh


@triton.jit
def _cell(
    ai, af, ag, ao, c_in, c_out, h_prev, h_out, out_t, keep, act_t, idx_h, idx_g, ok, H,
    TRAINING: tl.constexpr, HAS_VALID: tl.constexpr,
):
    """Gate activations and the new state for one tile: c = f ⊙ c_prev + i ⊙ g, h = o ⊙ tanh(c).

    With ``HAS_VALID`` a padded step (keep False) carries h and c unchanged and outputs zero.
    """
    i = sigmoid(ai)
    f = sigmoid(af)
    g = tanh(ag)
    o = sigmoid(ao)
    c_prev = tl.load(c_in + idx_h, mask=ok, other=0.0)
    c = f * c_prev + i * g
    h = o * tanh(c)
    if HAS_VALID:
        tl.store(c_out + idx_h, tl.where(keep, c, c_prev), mask=ok)
        h_carry = tl.load(h_prev + idx_h, mask=ok, other=0.0)
        tl.store(h_out + idx_h, tl.where(keep, h.to(h_out.dtype.element_ty), h_carry), mask=ok)
        tl.store(out_t + idx_h, tl.where(keep, h, 0.0).to(out_t.dtype.element_ty), mask=ok)
    else:
        tl.store(c_out + idx_h, c, mask=ok)
        tl.store(h_out + idx_h, h.to(h_out.dtype.element_ty), mask=ok)
    if TRAINING:
        tl.store(act_t + idx_g, i, mask=ok)
        tl.store(act_t + idx_g + H, f, mask=ok)
        tl.store(act_t + idx_g + 2 * H, g, mask=ok)
        tl.store(act_t + idx_g + 3 * H, o, mask=ok)


@triton.jit
def _gate_pre(
    q, h_prev, gx_t, w_ptr, b_ptr, mask_ptr, pre_ptr, rows, row_ok, cols, col_ok, ok, idx_g, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_LN: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr, DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """Pre-activation of gate block q for one tile, gx + (h ⊙ mask) W_qᵀ + b_q (kept in pre with layer norm)."""
    p = rec_dot(h_prev, mask_ptr, w_ptr, rows, row_ok, cols + q * H, col_ok, H,
                HAS_MASK, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
    p += tl.load(gx_t + idx_g + q * H, mask=ok, other=0.0).to(tl.float32)
    if HAS_BIAS:
        p += tl.load(b_ptr + q * H + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if HAS_LN:
        tl.store(pre_ptr + idx_g + q * H, p, mask=ok)
    return p


@triton.jit
def _lstm_forward(
    gx_ptr, w_ptr, b_ptr, mask_ptr, lnw_ptr, lnb_ptr,
    valid_ptr, states_ptr, out_ptr, cells_ptr, act_ptr, xhat_ptr, rstd_ptr, pre_ptr,
    T, B, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_LN: tl.constexpr, TRAINING: tl.constexpr,
    HAS_VALID: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """All T steps for BLOCK_B sequences. states (T+1, B, H): states[0] = h0 on entry.

    With ``HAS_VALID``: valid (T, B) float32 (1 where a step is real), and the outputs go
    to out (T, B, H), zero at padding, while states carries each sequence's state.

    cells: (T+1, B, H) float32 in training (cells[0] = c0), else (2, B, H) used in turn.
    pre: (B, 4H) float32 scratch for the pre-activations when normalizing.
    """
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    W4 = 4 * H
    for t in range(T):
        h_prev = states_ptr + t * B * H
        h_out = h_prev + B * H
        if TRAINING:
            c_in = cells_ptr + t * B * H
            c_out = c_in + B * H
        else:
            c_in = cells_ptr + (t % 2) * B * H
            c_out = cells_ptr + ((t + 1) % 2) * B * H
        gx_t = gx_ptr + t * B * W4
        act_t = act_ptr + t * B * W4
        out_t = out_ptr + t * B * H
        if HAS_VALID:
            keep = (tl.load(valid_ptr + t * B + rows, mask=row_ok, other=0.0) > 0)[:, None]
        else:
            keep = row_ok[:, None]  # unused
        for n0 in range(0, H, BLOCK_H):
            cols = n0 + tl.arange(0, BLOCK_H)
            col_ok = cols < H
            ok = row_ok[:, None] & col_ok[None, :]
            idx_h = rows[:, None] * H + cols[None, :]
            idx_g = rows[:, None] * W4 + cols[None, :]
            pi = _gate_pre(0, h_prev, gx_t, w_ptr, b_ptr, mask_ptr, pre_ptr, rows, row_ok, cols, col_ok, ok, idx_g, H,
                           HAS_BIAS, HAS_MASK, HAS_LN, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            pf = _gate_pre(1, h_prev, gx_t, w_ptr, b_ptr, mask_ptr, pre_ptr, rows, row_ok, cols, col_ok, ok, idx_g, H,
                           HAS_BIAS, HAS_MASK, HAS_LN, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            pg = _gate_pre(2, h_prev, gx_t, w_ptr, b_ptr, mask_ptr, pre_ptr, rows, row_ok, cols, col_ok, ok, idx_g, H,
                           HAS_BIAS, HAS_MASK, HAS_LN, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            po = _gate_pre(3, h_prev, gx_t, w_ptr, b_ptr, mask_ptr, pre_ptr, rows, row_ok, cols, col_ok, ok, idx_g, H,
                           HAS_BIAS, HAS_MASK, HAS_LN, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            if not HAS_LN:
                _cell(pi, pf, pg, po, c_in, c_out, h_prev, h_out, out_t, keep, act_t, idx_h, idx_g, ok, H,
                      TRAINING, HAS_VALID)
        if HAS_LN:
            tl.debug_barrier()
            mean_i, rstd_i = row_stats(pre_ptr, rows, row_ok, 0, H, W4, BLOCK_B, BLOCK_H)
            mean_f, rstd_f = row_stats(pre_ptr, rows, row_ok, H, H, W4, BLOCK_B, BLOCK_H)
            mean_g, rstd_g = row_stats(pre_ptr, rows, row_ok, 2 * H, H, W4, BLOCK_B, BLOCK_H)
            mean_o, rstd_o = row_stats(pre_ptr, rows, row_ok, 3 * H, H, W4, BLOCK_B, BLOCK_H)
            if TRAINING:
                r_t = rstd_ptr + (t * B + rows) * 4
                tl.store(r_t, rstd_i, mask=row_ok)
                tl.store(r_t + 1, rstd_f, mask=row_ok)
                tl.store(r_t + 2, rstd_g, mask=row_ok)
                tl.store(r_t + 3, rstd_o, mask=row_ok)
            for n0 in range(0, H, BLOCK_H):
                cols = n0 + tl.arange(0, BLOCK_H)
                col_ok = cols < H
                ok = row_ok[:, None] & col_ok[None, :]
                idx_h = rows[:, None] * H + cols[None, :]
                idx_g = rows[:, None] * W4 + cols[None, :]
                xi = (tl.load(pre_ptr + idx_g, mask=ok, other=0.0) - mean_i[:, None]) * rstd_i[:, None]
                xf = (tl.load(pre_ptr + idx_g + H, mask=ok, other=0.0) - mean_f[:, None]) * rstd_f[:, None]
                xg = (tl.load(pre_ptr + idx_g + 2 * H, mask=ok, other=0.0) - mean_g[:, None]) * rstd_g[:, None]
                xo = (tl.load(pre_ptr + idx_g + 3 * H, mask=ok, other=0.0) - mean_o[:, None]) * rstd_o[:, None]
                if TRAINING:
                    x_t = xhat_ptr + t * B * W4
                    tl.store(x_t + idx_g, xi, mask=ok)
                    tl.store(x_t + idx_g + H, xf, mask=ok)
                    tl.store(x_t + idx_g + 2 * H, xg, mask=ok)
                    tl.store(x_t + idx_g + 3 * H, xo, mask=ok)
                ai = _affine(xi, lnw_ptr, lnb_ptr, 0, cols, col_ok)
                af = _affine(xf, lnw_ptr, lnb_ptr, H, cols, col_ok)
                ag = _affine(xg, lnw_ptr, lnb_ptr, 2 * H, cols, col_ok)
                ao = _affine(xo, lnw_ptr, lnb_ptr, 3 * H, cols, col_ok)
                _cell(ai, af, ag, ao, c_in, c_out, h_prev, h_out, out_t, keep, act_t, idx_h, idx_g, ok, H,
                      TRAINING, HAS_VALID)
        tl.debug_barrier()  # h_t is complete before step t+1 reads it


@triton.jit
def _lstm_backward(
    dout_ptr, w_ptr, mask_ptr, lnw_ptr, valid_ptr, act_ptr, xhat_ptr, rstd_ptr, cells_ptr,
    dpre_ptr, dact_ptr, dh_ptr, dc_ptr,
    T, B, H,
    HAS_MASK: tl.constexpr, HAS_LN: tl.constexpr, HAS_VALID: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """Reverse walk over time. dh, dc (B, H) float32 hold dL/dh_T, dL/dc_T on entry and
    dL/dh_0, dL/dc_0 on exit; dpre (T, B, 4H) float32 receives the pre-activation gradients,
    dact (T, B, 4H) float32 those of the layer-norm outputs (with layer norm)::

        dc_t += dh_t ⊙ o ⊙ tanh'(c_t)
        di = dc_t ⊙ g ⊙ σ'(i),  df = dc_t ⊙ c_{t-1} ⊙ σ'(f),  dg = dc_t ⊙ i ⊙ tanh'(g),  do = dh_t ⊙ tanh(c_t) ⊙ σ'(o)
        dc_{t-1} = dc_t ⊙ f,    dh_{t-1} = (dpre_t W_hh) ⊙ mask + dout_{t-1}

    At a padded step (valid 0) the step's own gradients are zero and dh, dc pass through.
    """
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    W4 = 4 * H
    for s in range(T):
        t = T - 1 - s
        g_t = t * B * W4
        da_ptr = dact_ptr if HAS_LN else dpre_ptr
        if HAS_VALID:
            v = tl.load(valid_ptr + t * B + rows, mask=row_ok, other=0.0)[:, None]
        else:
            v = 1.0
        for n0 in range(0, H, BLOCK_H):
            cols = n0 + tl.arange(0, BLOCK_H)
            ok = row_ok[:, None] & (cols < H)[None, :]
            idx_h = rows[:, None] * H + cols[None, :]
            idx_g = g_t + rows[:, None] * W4 + cols[None, :]
            dh = tl.load(dh_ptr + idx_h, mask=ok, other=0.0)
            dh += tl.load(dout_ptr + t * B * H + idx_h, mask=ok, other=0.0).to(tl.float32)
            dh = dh * v
            i = tl.load(act_ptr + idx_g, mask=ok, other=0.0)
            f = tl.load(act_ptr + idx_g + H, mask=ok, other=0.0)
            g = tl.load(act_ptr + idx_g + 2 * H, mask=ok, other=0.0)
            o = tl.load(act_ptr + idx_g + 3 * H, mask=ok, other=0.0)
            tc = tanh(tl.load(cells_ptr + (t + 1) * B * H + idx_h, mask=ok, other=0.0))
            c_prev = tl.load(cells_ptr + t * B * H + idx_h, mask=ok, other=0.0)
            dc_in = tl.load(dc_ptr + idx_h, mask=ok, other=0.0)
            dc = dc_in * v + dh * o * (1.0 - tc * tc)
            tl.store(da_ptr + idx_g, dc * g * i * (1.0 - i), mask=ok)
            tl.store(da_ptr + idx_g + H, dc * c_prev * f * (1.0 - f), mask=ok)
            tl.store(da_ptr + idx_g + 2 * H, dc * i * (1.0 - g * g), mask=ok)
            tl.store(da_ptr + idx_g + 3 * H, dh * tc * o * (1.0 - o), mask=ok)
            tl.store(dc_ptr + idx_h, dc * f + dc_in * (1.0 - v), mask=ok)
        if HAS_LN:
            tl.debug_barrier()
            for q in tl.static_range(4):
                rstd = tl.load(rstd_ptr + (t * B + rows) * 4 + q, mask=row_ok, other=1.0)
                ln_backward(dact_ptr + g_t, xhat_ptr + g_t, lnw_ptr, rstd, dpre_ptr + g_t, rows, row_ok,
                            q * H, H, W4, q * H, W4, BLOCK_B, BLOCK_H)
        tl.debug_barrier()
        for n0 in range(0, H, BLOCK_H):
            cols = n0 + tl.arange(0, BLOCK_H)
            col_ok = cols < H
            ok = row_ok[:, None] & col_ok[None, :]
            idx_h = rows[:, None] * H + cols[None, :]
            dh = back_dot(dpre_ptr + g_t, w_ptr, rows, row_ok, cols, col_ok, H, W4,
                          BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            if HAS_MASK:
                dh *= tl.load(mask_ptr + idx_h, mask=ok, other=0.0).to(tl.float32)
            if HAS_VALID:  # a padded step passes the state's gradient through
                dh += tl.load(dh_ptr + idx_h, mask=ok, other=0.0) * (1.0 - v)
            tl.store(dh_ptr + idx_h, dh, mask=ok)
        tl.debug_barrier()


def _sizes(hidden: int, dtype: torch.dtype) -> dict:
    return {"BLOCK_B": BLOCK_B, "BLOCK_H": tile(hidden), "BLOCK_K": tile(hidden), **dot_config(dtype)}


def _forward(gx, h0, c0, w_hh, b_hh, mask, ln, valid, training: bool):
    """Launch the forward kernel; returns out (T, B, H), states (T+1, B, H), the last c and the saved buffers."""
    steps, batch, width = gx.shape
    hidden = width // 4
    f32 = {"device": gx.device, "dtype": torch.float32}
    gx, w_hh = gx.contiguous(), w_hh.contiguous()
    states = gx.new_empty(steps + 1, batch, hidden)
    states[0] = h0
    out = states[1:] if valid is None else gx.new_empty(steps, batch, hidden)
    valid = valid if valid is None else valid.to(torch.float32).contiguous()  # (T, B): 1 at real steps
    cells = torch.empty(steps + 1 if training else 2, batch, hidden, **f32)
    cells[0] = c0
    act = torch.empty(steps if training else 0, batch, width, **f32)
    xhat = torch.empty(steps if training and ln else 0, batch, width, **f32)
    rstd = torch.empty(steps if training and ln else 0, batch, 4, **f32)
    pre = torch.empty(batch if ln else 0, width, **f32)
    lnw, lnb = (ln[0].contiguous(), ln[1].contiguous()) if ln is not None else (gx, gx)
    _lstm_forward[grid(batch)](
        gx, w_hh, gx if b_hh is None else b_hh.contiguous(), gx if mask is None else mask.contiguous(), lnw, lnb,
        gx if valid is None else valid, states, out, cells, act, xhat, rstd, pre, steps, batch, hidden,
        HAS_BIAS=b_hh is not None, HAS_MASK=mask is not None, HAS_LN=ln is not None, TRAINING=training,
        HAS_VALID=valid is not None, **_sizes(hidden, gx.dtype),
    )
    c_last = cells[steps if training else steps % 2]
    return out, states, c_last, (cells, act, xhat, rstd, valid)


class _LSTMTriton(torch.autograd.Function):
    """LSTM over T steps with the Triton kernels; see the module docstring."""

    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, b_hh, mask, ln_w, ln_b, valid):
        ln = None if ln_w is None else (ln_w, ln_b)
        out, states, c_last, buffers = _forward(gx, h0, c0, w_hh, b_hh, mask, ln, valid, training=True)
        ctx.save_for_backward(w_hh, mask, ln_w)
        ctx.buffers = (states, *buffers)
        ctx.has_bias = b_hh is not None
        return out, states[-1].clone(), c_last.to(gx.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        w_hh, mask, ln_w = ctx.saved_tensors
        states, cells, act, xhat, rstd, valid = ctx.buffers
        steps, batch, width = act.shape
        hidden = width // 4
        dtype = states.dtype
        dpre = torch.empty(steps, batch, width, device=act.device, dtype=torch.float32)
        dact = torch.empty_like(dpre) if ln_w is not None else dpre
        dh = d_h.float().contiguous().clone()
        dc = d_c.float().contiguous().clone()
        _lstm_backward[grid(batch)](
            d_out.contiguous(), w_hh.contiguous(), act if mask is None else mask.contiguous(),
            act if ln_w is None else ln_w.contiguous(), act if valid is None else valid, act, xhat, rstd, cells,
            dpre, dact, dh, dc, steps, batch, hidden,
            HAS_MASK=mask is not None, HAS_LN=ln_w is not None, HAS_VALID=valid is not None, **_sizes(hidden, dtype),
        )
        h_rec = states[:-1].float()  # (T, B, H): h_{t-1} of each step
        if mask is not None:
            h_rec = h_rec * mask
        flat = dpre.view(-1, width)  # (T*B, 4H)
        d_w = (flat.t() @ h_rec.view(-1, hidden)).to(w_hh.dtype)  # ONE product over all steps
        d_b = flat.sum(0).to(w_hh.dtype) if ctx.has_bias else None
        d_ln_w = d_ln_b = None
        if ln_w is not None:
            d_ln_w = (dact * xhat).sum((0, 1)).to(ln_w.dtype)
            d_ln_b = dact.sum((0, 1)).to(ln_w.dtype)
        return dpre.to(dtype), dh.to(dtype), dc.to(dtype), d_w, d_b, None, d_ln_w, d_ln_b, None


def lstm_sequence(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None = None,
    ln: tuple[Tensor, Tensor] | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM layer over a sequence with the Triton kernels (shapes in the module docstring).

    ``valid`` (T, B) bool or None: False at padding, where the state is carried unchanged
    and the output is zero (as ``_run_direction`` in seqlab.nn.recurrent).
    Returns ``out`` (T, B, H), ``h_T`` and ``c_T`` (B, H), the final states taken at each
    sequence's last valid step. When no input needs a gradient (inference) it runs the
    forward kernel alone, which saves nothing, or for small batches without layer norm
    the persistent kernel of :mod:`seqlab.kernels.triton_infer` (weights held on chip):
    either way one launch for the whole sequence, whatever its length.
    """
    tensors = (gx, h0, c0, w_hh, b_hh) + (ln if ln is not None else ())
    if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors):
        ln_w, ln_b = ln if ln is not None else (None, None)
        return _LSTMTriton.apply(gx, h0, c0, w_hh, b_hh, mask, ln_w, ln_b, valid)
    if ln is None and triton_infer.fits(gx.shape[1], h0.shape[-1], gx.dtype, gx.device):
        return triton_infer.lstm_infer(gx, h0, c0, w_hh, b_hh, mask, valid)
    out, states, c_last, _ = _forward(gx, h0, c0, w_hh, b_hh, mask, ln, valid, training=False)
    return out, states[-1].clone(), c_last.to(gx.dtype)
