"""Fused CPU loops for one layer, one direction of LSTM and GRU, with a custom backward.

The caller passes the input projection of every step, ``gx = W_ih x_t + b_ih`` (one
matrix product over the whole sequence), so only the recurrent product stays in the loop.
The equations are those of :func:`seqlab.nn.cells.lstm_step` and
:func:`seqlab.nn.cells.gru_step`; the tests check values and gradients against them.

Why it is faster than autograd through the per-step loop:

- forward: preallocated buffers written with ``out=``/in-place ops, both biases folded
  into one buffer before the loop, the recurrent product fused with the add of gx
  (oneDNN in float32, the weights packed once per call: :mod:`seqlab.kernels.onednn`),
  and for the LSTM one sigmoid over all four gates, tanh taken as 2σ(2a) − 1 (torch's
  CPU tanh costs several sigmoids);
- backward: every factor of the gate gradients that does not depend on the incoming
  gradient (σ', tanh', the carried c, the validity mask) is computed for all steps at
  once before the reverse loop, which then runs only a few ops and one product per step::

      dgates_t = coef_t ⊙ [dc_t, dc_t, dc_t, dh_t]            (LSTM; coef from the forward)
      dh_{t-1} = (dgates_t W_hh) ⊙ mask + carry_t ⊙ dh_t + dout_{t-1}

  and after the loop the recurrent weight gradient is ONE large product over all steps,
  ``dW_hh = dgates(T·B, G·H)ᵀ h_rec(T·B, H)``, instead of T small ones.

Shapes (G = 4 for LSTM in torch's order i, f, g, o; G = 3 for GRU, r, z, n)::

    gx     (T, B, G*H)   input projection of all steps (b_ih included)
    h0, c0 (B, H)        initial state
    w_hh   (G*H, H)      recurrent weights;  b_hh (G*H,) or None
    mask   (B, H)        recurrent-dropout mask on h before the recurrent product, or None
    valid  (T, B) bool   False at padding: the state is carried unchanged and the output
                         is zero (as ``_run_direction`` in seqlab.nn.recurrent), or None

Layer norm and LSTM ``proj_size`` are not supported here; the caller routes them to the
reference loop. The backward is once-differentiable (no double backward).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from seqlab.kernels.onednn import grad_weight as _grad_weight
from seqlab.kernels.onednn import linear as _linear
from seqlab.kernels.onednn import linear_add as _linear_add
from seqlab.kernels.onednn import pack as _pack


def lstm_sequence(
    gx: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mask: Tensor | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM layer over a sequence (equations in :func:`seqlab.nn.cells.lstm_step`).

    Args: gx (T, B, 4H); h0, c0 (B, H); w_hh (4H, H); b_hh (4H,) or None; mask (B, H) or
    None; valid (T, B) bool or None. Returns ``out`` (T, B, H) (zero where not valid), and
    the final states ``h_T``, ``c_T`` (B, H), taken at each sequence's last valid step.
    """
    _check(gx, h0, w_hh, b_hh, mask, valid, gates=4, name="lstm_sequence")
    return _LSTMSequence.apply(gx, h0, c0, w_hh, b_hh, mask, valid)


def gru_sequence(
    gx: Tensor,
    h0: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    reset_after: bool = True,
    mask: Tensor | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run one GRU layer over a sequence (equations in :func:`seqlab.nn.cells.gru_step`).

    Args: gx (T, B, 3H); h0 (B, H); w_hh (3H, H); b_hh (3H,) or None; ``reset_after`` picks
    the candidate's form; mask (B, H) or None; valid (T, B) bool or None. Returns ``out``
    (T, B, H) (zero where not valid) and the final state ``h_T`` (B, H).
    """
    _check(gx, h0, w_hh, b_hh, mask, valid, gates=3, name="gru_sequence")
    function = _GRUSequence if reset_after else _GRUSequenceResetBefore
    return function.apply(gx, h0, w_hh, b_hh, mask, valid)


def _check(gx, h0, w_hh, b_hh, mask, valid, gates: int, name: str) -> None:
    steps, batch, width = gx.shape
    hidden = h0.shape[-1]
    if width != gates * hidden or tuple(w_hh.shape) != (gates * hidden, hidden) or tuple(h0.shape) != (batch, hidden):
        raise ValueError(
            f"{name}: expected gx (T, B, {gates}*H), h0 (B, H), w_hh ({gates}*H, H); got gx {tuple(gx.shape)}, "
            f"h0 {tuple(h0.shape)}, w_hh {tuple(w_hh.shape)}"
        )
    if b_hh is not None and tuple(b_hh.shape) != (gates * hidden,):
        raise ValueError(f"{name}: b_hh must have shape ({gates * hidden},), got {tuple(b_hh.shape)}")
    if mask is not None and tuple(mask.shape) != (batch, hidden):
        raise ValueError(f"{name}: mask must have shape ({batch}, {hidden}), got {tuple(mask.shape)}")
    if valid is not None and (tuple(valid.shape) != (steps, batch) or valid.dtype != torch.bool):
        raise ValueError(
            f"{name}: valid must be a bool tensor of shape ({steps}, {batch}), got {valid.dtype} {tuple(valid.shape)}"
        )


# -- helpers shared by the backward passes ----------------------------------------------


def _prev_states(h0: Tensor, states: Tensor) -> Tensor:
    """The state entering each step: (T, B, H) = [h0, h_0, ..., h_{T-2}] (empty if T = 0)."""
    return torch.cat([h0.unsqueeze(0), states[:-1]])[: states.shape[0]]


def _valid_factors(valid: Tensor | None, d_out: Tensor, dtype: torch.dtype):
    """(v, 1 - v) as (T, B, 1) floats, and d_out zeroed at padding (the output is zero there)."""
    if valid is None:
        return None, None, d_out
    v = valid.unsqueeze(-1).to(dtype)  # (T, B, 1)
    return v, 1.0 - v, d_out * v


def _carry_grad(d_prev_out: Tensor | None, dh: Tensor, carry: Tensor | None) -> Tensor:
    """``d_prev_out + carry ⊙ dh`` (a fresh tensor); terms that are None are left out."""
    if carry is None:
        return dh.new_zeros(dh.shape) if d_prev_out is None else d_prev_out.clone()
    return dh * carry if d_prev_out is None else torch.addcmul(d_prev_out, dh, carry)


# -- LSTM -----------------------------------------------------------------------------


class _LSTMSequence(torch.autograd.Function):
    """LSTM over T steps; see the module docstring. Saves gates, cell states and tanh(c)."""

    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, b_hh, mask, valid):
        steps, batch, width = gx.shape
        hidden = width // 4
        # tanh(a) = 2σ(2a) − 1: with the g block of the pre-activation doubled (in gx + b_hh
        # and in W_hh's g rows), ONE sigmoid over all 4H columns gives i, f, o and σ(2 a_g);
        # torch's CPU tanh is several times slower than its sigmoid.
        g_block = slice(2 * hidden, 3 * hidden)
        gates = gx + b_hh if b_hh is not None else gx.clone()  # (T, B, 4H): both biases folded in
        gates[:, :, g_block].mul_(2.0)
        w_rec = w_hh.clone()
        w_rec[g_block].mul_(2.0)  # (4H, H)
        w_rec = _pack(w_rec, batch)
        out = gx.new_empty(steps, batch, hidden)  # (T, B, H): h_t of each step
        states = out if valid is None else gx.new_empty(steps, batch, hidden)  # h after each step
        cells = gx.new_empty(steps + 1, batch, hidden)  # c_0 .. c_T (carried where not valid)
        cells[0] = c0
        tanh_c = gx.new_empty(steps, batch, hidden)  # tanh(c_t) of each step's new cell
        # per-step views made once (unbind is one call, T Python indexings are T calls)
        gates_t, cells_t, tanh_t, out_t, states_t = (b.unbind(0) for b in (gates, cells, tanh_c, out, states))
        h = h0
        for t in range(steps):
            h_rec = h if mask is None else h * mask
            pre = _linear_add(h_rec, w_rec, gates_t[t])  # (B, 4H), read before gates[t] is overwritten
            i, f, g, o = torch.sigmoid(pre, out=gates_t[t]).chunk(4, dim=1)
            g.mul_(2.0).sub_(1.0)  # tanh(a_g)
            c = torch.mul(f, cells_t[t], out=cells_t[t + 1]).addcmul_(i, g)
            tanh_ct = torch.mul(c, 2.0, out=tanh_t[t]).sigmoid_().mul_(2.0).sub_(1.0)  # tanh(c), as above
            h_new = torch.mul(o, tanh_ct, out=out_t[t])
            if valid is None:
                h = h_new
            else:  # a finished sequence keeps its state
                keep = valid[t].unsqueeze(1)  # (B, 1)
                h = torch.where(keep, h_new, h, out=states_t[t])
                torch.where(keep, c, cells_t[t], out=cells_t[t + 1])
        if valid is not None:
            out.mul_(valid.unsqueeze(-1))
        ctx.save_for_backward(h0, w_hh, mask, valid)
        ctx.buffers = gates, cells, tanh_c, states
        ctx.has_bias = b_hh is not None
        return out, h.clone(), cells[steps].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        h0, w_hh, mask, valid = ctx.saved_tensors
        gates, cells, tanh_c, states = ctx.buffers
        steps, batch, width = gates.shape
        hidden = width // 4
        v, not_v, d_out = _valid_factors(valid, d_out, gates.dtype)

        # Everything that does not depend on the incoming gradient, for all steps at once.
        i, f, g, o = gates.view(steps, batch, 4, hidden).unbind(2)  # each (T, B, H)
        coef = torch.addcmul(gates, gates, gates, value=-1.0)  # s − s² = σ' for i, f, o; block g overwritten below
        coef4 = coef.view(steps, batch, 4, hidden)
        coef4[:, :, 0].mul_(g)  # di = dc ⊙ g ⊙ σ'(i)
        coef4[:, :, 1].mul_(cells[:-1])  # df = dc ⊙ c_{t-1} ⊙ σ'(f)
        torch.mul(i, 1.0 - g * g, out=coef4[:, :, 2])  # dg = dc ⊙ i ⊙ tanh'(g)
        coef4[:, :, 3].mul_(tanh_c)  # do = dh ⊙ tanh(c) ⊙ σ'(o)
        dc_dh = o * (1.0 - tanh_c * tanh_c)  # (T, B, H): dc += dh ⊙ o ⊙ tanh'(c)
        f_carry = f
        if valid is not None:  # no gate gradient at padding; state gradients pass through
            coef4.mul_(v.unsqueeze(-1))
            dc_dh.mul_(v)
            f_carry = torch.where(valid.unsqueeze(-1), f, 1.0)

        # The reverse loop: coef becomes dgates in place.
        w_back = _pack(w_hh.t().contiguous(), batch)  # (H, 4H): d_gates W_hh as a linear layer
        d_out = d_out.contiguous()  # autograd may hand an expanded tensor; oneDNN wants rows
        coef_t, dc_dh_t, f_carry_t, d_out_t = (b.unbind(0) for b in (coef4, dc_dh, f_carry, d_out))
        not_v_t = None if valid is None else not_v.unbind(0)
        dh = d_h + d_out[steps - 1] if steps else d_h  # gradient of the h leaving step t
        dc = d_c
        for t in reversed(range(steps)):
            dc = torch.addcmul(dc, dh, dc_dh_t[t])  # (B, H)
            d_gates = coef_t[t]  # (B, 4, H)
            d_gates[:, :3].mul_(dc.unsqueeze(1))
            d_gates[:, 3].mul_(dh)
            dc.mul_(f_carry_t[t])
            flat = d_gates.view(batch, width)
            if mask is None and valid is None:  # dh_{t-1} = d_gates W_hh + dout_{t-1}, one call
                dh = _linear_add(flat, w_back, d_out_t[t - 1]) if t else _linear(flat, w_back)
                continue
            d_prev = _carry_grad(d_out_t[t - 1] if t else None, dh, None if valid is None else not_v_t[t])
            if mask is None:
                dh = _linear_add(flat, w_back, d_prev)
            else:
                dh = d_prev.addcmul_(_linear(flat, w_back), mask)

        d_gx = coef  # (T, B, 4H)
        d_w = d_b = None
        if ctx.needs_input_grad[3] and steps:
            h_rec = _prev_states(h0, states)  # (T, B, H)
            if mask is not None:
                h_rec = h_rec * mask
            d_w = _grad_weight(d_gx.view(-1, width), h_rec.view(-1, hidden))  # (4H, T*B) @ (T*B, H)
        elif ctx.needs_input_grad[3]:
            d_w = torch.zeros_like(w_hh)
        if ctx.has_bias and ctx.needs_input_grad[4]:
            d_b = d_gx.sum((0, 1))
        return d_gx, dh, dc, d_w, d_b, None, None


# -- GRU ------------------------------------------------------------------------------


def _gru_blend(h: Tensor, n: Tensor, z: Tensor, out: Tensor) -> Tensor:
    """h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n = n + z ⊙ (h_{t-1} − n), written into ``out``."""
    return torch.addcmul(n, z, h - n, out=out)


def _gru_forward_finish(ctx, out, states, h, valid, h0, w_hh, mask, b_hh, buffers):
    if valid is not None:
        out.mul_(valid.unsqueeze(-1))
    ctx.save_for_backward(h0, w_hh, mask, valid)
    ctx.buffers = buffers + (states,)
    ctx.has_bias = b_hh is not None
    return out, h.clone()


class _GRUSequence(torch.autograd.Function):
    """GRU with the reset gate after the recurrent product (torch's form, reset_after=True)."""

    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh, mask, valid):
        steps, batch, width = gx.shape
        hidden = width // 3
        rz_gh = gx.new_empty(steps, batch, width)  # (T, B, 3H): r, z, and W_hn h_rec + b_hn
        cand = gx.new_empty(steps, batch, hidden)  # (T, B, H): n
        out = gx.new_empty(steps, batch, hidden)
        states = out if valid is None else gx.new_empty(steps, batch, hidden)
        w_rec = _pack(w_hh, batch)  # (3H, H)
        h = h0
        for t in range(steps):
            h_rec = h if mask is None else h * mask
            gh = _linear(h_rec, w_rec, b_hh)  # (B, 3H): W_hh h_rec + b_hh
            gh[:, : 2 * hidden].add_(gx[t, :, : 2 * hidden]).sigmoid_()  # r, z
            gh = rz_gh[t].copy_(gh)
            r, z = gh[:, : 2 * hidden].chunk(2, dim=1)
            n = torch.addcmul(gx[t, :, 2 * hidden :], r, gh[:, 2 * hidden :], out=cand[t]).tanh_()
            h_new = _gru_blend(h, n, z, out[t])
            h = h_new if valid is None else torch.where(valid[t].unsqueeze(1), h_new, h, out=states[t])
        return _gru_forward_finish(ctx, out, states, h, valid, h0, w_hh, mask, b_hh, (rz_gh, cand))

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h):
        h0, w_hh, mask, valid = ctx.saved_tensors
        rz_gh, cand, states = ctx.buffers
        steps, batch, width = rz_gh.shape
        hidden = width // 3
        v, _, d_out = _valid_factors(valid, d_out, rz_gh.dtype)
        r, z, gh_n = rz_gh.view(steps, batch, 3, hidden).unbind(2)  # each (T, B, H)
        h_prev = _prev_states(h0, states)  # (T, B, H)

        # Times dh_t, coef (T, B, 3, H) gives d pre_r, d pre_z and d(W_hn h + b_hn), the
        # gradient of the recurrent product; coef_n (T, B, H) gives d pre_n (of gx_n).
        coef = rz_gh.new_empty(steps, batch, 3, hidden)
        coef_n = torch.mul(1.0 - z, 1.0 - cand * cand)  # (1 − z) ⊙ tanh'(n)
        torch.mul(coef_n, r, out=coef[:, :, 2])  # d(W_hn h + b_hn) = d pre_n ⊙ r
        torch.mul(coef_n * gh_n, r * (1.0 - r), out=coef[:, :, 0])  # d pre_r = d pre_n ⊙ gh_n ⊙ σ'(r)
        torch.mul(h_prev - cand, z * (1.0 - z), out=coef[:, :, 1])  # d pre_z = dh ⊙ (h − n) ⊙ σ'(z)
        z_carry = z
        if valid is not None:
            coef.mul_(v.unsqueeze(-1))
            coef_n.mul_(v)
            z_carry = torch.where(valid.unsqueeze(-1), z, 1.0)

        w_back = _pack(w_hh.t().contiguous(), batch)  # (H, 3H)
        dh = d_h + d_out[steps - 1] if steps else d_h
        for t in reversed(range(steps)):
            d_gh = coef[t].mul_(dh.unsqueeze(1)).view(batch, width)  # (B, 3H): of W_hh h_rec + b_hh
            coef_n[t].mul_(dh)
            d_prev = _carry_grad(d_out[t - 1] if t else None, dh, z_carry[t])
            dh = _linear_add(d_gh, w_back, d_prev) if mask is None else d_prev.addcmul_(_linear(d_gh, w_back), mask)

        d_gh_all = coef.view(steps * batch, width)  # (T*B, 3H)
        d_gx = torch.cat([coef[:, :, :2].reshape(steps, batch, 2 * hidden), coef_n], dim=2)  # (T, B, 3H)
        d_w = d_b = None
        if ctx.needs_input_grad[2]:
            h_rec = h_prev if mask is None else h_prev * mask
            d_w = _grad_weight(d_gh_all, h_rec.reshape(-1, hidden))  # (3H, T*B) @ (T*B, H)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            d_b = d_gh_all.sum(0)
        return d_gx, dh, d_w, d_b, None, None


class _GRUSequenceResetBefore(torch.autograd.Function):
    """GRU with the reset gate before the recurrent product (Cho et al. 2014, reset_after=False).

    n = tanh(gx_n + W_hn (r ⊙ h_rec) + b_hn), so dW_hn takes (r ⊙ h_rec) as its input.
    """

    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh, mask, valid):
        steps, batch, width = gx.shape
        hidden = width // 3
        w_rz, w_n = _pack(w_hh[: 2 * hidden], batch), _pack(w_hh[2 * hidden :], batch)  # (2H, H), (H, H)
        b_rz = None if b_hh is None else b_hh[: 2 * hidden]
        rz_all = gx.new_empty(steps, batch, 2 * hidden)  # (T, B, 2H): r, z
        cand = (
            gx[:, :, 2 * hidden :] + b_hh[2 * hidden :] if b_hh is not None else gx[:, :, 2 * hidden :].clone()
        )  # (T, B, H)
        reset_h = gx.new_empty(steps, batch, hidden)  # (T, B, H): r ⊙ h_rec
        out = gx.new_empty(steps, batch, hidden)
        states = out if valid is None else gx.new_empty(steps, batch, hidden)
        h = h0
        for t in range(steps):
            h_rec = h if mask is None else h * mask
            rz = _linear(h_rec, w_rz, b_rz).add_(gx[t, :, : 2 * hidden])  # (B, 2H)
            r, z = torch.sigmoid(rz, out=rz_all[t]).chunk(2, dim=1)
            n = torch.tanh(_linear_add(torch.mul(r, h_rec, out=reset_h[t]), w_n, cand[t]), out=cand[t])
            h_new = _gru_blend(h, n, z, out[t])
            h = h_new if valid is None else torch.where(valid[t].unsqueeze(1), h_new, h, out=states[t])
        return _gru_forward_finish(ctx, out, states, h, valid, h0, w_hh, mask, b_hh, (rz_all, cand, reset_h))

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h):
        h0, w_hh, mask, valid = ctx.saved_tensors
        rz_all, cand, reset_h, states = ctx.buffers
        steps, batch, _ = rz_all.shape
        hidden = cand.shape[-1]
        w_rz_back, w_n_back = (
            _pack(w_hh[: 2 * hidden].t().contiguous(), batch),
            _pack(w_hh[2 * hidden :].t().contiguous(), batch),
        )  # (H, 2H), (H, H)
        v, _, d_out = _valid_factors(valid, d_out, rz_all.dtype)
        r, z = rz_all.view(steps, batch, 2, hidden).unbind(2)
        h_prev = _prev_states(h0, states)
        h_rec = h_prev if mask is None else h_prev * mask  # (T, B, H)

        # coef (T, B, 3, H): block 0 times d(r ⊙ h_rec) gives d pre_r; blocks 1, 2 times dh_t
        # give d pre_z and d pre_n. It becomes d_gates = [d pre_r, d pre_z, d pre_n] in place.
        coef = rz_all.new_empty(steps, batch, 3, hidden)
        torch.mul(h_rec, r * (1.0 - r), out=coef[:, :, 0])
        torch.mul(h_prev - cand, z * (1.0 - z), out=coef[:, :, 1])
        torch.mul(1.0 - z, 1.0 - cand * cand, out=coef[:, :, 2])
        z_carry = z
        if valid is not None:
            coef.mul_(v.unsqueeze(-1))
            z_carry = torch.where(valid.unsqueeze(-1), z, 1.0)

        dh = d_h + d_out[steps - 1] if steps else d_h
        for t in reversed(range(steps)):
            d_gates = coef[t]  # (B, 3, H)
            d_gates[:, 1:].mul_(dh.unsqueeze(1))
            d_reset_h = _linear(d_gates[:, 2], w_n_back)  # (B, H): gradient of r ⊙ h_rec
            d_gates[:, 0].mul_(d_reset_h)
            d_rec = _linear_add(
                d_gates.view(batch, 3 * hidden)[:, : 2 * hidden], w_rz_back, d_reset_h * r[t]
            )  # of h_rec
            d_prev = _carry_grad(d_out[t - 1] if t else None, dh, z_carry[t])
            dh = d_prev.add_(d_rec) if mask is None else d_prev.addcmul_(d_rec, mask)

        d_gx = coef.view(steps, batch, 3 * hidden)
        d_w = d_b = None
        if ctx.needs_input_grad[2]:
            flat = d_gx.view(-1, 3 * hidden)  # (T*B, 3H)
            d_w = torch.cat(
                [
                    _grad_weight(flat[:, : 2 * hidden], h_rec.reshape(-1, hidden)),
                    _grad_weight(flat[:, 2 * hidden :], reset_h.view(-1, hidden)),
                ]
            )  # (3H, H)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            d_b = d_gx.sum((0, 1))
        return d_gx, dh, d_w, d_b, None, None
