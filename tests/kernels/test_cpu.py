"""CPU kernels: values and gradients against autograd through the reference cell equations."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab import nn as snn
from seqlab.kernels.cpu import gru_sequence, lstm_sequence
from seqlab.nn.cells import gru_step, lstm_step

KINDS = {"lstm": 4, "gru": 3, "gru_reset_before": 3}


def _reference(kind, gx, h, c, w_hh, b_hh, mask, valid):
    """The per-step loop of ``_run_direction`` (seqlab.nn.recurrent) for one direction."""
    outputs = []
    for t in range(gx.shape[0]):
        if kind == "lstm":
            h_new, c_new = lstm_step(gx[t], h, c, w_hh, b_hh, mask=mask)
        else:
            h_new, c_new = gru_step(gx[t], h, w_hh, b_hh, reset_after=kind == "gru", mask=mask), None
        if valid is None:
            h, c = h_new, c_new
        else:
            keep = valid[t].unsqueeze(1)
            h = torch.where(keep, h_new, h)
            c = None if c is None else torch.where(keep, c_new, c)
        outputs.append(h_new)
    out = torch.stack(outputs) if outputs else gx.new_zeros(0, h.shape[0], h.shape[1])
    if valid is not None:
        out = out * valid.unsqueeze(-1).to(out.dtype)
    return (out, h, c) if kind == "lstm" else (out, h)


def _fast(kind, gx, h, c, w_hh, b_hh, mask, valid):
    if kind == "lstm":
        return lstm_sequence(gx, h, c, w_hh, b_hh, mask=mask, valid=valid)
    return gru_sequence(gx, h, w_hh, b_hh, reset_after=kind == "gru", mask=mask, valid=valid)


def _inputs(kind, steps, batch, hidden, bias, masked, lengths, dtype=torch.float64, seed=0):
    """Leaf tensors (gx, h0, c0, w_hh, b_hh) and the constants (mask, valid)."""
    gen = torch.Generator().manual_seed(seed)
    width = KINDS[kind] * hidden

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_()

    gx, h0, c0 = rand(steps, batch, width), rand(batch, hidden), rand(batch, hidden)
    w_hh, b_hh = rand(width, hidden), (rand(width) if bias else None)
    mask = (torch.rand(batch, hidden, generator=gen, dtype=dtype) > 0.3).to(dtype) / 0.7 if masked else None
    valid = None if lengths is None else torch.arange(steps).unsqueeze(1) < torch.tensor(lengths)  # (T, B)
    return (gx, h0, c0 if kind == "lstm" else None, w_hh, b_hh), mask, valid


def _loss(outputs):
    """A loss that weights every output and final state differently."""
    return sum((o * torch.linspace(-1, 2, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outputs)


VARIANTS = list(itertools.product(KINDS, [True, False], [False, True], [None, [5, 0, 2]]))


@pytest.mark.parametrize("kind, bias, masked, lengths", VARIANTS)
def test_gradcheck(kind, bias, masked, lengths):
    leaves, mask, valid = _inputs(kind, steps=5, batch=3, hidden=2, bias=bias, masked=masked, lengths=lengths)
    args = [x for x in leaves if x is not None]

    def run(*xs):
        it = iter(xs)
        gx, h0 = next(it), next(it)
        c0 = next(it) if kind == "lstm" else None
        w_hh = next(it)
        b_hh = next(it) if bias else None
        return _fast(kind, gx, h0, c0, w_hh, b_hh, mask, valid)

    assert torch.autograd.gradcheck(run, args)


@pytest.mark.parametrize("kind, bias, masked, lengths", VARIANTS)
def test_matches_reference_values_and_grads(kind, bias, masked, lengths):
    leaves, mask, valid = _inputs(kind, steps=5, batch=3, hidden=4, bias=bias, masked=masked, lengths=lengths)
    args = [x for x in leaves if x is not None]
    expected = _reference(kind, *leaves, mask, valid)
    got = _fast(kind, *leaves, mask, valid)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    grads_expected = torch.autograd.grad(_loss(expected), args)
    grads_got = torch.autograd.grad(_loss(got), args)
    for e, g in zip(grads_expected, grads_got):
        torch.testing.assert_close(g, e)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    steps=st.integers(0, 6),
    batch=st.integers(1, 4),
    hidden=st.integers(1, 5),
    masked=st.booleans(),
    data=st.data(),
)
def test_random_shapes_match_reference(kind, steps, batch, hidden, masked, data):
    lengths = data.draw(st.none() | st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    leaves, mask, valid = _inputs(kind, steps, batch, hidden, bias=True, masked=masked, lengths=lengths)
    args = [x for x in leaves if x is not None]
    expected = _reference(kind, *leaves, mask, valid)
    got = _fast(kind, *leaves, mask, valid)
    assert got[0].shape == (steps, batch, hidden) and got[1].shape == (batch, hidden)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    grads_expected = torch.autograd.grad(_loss(expected), args, materialize_grads=True)  # gx unused if T = 0
    for e, g in zip(grads_expected, torch.autograd.grad(_loss(got), args, materialize_grads=True)):
        torch.testing.assert_close(g, e)


def _fast_layer(layer, x, h0, c0, mask, valid):
    """One layer, one direction through the kernel, with the layer's own weights."""
    gx = F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)  # (T, B, G*H)
    if isinstance(layer, snn.LSTM):
        return lstm_sequence(gx, h0, c0, layer.weight_hh_l0, layer.bias_hh_l0, mask=mask, valid=valid)
    return gru_sequence(
        gx, h0, layer.weight_hh_l0, layer.bias_hh_l0, reset_after=layer.reset_after, mask=mask, valid=valid
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("with_lengths", [False, True])
def test_float32_parity_with_reference_layer(kind, with_lengths):
    """Medium shape, float32, recurrent dropout on: the kernel gives the reference layer's
    outputs, states and gradients (weights, input, initial state) to 1e-5."""
    steps, batch, inputs, hidden, p = 30, 8, 16, 32, 0.25
    torch.manual_seed(0)
    if kind == "lstm":
        layer = snn.LSTM(inputs, hidden, recurrent_dropout=p, backend="reference")
    else:
        layer = snn.GRU(inputs, hidden, recurrent_dropout=p, reset_after=kind == "gru", backend="reference")
    x = torch.randn(steps, batch, inputs, requires_grad=True)
    h0 = torch.randn(1, batch, hidden, requires_grad=True)
    c0 = torch.randn(1, batch, hidden, requires_grad=True)
    lengths = torch.tensor([30, 1, 0, 17, 29, 30, 5, 12]) if with_lengths else None
    valid = None if lengths is None else torch.arange(steps).unsqueeze(1) < lengths

    torch.manual_seed(1)  # the layer draws its dropout mask first thing; draw the same one
    state = (h0, c0) if kind == "lstm" else h0
    out_ref, state_ref = layer(x, state, lengths=lengths)
    torch.manual_seed(1)
    mask = torch.bernoulli(torch.full((batch, hidden), 1.0 - p)) / (1.0 - p)
    got = _fast_layer(layer, x, h0[0], c0[0], mask, valid)
    state_ref = state_ref if kind == "lstm" else (state_ref,)
    expected = (out_ref, *[s[0] for s in state_ref])
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)

    leaves = [x, h0, *layer.parameters()] + ([c0] if kind == "lstm" else [])
    grads_expected = torch.autograd.grad(_loss(expected), leaves)
    grads_got = torch.autograd.grad(_loss(got), leaves)
    for e, g in zip(grads_expected, grads_got):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_no_grad_inputs_and_no_bias_run():
    gx, h0, w_hh = torch.randn(3, 2, 12), torch.zeros(2, 4), torch.randn(12, 4)
    out, h = gru_sequence(gx, h0, w_hh, None)
    assert out.shape == (3, 2, 4) and h.shape == (2, 4) and not out.requires_grad
    torch.testing.assert_close(h, out[-1])


def test_bad_shapes_name_the_shape():
    with pytest.raises(ValueError, match=r"gx \(T, B, 4\*H\)"):
        lstm_sequence(torch.zeros(3, 2, 10), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(16, 4), None)
    with pytest.raises(ValueError, match="valid must be a bool tensor"):
        gru_sequence(torch.zeros(3, 2, 12), torch.zeros(2, 4), torch.zeros(12, 4), None, valid=torch.ones(3, 2))
