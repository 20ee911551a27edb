"""Triton kernels for one GRU layer, one direction (reset gate after the recurrent product).

The equations are those of :func:`seqlab.nn.cells.gru_step` with ``reset_after=True``
(torch's and cuDNN's form), its recurrent-dropout mask on the h that enters the recurrent
product (the carry ``z ⊙ h_{t-1}`` uses the unmasked state) and its layer norm of the r, z
and candidate pre-activations; the design is in :mod:`seqlab.kernels.triton_common`::

    gh = W_hh (h ⊙ mask) + b_hh                  (gates r, z, n in torch's order)
    r = σ(LN(gx_r + gh_r)),  z = σ(LN(gx_z + gh_z)),  n = tanh(LN(gx_n + r ⊙ gh_n))
    h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n

Shapes: gx (T, B, 3H); h0 (B, H); w_hh (3H, H); b_hh (3H,) or None; mask (B, H) or None;
ln (γ, β) each (3H,) or None; valid (T, B) bool, False at padding (the state is carried,
the output is zero), or None. Saved for the backward (float32): ``act`` (T, B, 4H) = r, z,
n, gh_n; with layer norm ``xhat`` (T, B, 3H) and ``rstd`` (T, B, 3). The backward gives
``dgh`` (T, B, 3H), the gradient of gh, and ``dnx`` (T, B, H), that of gx_n; then
``dW_hh = dghᵀ (h_{t-1} ⊙ mask)`` is one torch product over all steps.
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
def _rec(
    q, h_prev, w_ptr, b_ptr, mask_ptr, rows, row_ok, cols, col_ok, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr, DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """Block q of gh = (h ⊙ mask) W_hhᵀ + b_hh for one tile, float32 (BLOCK_B, BLOCK_H)."""
    p = rec_dot(h_prev, mask_ptr, w_ptr, rows, row_ok, cols + q * H, col_ok, H,
                HAS_MASK, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
    if HAS_BIAS:
        p += tl.load(b_ptr + q * H + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    return p


@triton.jit
def _store_h(h_new, hp, h_out, out_t, keep, idx_h, ok, HAS_VALID: tl.constexpr):
    """Write the new state; with ``HAS_VALID`` a padded step (keep False) carries h and outputs zero."""
    if HAS_VALID:
        tl.store(h_out + idx_h, tl.where(keep, h_new, hp).to(h_out.dtype.element_ty), mask=ok)
        tl.store(out_t + idx_h, tl.where(keep, h_new, 0.0).to(out_t.dtype.element_ty), mask=ok)
    else:
        tl.store(h_out + idx_h, h_new.to(h_out.dtype.element_ty), mask=ok)


@triton.jit
def _gru_forward(
    gx_ptr, w_ptr, b_ptr, mask_ptr, lnw_ptr, lnb_ptr,
    valid_ptr, states_ptr, out_ptr, act_ptr, xhat_ptr, rstd_ptr, pre_ptr,
    T, B, H,
    HAS_BIAS: tl.constexpr, HAS_MASK: tl.constexpr, HAS_LN: tl.constexpr, TRAINING: tl.constexpr,
    HAS_VALID: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """All T steps for BLOCK_B sequences; states (T+1, B, H) with states[0] = h0 on entry.

    With ``HAS_VALID``: valid (T, B) float32 (1 where a step is real), and the outputs go
    to out (T, B, H), zero at padding, while states carries each sequence's state.

    pre: (B, 4H) float32 scratch with layer norm: pre-activations of r, z, n and gh_n
    (r and z are overwritten by their activations once normalized).
    """
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    W3 = 3 * H
    W4 = 4 * H
    for t in range(T):
        h_prev = states_ptr + t * B * H
        h_out = h_prev + B * H
        gx_t = gx_ptr + t * B * W3
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
            idx_x = rows[:, None] * W3 + cols[None, :]
            idx_a = rows[:, None] * W4 + cols[None, :]
            pr = _rec(0, h_prev, w_ptr, b_ptr, mask_ptr, rows, row_ok, cols, col_ok, H,
                      HAS_BIAS, HAS_MASK, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            pz = _rec(1, h_prev, w_ptr, b_ptr, mask_ptr, rows, row_ok, cols, col_ok, H,
                      HAS_BIAS, HAS_MASK, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            gn = _rec(2, h_prev, w_ptr, b_ptr, mask_ptr, rows, row_ok, cols, col_ok, H,
                      HAS_BIAS, HAS_MASK, BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            pr += tl.load(gx_t + idx_x, mask=ok, other=0.0).to(tl.float32)
            pz += tl.load(gx_t + idx_x + H, mask=ok, other=0.0).to(tl.float32)
            if HAS_LN:
                tl.store(pre_ptr + idx_a, pr, mask=ok)
                tl.store(pre_ptr + idx_a + H, pz, mask=ok)
                tl.store(pre_ptr + idx_a + 3 * H, gn, mask=ok)
            else:
                r = sigmoid(pr)
                z = sigmoid(pz)
                n = tanh(tl.load(gx_t + idx_x + 2 * H, mask=ok, other=0.0).to(tl.float32) + r * gn)
                hp = tl.load(h_prev + idx_h, mask=ok, other=0.0).to(tl.float32)
                _store_h(z * hp + (1.0 - z) * n, hp, h_out, out_t, keep, idx_h, ok, HAS_VALID)
                if TRAINING:
                    tl.store(act_t + idx_a, r, mask=ok)
                    tl.store(act_t + idx_a + H, z, mask=ok)
                    tl.store(act_t + idx_a + 2 * H, n, mask=ok)
                    tl.store(act_t + idx_a + 3 * H, gn, mask=ok)
        if HAS_LN:
            tl.debug_barrier()
            mean_r, rstd_r = row_stats(pre_ptr, rows, row_ok, 0, H, W4, BLOCK_B, BLOCK_H)
            mean_z, rstd_z = row_stats(pre_ptr, rows, row_ok, H, H, W4, BLOCK_B, BLOCK_H)
            x_t = xhat_ptr + t * B * W3
            for n0 in range(0, H, BLOCK_H):  # r and z; the candidate's pre-activation
                cols = n0 + tl.arange(0, BLOCK_H)
                col_ok = cols < H
                ok = row_ok[:, None] & col_ok[None, :]
                idx_x = rows[:, None] * W3 + cols[None, :]
                idx_a = rows[:, None] * W4 + cols[None, :]
                xr = (tl.load(pre_ptr + idx_a, mask=ok, other=0.0) - mean_r[:, None]) * rstd_r[:, None]
                xz = (tl.load(pre_ptr + idx_a + H, mask=ok, other=0.0) - mean_z[:, None]) * rstd_z[:, None]
                r = sigmoid(_affine(xr, lnw_ptr, lnb_ptr, 0, cols, col_ok))
                z = sigmoid(_affine(xz, lnw_ptr, lnb_ptr, H, cols, col_ok))
                gn = tl.load(pre_ptr + idx_a + 3 * H, mask=ok, other=0.0)
                tl.store(pre_ptr + idx_a + H, z, mask=ok)
                gx_n = tl.load(gx_t + idx_x + 2 * H, mask=ok, other=0.0).to(tl.float32)
                tl.store(pre_ptr + idx_a + 2 * H, gx_n + r * gn, mask=ok)
                if TRAINING:
                    tl.store(x_t + idx_x, xr, mask=ok)
                    tl.store(x_t + idx_x + H, xz, mask=ok)
                    tl.store(act_t + idx_a, r, mask=ok)
                    tl.store(act_t + idx_a + H, z, mask=ok)
                    tl.store(act_t + idx_a + 3 * H, gn, mask=ok)
            tl.debug_barrier()
            mean_n, rstd_n = row_stats(pre_ptr, rows, row_ok, 2 * H, H, W4, BLOCK_B, BLOCK_H)
            if TRAINING:
                r_t = rstd_ptr + (t * B + rows) * 3
                tl.store(r_t, rstd_r, mask=row_ok)
                tl.store(r_t + 1, rstd_z, mask=row_ok)
                tl.store(r_t + 2, rstd_n, mask=row_ok)
            for n0 in range(0, H, BLOCK_H):  # the candidate and the new state
                cols = n0 + tl.arange(0, BLOCK_H)
                col_ok = cols < H
                ok = row_ok[:, None] & col_ok[None, :]
                idx_h = rows[:, None] * H + cols[None, :]
                idx_a = rows[:, None] * W4 + cols[None, :]
                xn = (tl.load(pre_ptr + idx_a + 2 * H, mask=ok, other=0.0) - mean_n[:, None]) * rstd_n[:, None]
                n = tanh(_affine(xn, lnw_ptr, lnb_ptr, 2 * H, cols, col_ok))
                z = tl.load(pre_ptr + idx_a + H, mask=ok, other=0.0)
                hp = tl.load(h_prev + idx_h, mask=ok, other=0.0).to(tl.float32)
                _store_h(z * hp + (1.0 - z) * n, hp, h_out, out_t, keep, idx_h, ok, HAS_VALID)
                if TRAINING:
                    tl.store(x_t + rows[:, None] * W3 + 2 * H + cols[None, :], xn, mask=ok)
                    tl.store(act_t + idx_a + 2 * H, n, mask=ok)
        tl.debug_barrier()  # h_t is complete before step t+1 reads it


@triton.jit
def _gru_backward(
    dout_ptr, w_ptr, mask_ptr, lnw_ptr, valid_ptr, act_ptr, xhat_ptr, rstd_ptr, states_ptr,
    dgh_ptr, dnx_ptr, dact_ptr, dh_ptr,
    T, B, H,
    HAS_MASK: tl.constexpr, HAS_LN: tl.constexpr, HAS_VALID: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """Reverse walk over time. dh (B, H) float32 holds dL/dh_T on entry, dL/dh_0 on exit;
    dgh (T, B, 3H) and dnx (T, B, H) float32 receive the gradients of gh and gx_n; dact
    (T, B, 3H) float32 those of the layer-norm outputs (with layer norm)::

        dn̂ = dh ⊙ (1 − z) ⊙ tanh'(n)     (of n's pre-activation; through LN if on)
        dz = dh ⊙ (h_{t-1} − n) ⊙ σ'(z),   dgh_n = dn̂ ⊙ r,   dr = dn̂ ⊙ gh_n ⊙ σ'(r)
        dh_{t-1} = dh ⊙ z + (dgh_t W_hh) ⊙ mask + dout_{t-1}

    At a padded step (valid 0) the step's own gradients are zero and dh passes through.
    """
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    W3 = 3 * H
    W4 = 4 * H
    for s in range(T):
        t = T - 1 - s
        act_t = act_ptr + t * B * W4
        dgh_t = dgh_ptr + t * B * W3
        dnx_t = dnx_ptr + t * B * H
        dact_t = dact_ptr + t * B * W3
        xhat_t = xhat_ptr + t * B * W3
        if HAS_VALID:
            v = tl.load(valid_ptr + t * B + rows, mask=row_ok, other=0.0)[:, None]
        else:
            v = 1.0
        for n0 in range(0, H, BLOCK_H):
            cols = n0 + tl.arange(0, BLOCK_H)
            ok = row_ok[:, None] & (cols < H)[None, :]
            idx_h = rows[:, None] * H + cols[None, :]
            idx_x = rows[:, None] * W3 + cols[None, :]
            idx_a = rows[:, None] * W4 + cols[None, :]
            dh = tl.load(dh_ptr + idx_h, mask=ok, other=0.0)
            dh += tl.load(dout_ptr + t * B * H + idx_h, mask=ok, other=0.0).to(tl.float32)
            dh = dh * v
            r = tl.load(act_t + idx_a, mask=ok, other=0.0)
            z = tl.load(act_t + idx_a + H, mask=ok, other=0.0)
            n = tl.load(act_t + idx_a + 2 * H, mask=ok, other=0.0)
            hp = tl.load(states_ptr + t * B * H + idx_h, mask=ok, other=0.0).to(tl.float32)
            da_n = dh * (1.0 - z) * (1.0 - n * n)
            da_z = dh * (hp - n) * z * (1.0 - z)
            if HAS_LN:
                tl.store(dact_t + idx_x + H, da_z, mask=ok)
                tl.store(dact_t + idx_x + 2 * H, da_n, mask=ok)
            else:
                gn = tl.load(act_t + idx_a + 3 * H, mask=ok, other=0.0)
                tl.store(dgh_t + idx_x, da_n * gn * r * (1.0 - r), mask=ok)
                tl.store(dgh_t + idx_x + H, da_z, mask=ok)
                tl.store(dgh_t + idx_x + 2 * H, da_n * r, mask=ok)
                tl.store(dnx_t + idx_h, da_n, mask=ok)
        if HAS_LN:
            tl.debug_barrier()
            rstd_t = rstd_ptr + (t * B + rows) * 3
            rstd_n = tl.load(rstd_t + 2, mask=row_ok, other=1.0)
            ln_backward(dact_t, xhat_t, lnw_ptr, rstd_n, dnx_t, rows, row_ok, 2 * H, H, W3, 0, H, BLOCK_B, BLOCK_H)
            tl.debug_barrier()
            for n0 in range(0, H, BLOCK_H):
                cols = n0 + tl.arange(0, BLOCK_H)
                ok = row_ok[:, None] & (cols < H)[None, :]
                idx_x = rows[:, None] * W3 + cols[None, :]
                idx_a = rows[:, None] * W4 + cols[None, :]
                dn = tl.load(dnx_t + rows[:, None] * H + cols[None, :], mask=ok, other=0.0)
                r = tl.load(act_t + idx_a, mask=ok, other=0.0)
                gn = tl.load(act_t + idx_a + 3 * H, mask=ok, other=0.0)
                tl.store(dgh_t + idx_x + 2 * H, dn * r, mask=ok)
                tl.store(dact_t + idx_x, dn * gn * r * (1.0 - r), mask=ok)
            tl.debug_barrier()
            rstd_r = tl.load(rstd_t, mask=row_ok, other=1.0)
            rstd_z = tl.load(rstd_t + 1, mask=row_ok, other=1.0)
            ln_backward(dact_t, xhat_t, lnw_ptr, rstd_r, dgh_t, rows, row_ok, 0, H, W3, 0, W3, BLOCK_B, BLOCK_H)
            ln_backward(dact_t, xhat_t, lnw_ptr, rstd_z, dgh_t, rows, row_ok, H, H, W3, H, W3, BLOCK_B, BLOCK_H)
        tl.debug_barrier()
        for n0 in range(0, H, BLOCK_H):
            cols = n0 + tl.arange(0, BLOCK_H)
            col_ok = cols < H
            ok = row_ok[:, None] & col_ok[None, :]
            idx_h = rows[:, None] * H + cols[None, :]
            d_rec = back_dot(dgh_t, w_ptr, rows, row_ok, cols, col_ok, H, W3,
                             BLOCK_B, BLOCK_H, BLOCK_K, DOT_T, PRECISION)
            if HAS_MASK:
                d_rec *= tl.load(mask_ptr + idx_h, mask=ok, other=0.0).to(tl.float32)
            dh_carried = tl.load(dh_ptr + idx_h, mask=ok, other=0.0)
            dh = (dh_carried + tl.load(dout_ptr + t * B * H + idx_h, mask=ok, other=0.0).to(tl.float32)) * v
            z = tl.load(act_t + rows[:, None] * W4 + H + cols[None, :], mask=ok, other=0.0)
            if HAS_VALID:  # a padded step passes the state's gradient through
                d_rec += dh_carried * (1.0 - v)
            tl.store(dh_ptr + idx_h, d_rec + dh * z, mask=ok)
        tl.debug_barrier()


def _sizes(hidden: int, dtype: torch.dtype) -> dict:
    return {"BLOCK_B": BLOCK_B, "BLOCK_H": tile(hidden), "BLOCK_K": tile(hidden), **dot_config(dtype)}


def _forward(gx, h0, w_hh, b_hh, mask, ln, valid, training: bool):
    """Launch the forward kernel; returns out (T, B, H), states (T+1, B, H) and the saved buffers."""
    steps, batch, width = gx.shape
    hidden = width // 3
    f32 = {"device": gx.device, "dtype": torch.float32}
    gx, w_hh = gx.contiguous(), w_hh.contiguous()
    states = gx.new_empty(steps + 1, batch, hidden)
    states[0] = h0
    out = states[1:] if valid is None else gx.new_empty(steps, batch, hidden)
    valid = valid if valid is None else valid.to(torch.float32).contiguous()  # (T, B): 1 at real steps
    act = torch.empty(steps if training else 0, batch, 4 * hidden, **f32)
    xhat = torch.empty(steps if training and ln else 0, batch, width, **f32)
    rstd = torch.empty(steps if training and ln else 0, batch, 3, **f32)
    pre = torch.empty(batch if ln else 0, 4 * hidden, **f32)
    lnw, lnb = (ln[0].contiguous(), ln[1].contiguous()) if ln is not None else (gx, gx)
    _gru_forward[grid(batch)](
        gx, w_hh, gx if b_hh is None else b_hh.contiguous(), gx if mask is None else mask.contiguous(), lnw, lnb,
        gx if valid is None else valid, states, out, act, xhat, rstd, pre, steps, batch, hidden,
        HAS_BIAS=b_hh is not None, HAS_MASK=mask is not None, HAS_LN=ln is not None, TRAINING=training,
        HAS_VALID=valid is not None, **_sizes(hidden, gx.dtype),
    )
    return out, states, (act, xhat, rstd, valid)


class _GRUTriton(torch.autograd.Function):
    """GRU over T steps with the Triton kernels; see the module docstring."""

    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh, mask, ln_w, ln_b, valid):
        ln = None if ln_w is None else (ln_w, ln_b)
        out, states, buffers = _forward(gx, h0, w_hh, b_hh, mask, ln, valid, training=True)
        ctx.save_for_backward(w_hh, mask, ln_w)
        ctx.buffers = (states, *buffers)
        ctx.has_bias = b_hh is not None
        return out, states[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h):
        w_hh, mask, ln_w = ctx.saved_tensors
        states, act, xhat, rstd, valid = ctx.buffers
        steps, batch, hidden = states.shape[0] - 1, states.shape[1], states.shape[2]
        dtype = states.dtype
        f32 = {"device": act.device, "dtype": torch.float32}
        dgh = torch.empty(steps, batch, 3 * hidden, **f32)
        dnx = torch.empty(steps, batch, hidden, **f32)
        dact = torch.empty(steps if ln_w is not None else 0, batch, 3 * hidden, **f32)
        dh = d_h.float().contiguous().clone()
        _gru_backward[grid(batch)](
            d_out.contiguous(), w_hh.contiguous(), act if mask is None else mask.contiguous(),
            act if ln_w is None else ln_w.contiguous(), act if valid is None else valid, act, xhat, rstd, states,
            dgh, dnx, dact, dh, steps, batch, hidden,
            HAS_MASK=mask is not None, HAS_LN=ln_w is not None, HAS_VALID=valid is not None, **_sizes(hidden, dtype),
        )
        h_rec = states[:-1].float()  # (T, B, H): h_{t-1} of each step
        if mask is not None:
            h_rec = h_rec * mask
        flat = dgh.view(-1, 3 * hidden)  # (T*B, 3H)
        d_w = (flat.t() @ h_rec.view(-1, hidden)).to(w_hh.dtype)  # ONE product over all steps
        d_b = flat.sum(0).to(w_hh.dtype) if ctx.has_bias else None
        d_gx = torch.cat([dgh[:, :, : 2 * hidden], dnx], dim=2).to(dtype)  # (T, B, 3H)
        d_ln_w = d_ln_b = None
        if ln_w is not None:
            d_ln_w = (dact * xhat).sum((0, 1)).to(ln_w.dtype)
            d_ln_b = dact.sum((0, 1)).to(ln_w.dtype)
        return d_gx, dh.to(dtype), d_w, d_b, None, d_ln_w, d_ln_b, None


def gru_sequence(
    gx: Tensor,
    h0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None = None,
    ln: tuple[Tensor, Tensor] | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one GRU layer (reset_after=True) over a sequence with the Triton kernels.

    Shapes in the module docstring; ``valid`` (T, B) bool or None is False at padding,
    where the state is carried unchanged and the output is zero. Returns ``out`` (T, B, H)
    and ``h_T`` (B, H), taken at each sequence's last valid step. When no
    input needs a gradient (inference) only the forward kernel runs, saving nothing, or for
    small batches without layer norm the persistent kernel of :mod:`seqlab.kernels.triton_infer`.
    """
    tensors = (gx, h0, w_hh, b_hh) + (ln if ln is not None else ())
    if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors):
        ln_w, ln_b = ln if ln is not None else (None, None)
        return _GRUTriton.apply(gx, h0, w_hh, b_hh, mask, ln_w, ln_b, valid)
    if ln is None and triton_infer.fits(gx.shape[1], h0.shape[-1], gx.dtype, gx.device):
        return triton_infer.gru_infer(gx, h0, w_hh, b_hh, mask, valid)
    out, states, _ = _forward(gx, h0, w_hh, b_hh, mask, ln, valid, training=False)
    return out, states[-1].clone()
