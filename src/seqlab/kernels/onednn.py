"""Matrix products for the CPU kernels through oneDNN, and the input projection of all steps.

oneDNN's matmul (``torch.ops.mkldnn._linear_pointwise``, the op Inductor uses for linear
layers on the CPU) beats MKL's ``addmm`` in float32 for both kinds of product a recurrent
layer makes: the small per-step ones (B=32, H=256, 2 cores: ~60 µs vs ~105 µs) and the
large ones over all steps (T·B = 3200 rows, 128 → 1024: 1.3–1.7× on 1 and 2 threads, on
the shared 2-core CPU under load). Other dtypes, and builds without oneDNN, use torch's
ordinary products; the numbers are the same to float rounding.

:func:`project` is ``F.linear`` over the whole sequence, ``gx = x W_ihᵀ + b_ih``, with a
backward whose two large products (dx and dW_ih) also go through oneDNN, where autograd
through ``F.linear`` would call MKL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def use_onednn(*xs: Tensor) -> bool:
    """float32 and contiguous (a strided slice sends oneDNN to a slow path: seconds, not µs)."""
    return _ONEDNN and torch.backends.mkldnn.enabled and all(x.dtype == torch.float32 and x.is_contiguous() for x in xs)


def pack(weight: Tensor, batch: int) -> Tensor:
    """``weight`` (M, K) reordered once into oneDNN's blocked layout for products with ``batch``
    rows, for :func:`linear` / :func:`linear_add` to reuse at every step (about 15% faster per
    product at B=32, H=256); the weight itself where that is not available."""
    if use_onednn(weight) and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        return torch.ops.mkldnn._reorder_linear_weight(weight, batch)
    return weight


def _onednn_ready(x: Tensor, weight: Tensor) -> bool:
    """A packed weight always goes to oneDNN (strided operands are copied: a strided slice
    sends oneDNN to a slow path)."""
    return weight.is_mkldnn or use_onednn(x, weight)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x weightᵀ + bias: x (N, K), weight (M, K) or packed by :func:`pack` -> (N, M)."""
    if _onednn_ready(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, "none", [], "")
    return x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())


def linear_add(x: Tensor, weight: Tensor, add: Tensor) -> Tensor:
    """add + x weightᵀ, a fresh tensor: x (N, K), weight (M, K) or packed, add (N, M)."""
    if _onednn_ready(x, weight) and (weight.is_mkldnn or use_onednn(add)):
        return torch.ops.mkldnn._linear_pointwise.binary(x.contiguous(), add.contiguous(), weight, None, "add")
    return torch.addmm(add, x, weight.t())


def grad_weight(d_pre: Tensor, inputs: Tensor) -> Tensor:
    """d_preᵀ inputs, ONE product over all rows: d_pre (N, M), inputs (N, K) -> (M, K)."""
    if use_onednn(d_pre, inputs):  # as (inputsᵀ d_pre)ᵀ, the layout oneDNN runs fastest
        return torch.ops.mkldnn._linear_pointwise(inputs.t(), d_pre.t(), None, "none", [], "").t()
    return d_pre.t() @ inputs


def project(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The input projection of every step, ``x W_ihᵀ + b_ih``: x (T, B, I), weight (G·H, I) -> (T, B, G·H).

    Same value and gradients as ``F.linear``; float32 runs forward and backward through
    oneDNN (see the module docstring), other dtypes through ``F.linear`` itself.
    """
    if not use_onednn(weight) or x.dtype != torch.float32:
        return F.linear(x, weight, bias)
    return _Projection.apply(x.contiguous(), weight, bias)  # a batch-first input is copied once


class _Projection(torch.autograd.Function):
    """gx = x Wᵀ + b over all steps; backward dx = d_gx W, dW = d_gxᵀ x, db = Σ d_gx."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        steps, batch, width = x.shape
        flat = x.reshape(steps * batch, width)  # (T*B, I): a view, x is contiguous
        ctx.save_for_backward(flat, weight)
        ctx.has_bias = bias is not None
        return linear(flat, weight, bias).view(steps, batch, -1)  # (T, B, G*H)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_gx):
        flat, weight = ctx.saved_tensors
        d_flat = d_gx.reshape(flat.shape[0], -1).contiguous()  # (T*B, G*H)
        d_x = d_w = d_b = None
        if ctx.needs_input_grad[0]:
            d_x = linear(d_flat, weight.t().contiguous()).view(*d_gx.shape[:2], -1)  # (T, B, I)
        if ctx.needs_input_grad[1]:
            d_w = grad_weight(d_flat, flat)  # (G*H, I): one product over all steps
        if ctx.has_bias and ctx.needs_input_grad[2]:
            d_b = d_flat.sum(0)
        return d_x, d_w, d_b
