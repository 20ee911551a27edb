"""Triton device functions shared by the LSTM and GRU kernels (imports triton).

Index conventions: a program owns ``rows`` (BLOCK_B,) of the batch (``row_ok`` marks
those < B); a tile of hidden units is ``cols`` (BLOCK_H,) with ``col_ok``; row-major
buffers of width ``stride`` hold gate blocks of width H at offsets ``q * H``.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    # tanh(x) = 2σ(2x) − 1: exact in the limits (exp overflow gives −1, not NaN)
    return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0


@triton.jit
def rec_dot(
    h_ptr, mask_ptr, w_ptr, rows, row_ok, w_rows, w_ok, H,
    HAS_MASK: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """(h ⊙ mask)[rows] W[w_rows]ᵀ -> (BLOCK_B, BLOCK_H) float32; h, mask (B, H), W (N, H)."""
    acc = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
    for k0 in range(0, H, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        k_ok = kk < H
        hk_ok = row_ok[:, None] & k_ok[None, :]
        hk = tl.load(h_ptr + rows[:, None] * H + kk[None, :], mask=hk_ok, other=0.0).to(tl.float32)
        if HAS_MASK:
            hk = hk * tl.load(mask_ptr + rows[:, None] * H + kk[None, :], mask=hk_ok, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + w_rows[None, :] * H + kk[:, None], mask=k_ok[:, None] & w_ok[None, :], other=0.0)  # (K, N)
        acc += tl.dot(hk.to(DOT_T), w.to(DOT_T), input_precision=PRECISION)
    return acc


@triton.jit
def back_dot(
    d_ptr, w_ptr, rows, row_ok, cols, col_ok, H, K,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    DOT_T: tl.constexpr, PRECISION: tl.constexpr,
):
    """d[rows] W[:, cols] -> (BLOCK_B, BLOCK_H) float32; d (B, K) float32 row-major, W (K, H)."""
    acc = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        k_ok = kk < K
        d = tl.load(d_ptr + rows[:, None] * K + kk[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptr + kk[:, None] * H + cols[None, :], mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(d.to(DOT_T), w.to(DOT_T), input_precision=PRECISION)
    return acc


@triton.jit
def row_stats(pre_ptr, rows, row_ok, offset, H, stride, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """Mean and 1/sqrt(var + eps) over the H units at ``offset`` of each row (two passes)."""
    total = tl.zeros((BLOCK_B,), dtype=tl.float32)
    for n0 in range(0, H, BLOCK_H):
        cols = n0 + tl.arange(0, BLOCK_H)
        ok = row_ok[:, None] & (cols < H)[None, :]
        total += tl.sum(tl.load(pre_ptr + rows[:, None] * stride + offset + cols[None, :], mask=ok, other=0.0), 1)
    mean = total / H
    sq = tl.zeros((BLOCK_B,), dtype=tl.float32)
    for n0 in range(0, H, BLOCK_H):
        cols = n0 + tl.arange(0, BLOCK_H)
        ok = row_ok[:, None] & (cols < H)[None, :]
        x = tl.load(pre_ptr + rows[:, None] * stride + offset + cols[None, :], mask=ok, other=0.0)
        d = tl.where(ok, x - mean[:, None], 0.0)
        sq += tl.sum(d * d, 1)
    return mean, 1.0 / tl.sqrt(sq / H + 1e-5)  # eps of F.layer_norm, as seqlab.nn.cells uses it


@triton.jit
def affine(x, lnw_ptr, lnb_ptr, offset, cols, col_ok):
    """x̂ ⊙ γ + β for one tile of the gate block at ``offset`` (γ, β of shape (G*H,))."""
    w = tl.load(lnw_ptr + offset + cols, mask=col_ok, other=0.0).to(tl.float32)
    b = tl.load(lnb_ptr + offset + cols, mask=col_ok, other=0.0).to(tl.float32)
    return x * w[None, :] + b[None, :]


@triton.jit
def _gain(lnw_ptr, offset, cols, col_ok):
    return tl.load(lnw_ptr + offset + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]


@triton.jit
def ln_backward(
    dact_ptr, xhat_ptr, lnw_ptr, rstd, dpre_ptr, rows, row_ok, offset, H, stride, out_offset, out_stride,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
):
    """Layer norm's backward for one gate block (Ba et al. 2016), a = x̂ ⊙ γ + β::

        dpre = rstd ⊙ (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂)),   dx̂ = da ⊙ γ

    dact, xhat: (B, stride) float32 at this step, the block at ``offset`` (also γ's offset);
    dpre: (B, out_stride) float32, written at ``out_offset``; rstd (BLOCK_B,).
    """
    m1 = tl.zeros((BLOCK_B,), dtype=tl.float32)
    m2 = tl.zeros((BLOCK_B,), dtype=tl.float32)
    for n0 in range(0, H, BLOCK_H):
        cols = n0 + tl.arange(0, BLOCK_H)
        col_ok = cols < H
        ok = row_ok[:, None] & col_ok[None, :]
        idx = rows[:, None] * stride + offset + cols[None, :]
        dxh = tl.load(dact_ptr + idx, mask=ok, other=0.0) * _gain(lnw_ptr, offset, cols, col_ok)
        m1 += tl.sum(dxh, 1)
        m2 += tl.sum(dxh * tl.load(xhat_ptr + idx, mask=ok, other=0.0), 1)
    m1 = m1 / H
    m2 = m2 / H
    for n0 in range(0, H, BLOCK_H):
        cols = n0 + tl.arange(0, BLOCK_H)
        col_ok = cols < H
        ok = row_ok[:, None] & col_ok[None, :]
        idx = rows[:, None] * stride + offset + cols[None, :]
        dxh = tl.load(dact_ptr + idx, mask=ok, other=0.0) * _gain(lnw_ptr, offset, cols, col_ok)
        xh = tl.load(xhat_ptr + idx, mask=ok, other=0.0)
        out = rows[:, None] * out_stride + out_offset + cols[None, :]
        tl.store(dpre_ptr + out, rstd[:, None] * (dxh - m1[:, None] - xh * m2[:, None]), mask=ok)
