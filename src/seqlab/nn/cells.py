"""One time step of the vanilla RNN, LSTM and GRU, written from their equations.

Each ``*_step`` function maps the input projection of one step and the previous state to
the new state. The input projection ``gx = W_ih x_t + b_ih`` is computed outside, for all
steps at once (one matrix product), so only the recurrent product stays in the loop over
time. The sequence layers in :mod:`seqlab.nn.recurrent` and the cells below both call
these functions, so the equations live in one place.

Notation (G = number of gate blocks: 1 for RNN, 4 for LSTM, 3 for GRU)::

    gx      (B, G*H)  W_ih x_t + b_ih, gate blocks in torch's order
    h       (B, R)    previous hidden state (R = H, or proj_size for a projected LSTM)
    c       (B, H)    previous LSTM cell state
    w_hh    (G*H, R)  recurrent weights;  b_hh (G*H,) recurrent bias (or None)
    mask    (B, R)    recurrent-dropout mask on h before the recurrent product (or None)
    ln      (weight, bias), each (G*H,): layer norm of each gate's pre-activation (or None)

The cells ``RNNCell``, ``LSTMCell`` and ``GRUCell`` are drop-ins for torch's cells: the
same constructor, parameter names, shapes and gate order, so state dicts load both ways.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LayerNormParams = tuple[Tensor, Tensor] | None


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return F.linear(x, weight, bias)


def _gate_norm(pre: Tensor, ln: LayerNormParams, gates: int, block: slice | None = None) -> Tensor:
    """Layer-normalize each gate's pre-activation separately (Ba et al. 2016).

    pre: (B, gates*H) holding ``gates`` blocks of width H; ``block`` selects the matching
    slice of the (G*H,) gain and bias. Each block is normalized over its own H units.
    """
    if ln is None:
        return pre
    weight, bias = ln if block is None else (ln[0][block], ln[1][block])
    width = pre.shape[-1] // gates
    normed = F.layer_norm(pre.reshape(*pre.shape[:-1], gates, width), (width,))  # (B, gates, H)
    return normed.reshape(pre.shape) * weight + bias


def rnn_step(
    gx: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
    ln: LayerNormParams = None,
) -> Tensor:
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu)."""
    h_rec = h if mask is None else h * mask
    pre = _gate_norm(gx + _linear(h_rec, w_hh, b_hh), ln, 1)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    gx: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
    mask: Tensor | None = None,
    ln: LayerNormParams = None,
) -> tuple[Tensor, Tensor]:
    """LSTM (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000)::

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate
    f = σ(W_if x + b_if + W_hf h + b_hf)      forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   candidate ("gate" gate)
    o = σ(W_io x + b_io + W_ho h + b_ho)      output gate
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)          (then h_t = W_hr h_t with a projection, Sak et al. 2014)
    """
    h_rec = h if mask is None else h * mask
    pre = _gate_norm(gx + _linear(h_rec, w_hh, b_hh), ln, 4)  # (B, 4H)
    i, f, g, o = pre.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if w_hr is not None:
        h_new = h_new @ w_hr.t()  # (B, H) -> (B, proj_size)
    return h_new, c_new


def gru_step(
    gx: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    reset_after: bool = True,
    mask: Tensor | None = None,
    ln: LayerNormParams = None,
) -> Tensor:
    """GRU (Cho et al. 2014) in both conventions::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)      update gate
        reset_after=True  (torch, cuDNN, Keras default):
            g = tanh(W_ig x + b_ig + r ⊙ (W_hg h + b_hg))
        reset_after=False (the original form):
            g = tanh(W_ig x + b_ig + W_hg (r ⊙ h) + b_hg)
        h_t = z ⊙ h_{t-1} + (1 − z) ⊙ g

    Recurrent dropout masks only the h that enters the recurrent products; the carry
    term ``z ⊙ h_{t-1}`` uses the unmasked state.
    """
    hidden = h.shape[-1]
    h_rec = h if mask is None else h * mask
    gx_rz, gx_g = gx[..., : 2 * hidden], gx[..., 2 * hidden :]
    b_rz = None if b_hh is None else b_hh[: 2 * hidden]
    b_g = None if b_hh is None else b_hh[2 * hidden :]
    rz = _gate_norm(gx_rz + _linear(h_rec, w_hh[: 2 * hidden], b_rz), ln, 2, slice(0, 2 * hidden))
    r, z = torch.sigmoid(rz).chunk(2, dim=-1)
    if reset_after:
        g_pre = gx_g + r * _linear(h_rec, w_hh[2 * hidden :], b_g)
    else:
        g_pre = gx_g + _linear(r * h_rec, w_hh[2 * hidden :], b_g)
    g = torch.tanh(_gate_norm(g_pre, ln, 1, slice(2 * hidden, 3 * hidden)))
    return z * h + (1.0 - z) * g


def _check_cell_input(cell: nn.Module, x: Tensor, hx: Tensor | None, name: str) -> bool:
    """Validate a cell's input; return True if it is unbatched (1-D)."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"{name}: input must be a floating-point tensor, got {_describe(x)}")
    if x.dim() not in (1, 2):
        raise ValueError(
            f"{name}: expected input of shape (batch, {cell.input_size}) or ({cell.input_size},), got {tuple(x.shape)}"
        )
    if x.shape[-1] != cell.input_size:
        raise ValueError(f"{name}: input has {x.shape[-1]} features, but input_size={cell.input_size}")
    return x.dim() == 1


def _check_cell_state(state: Tensor, expected: tuple[int, ...], name: str, what: str) -> None:
    if not torch.is_tensor(state):
        raise TypeError(f"{name}: {what} must be a tensor, got {type(state).__name__}")
    if tuple(state.shape) != expected:
        raise ValueError(f"{name}: {what} must have shape {expected}, got {tuple(state.shape)}")


def _describe(x: object) -> str:
    return f"a {x.dtype} tensor" if torch.is_tensor(x) else type(x).__name__


def _one_state_step(cell: nn.Module, x: Tensor, hx: Tensor | None, name: str, step) -> Tensor:
    """Run ``step(gx, h) -> h'`` for a cell whose state is one tensor (RNN, GRU).

    Handles unbatched input, a missing initial state and the checks at the boundary.
    """
    unbatched = _check_cell_input(cell, x, hx, name)
    x = x.unsqueeze(0) if unbatched else x
    batch = x.shape[0]
    if hx is None:
        hx = x.new_zeros(batch, cell.hidden_size)
    else:
        hx = hx.unsqueeze(0) if unbatched else hx
        _check_cell_state(hx, (batch, cell.hidden_size), name, "hx")
    h = step(_linear(x, cell.weight_ih, cell.bias_ih), hx)
    return h.squeeze(0) if unbatched else h


class RNNCell(nn.RNNCell):
    """One step of the Elman RNN; a drop-in for ``torch.nn.RNNCell`` (see :func:`rnn_step`).

    Input ``x`` (B, input_size) or (input_size,); state ``hx`` (B, H) or (H,); returns h' (B, H).
    """

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        return _one_state_step(
            self, x, hx, "RNNCell", lambda gx, h: rnn_step(gx, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        )


class LSTMCell(nn.LSTMCell):
    """One step of the LSTM; a drop-in for ``torch.nn.LSTMCell`` (see :func:`lstm_step`).

    Input ``x`` (B, input_size) or (input_size,); state ``(h, c)`` each (B, H) or (H,);
    returns ``(h', c')``.
    """

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        unbatched = _check_cell_input(self, x, hx, "LSTMCell")
        x = x.unsqueeze(0) if unbatched else x
        batch = x.shape[0]
        if hx is None:
            zeros = x.new_zeros(batch, self.hidden_size)
            hx = (zeros, zeros)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
            hx = tuple(s.unsqueeze(0) if unbatched else s for s in hx)
            for state, what in zip(hx, ("h", "c")):
                _check_cell_state(state, (batch, self.hidden_size), "LSTMCell", what)
        gx = _linear(x, self.weight_ih, self.bias_ih)
        h, c = lstm_step(gx, hx[0], hx[1], self.weight_hh, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(nn.GRUCell):
    """One step of the GRU; a drop-in for ``torch.nn.GRUCell`` (see :func:`gru_step`).

    ``reset_after=False`` gives the original Cho et al. form (reset before the recurrent
    product); parameter shapes are the same in both forms. Input ``x`` (B, input_size) or
    (input_size,); state ``hx`` (B, H) or (H,); returns h' (B, H).
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *, reset_after: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.reset_after = reset_after

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        return _one_state_step(
            self, x, hx, "GRUCell", lambda gx, h: gru_step(gx, h, self.weight_hh, self.bias_hh, self.reset_after)
        )
