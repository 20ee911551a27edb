"""Variational recurrent dropout: one mask per sequence, reused at every step.

The probe is an RNN with relu, identity recurrent weights, unit recurrent bias and a zero
input path, so h_t = relu(m ⊙ h_{t-1} + 1) with m the dropout mask. Starting from
h_0 = 1, a dropped unit (m = 0) reads exactly 1 at every step; a kept unit
(m = 1/(1-p)) grows. Whether a unit reads 1 therefore shows its mask at each step.
"""

import pytest
import torch

from seqlab import nn as snn

P = 0.4


def _probe(hidden=64, **kwargs):
    layer = snn.RNN(1, hidden, nonlinearity="relu", recurrent_dropout=P, **kwargs)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.bias_ih_l0.zero_()
        layer.weight_hh_l0.copy_(torch.eye(hidden))
        layer.bias_hh_l0.fill_(1.0)
    return layer


def _dropped(layer, batch=8, steps=6):
    hidden = layer.hidden_size
    out, _ = layer(torch.zeros(steps, batch, 1), torch.ones(1, batch, hidden))
    return out == 1.0  # (T, B, H): True where the unit was dropped at that step


def test_mask_is_constant_over_time_and_differs_between_sequences():
    torch.manual_seed(0)
    layer = _probe().train()
    dropped = _dropped(layer)
    assert torch.equal(dropped, dropped[:1].expand_as(dropped))  # same mask at every step
    assert not torch.equal(dropped[0, 0], dropped[0, 1])  # a different mask per sequence
    assert 0.2 < dropped[0].float().mean().item() < 0.6  # about P of the units dropped


def test_off_in_eval_mode():
    layer = _probe().eval()
    assert not _dropped(layer).any()
    out, _ = layer(torch.zeros(3, 2, 1), torch.ones(1, 2, layer.hidden_size))
    assert torch.allclose(out[-1], torch.full_like(out[-1], 4.0))  # h_t = h_{t-1} + 1


def test_expected_scale_is_preserved():
    # First step: h_1 = m ⊙ h_0 + 1, so mean(h_1 - 1) over many masks estimates E[m] h_0,
    # which inverted dropout keeps at h_0 (= 1 here): the expected activation is unchanged.
    torch.manual_seed(1)
    layer = _probe(hidden=256).train()
    out, _ = layer(torch.zeros(1, 512, 1), torch.ones(1, 512, 256))
    measured = (out[0] - 1.0).mean().item()
    assert measured == pytest.approx(1.0, abs=0.02)
    kept = out[0][out[0] != 1.0]
    assert torch.allclose(kept, torch.full_like(kept, 1.0 + 1.0 / (1.0 - P)))


@pytest.mark.parametrize("cls", [snn.LSTM, snn.GRU])
def test_lstm_and_gru_train_with_recurrent_dropout_and_are_deterministic_in_eval(cls):
    torch.manual_seed(2)
    layer = cls(3, 5, 2, bidirectional=True, recurrent_dropout=0.3, layer_norm=True)
    x = torch.randn(6, 4, 3)
    layer.train()
    a, b = layer(x)[0], layer(x)[0]
    assert not torch.allclose(a, b)  # a new mask per forward pass
    a.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
