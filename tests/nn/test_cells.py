"""Cells: parity with torch's cells, float64 gradcheck, and the equations checked by hand."""

import math

import pytest
import torch

from seqlab import nn as snn
from seqlab.nn.cells import gru_step, lstm_step

CELLS = [
    (snn.RNNCell, torch.nn.RNNCell, {}),
    (snn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (snn.LSTMCell, torch.nn.LSTMCell, {}),
    (snn.GRUCell, torch.nn.GRUCell, {}),
]


@pytest.mark.parametrize("ours, theirs, kwargs", CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(ours, theirs, kwargs, bias):
    torch.manual_seed(0)
    cell = ours(5, 4, bias=bias, **kwargs)
    ref = theirs(5, 4, bias=bias, **kwargs)
    ref.load_state_dict(cell.state_dict())  # same names and shapes, both ways
    cell.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5)
    state = (torch.randn(3, 4), torch.randn(3, 4)) if ours is snn.LSTMCell else torch.randn(3, 4)
    for args in [(x,), (x, state), (x[0], state[0] if isinstance(state, torch.Tensor) else tuple(s[0] for s in state))]:
        got, want = cell(*args), ref(*args)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "cell",
    [
        snn.RNNCell(3, 2),
        snn.RNNCell(3, 2, nonlinearity="relu"),
        snn.LSTMCell(3, 2),
        snn.GRUCell(3, 2),
        snn.GRUCell(3, 2, reset_after=False),
    ],
    ids=["rnn-tanh", "rnn-relu", "lstm", "gru", "gru-reset-before"],
)
def test_cell_gradcheck_float64(cell):
    torch.manual_seed(1)
    cell = cell.double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    if isinstance(cell, snn.LSTMCell):
        c = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        fn = lambda x, h, c, *p: torch.cat(cell(x, (h, c)), dim=-1)  # noqa: E731
        inputs = (x, h, c, *cell.parameters())
    else:
        fn = lambda x, h, *p: cell(x, h)  # noqa: E731
        inputs = (x, h, *cell.parameters())
    assert torch.autograd.gradcheck(fn, inputs)


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_gru_reset_before_matches_hand_computed_scalar():
    # One unit, one input: every product is a scalar, so the original Cho et al. form
    #   r = σ(w_ir x + b_ir + w_hr h + b_hr),  z = σ(w_iz x + b_iz + w_hz h + b_hz)
    #   g = tanh(w_ig x + b_ig + w_hg (r h) + b_hg),  h' = z h + (1 − z) g
    # can be evaluated with math alone and compared with the reset-after form.
    w_ih, w_hh = [0.3, -0.2, 0.5], [0.7, 0.1, -0.4]  # rows r, z, g
    b_ih, b_hh = [0.05, -0.1, 0.2], [0.0, 0.3, -0.25]
    x, h = 1.5, -0.6
    r = _sigmoid(w_ih[0] * x + b_ih[0] + w_hh[0] * h + b_hh[0])
    z = _sigmoid(w_ih[1] * x + b_ih[1] + w_hh[1] * h + b_hh[1])
    g_before = math.tanh(w_ih[2] * x + b_ih[2] + w_hh[2] * (r * h) + b_hh[2])
    g_after = math.tanh(w_ih[2] * x + b_ih[2] + r * (w_hh[2] * h + b_hh[2]))
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    gx = (t(w_ih) * x + t(b_ih)).view(1, 3)
    hh = t([[h]])
    before = gru_step(gx, hh, t(w_hh).view(3, 1), t(b_hh), reset_after=False)
    after = gru_step(gx, hh, t(w_hh).view(3, 1), t(b_hh), reset_after=True)
    assert before.item() == pytest.approx(z * h + (1 - z) * g_before, abs=1e-12)
    assert after.item() == pytest.approx(z * h + (1 - z) * g_after, abs=1e-12)
    assert before.item() != pytest.approx(after.item(), abs=1e-6)  # the two forms differ


def test_lstm_step_matches_hand_computed_scalar():
    # One unit: c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c'), with pre-activations
    # pre = gx + w_hh h + b_hh in the order i, f, g, o.
    gx, w_hh, b_hh = [0.2, -0.4, 0.9, 0.1], [0.5, -0.3, 0.8, 0.25], [0.0, 1.0, -0.1, 0.05]
    h, c = 0.4, -1.2
    i, f, g, o = (gx[k] + w_hh[k] * h + b_hh[k] for k in range(4))
    c_want = _sigmoid(f) * c + _sigmoid(i) * math.tanh(g)
    h_want = _sigmoid(o) * math.tanh(c_want)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    h_got, c_got = lstm_step(t([gx]), t([[h]]), t([[c]]), t(w_hh).view(4, 1), t(b_hh))
    assert c_got.item() == pytest.approx(c_want, abs=1e-12)
    assert h_got.item() == pytest.approx(h_want, abs=1e-12)


def test_layer_norm_normalizes_each_gate_separately():
    # With unit gain and zero bias, each gate's pre-activation block is standardized on
    # its own, so a large offset added to one gate block does not change the others.
    torch.manual_seed(2)
    hidden = 5
    gx = torch.randn(2, 4 * hidden, dtype=torch.float64)
    w_hh = torch.randn(4 * hidden, hidden, dtype=torch.float64)
    h, c = torch.randn(2, hidden, dtype=torch.float64), torch.randn(2, hidden, dtype=torch.float64)
    ln = (torch.ones(4 * hidden, dtype=torch.float64), torch.zeros(4 * hidden, dtype=torch.float64))
    shifted = gx.clone()
    shifted[:, :hidden] += 100.0  # shift the input gate block by a constant
    assert torch.allclose(
        torch.stack(lstm_step(gx, h, c, w_hh, None, ln=ln)), torch.stack(lstm_step(shifted, h, c, w_hh, None, ln=ln))
    )
    plain = torch.stack(lstm_step(shifted, h, c, w_hh, None))
    assert not torch.allclose(plain, torch.stack(lstm_step(gx, h, c, w_hh, None)))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: snn.LSTMCell(3, 2)(torch.ones(4, 5)), ValueError, "input_size=3"),
        (lambda: snn.GRUCell(3, 2)(torch.ones(2, 2, 3)), ValueError, "expected input of shape"),
        (lambda: snn.RNNCell(3, 2)(torch.ones(4, 3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda: snn.RNNCell(3, 2)(torch.ones(4, 3), torch.zeros(4, 5)), ValueError, "hx must have shape (4, 2)"),
        (lambda: snn.LSTMCell(3, 2)(torch.ones(4, 3), torch.zeros(4, 2)), TypeError, "tuple (h, c)"),
    ],
)
def test_cell_bad_input(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
