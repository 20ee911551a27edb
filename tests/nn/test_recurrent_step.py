"""seqlab.nn RNN/LSTM/GRU .step: one call per time step gives forward's numbers and gradients."""

import pytest
import torch

from seqlab.nn import GRU, LSTM, RNN

VARIANTS = [
    (LSTM, {}), (GRU, {}), (RNN, {}), (RNN, {"nonlinearity": "relu"}), (LSTM, {"bias": False}),
    (GRU, {"reset_after": False}), (LSTM, {"layer_norm": True}), (GRU, {"layer_norm": True}),
    (LSTM, {"proj_size": 3}), (LSTM, {"backend": "reference"}),
]


def stepped(layer, x, hx=None, masks=None):
    """Run x (B, T, I) one step per call; returns outputs (B, T, H_out) and the final state."""
    outputs, state = [], hx
    for t in range(x.shape[1]):
        out, state = layer.step(x[:, t], state, masks)
        outputs.append(out)
    return torch.stack(outputs, 1), state


@pytest.mark.parametrize("cls, kwargs", VARIANTS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_stepping_equals_forward_values_and_float64_gradients(cls, kwargs):
    torch.manual_seed(0)
    layer = cls(4, 5, num_layers=2, batch_first=True, **kwargs).double().eval()
    x = torch.randn(3, 6, 4, dtype=torch.float64, requires_grad=True)
    out, state = layer(x)
    out_s, state_s = stepped(layer, x)
    torch.testing.assert_close(out_s, out)
    torch.testing.assert_close(state_s, state)
    weights = torch.randn_like(out)
    grads = torch.autograd.grad((out * weights).sum(), [x, *layer.parameters()])
    grads_s = torch.autograd.grad((out_s * weights).sum(), [x, *layer.parameters()])
    for a, b in zip(grads_s, grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_an_initial_state_is_carried(cls):
    torch.manual_seed(0)
    layer = cls(4, 5, num_layers=2, batch_first=True).eval()
    x = torch.randn(2, 3, 4)
    h0 = torch.randn(2, 2, 5)
    hx = (h0, torch.randn(2, 2, 5)) if cls is LSTM else h0
    out, state = layer(x, hx)
    out_s, state_s = stepped(layer, x, hx)
    torch.testing.assert_close(out_s, out)
    torch.testing.assert_close(state_s, state)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_recurrent_dropout_masks_are_drawn_once_per_sequence_as_forward_does(cls):
    """Seeded alike, forward and stepping with recurrent_masks drop the same units at every step."""
    layer = cls(4, 5, num_layers=2, batch_first=True, recurrent_dropout=0.4).train()
    x = torch.randn(3, 6, 4)
    torch.manual_seed(7)
    out, state = layer(x)  # draws one mask per layer, in layer order, before any step
    torch.manual_seed(7)
    masks = layer.recurrent_masks(3, x)
    out_s, state_s = stepped(layer, x, masks=masks)
    torch.testing.assert_close(out_s, out)
    torch.testing.assert_close(state_s, state)
    assert layer.eval().recurrent_masks(3, x) is None


def test_step_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match="LSTM.step: a bidirectional layer reads the whole sequence"):
        LSTM(4, 5, bidirectional=True).step(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"GRU.step: x must be \(B, input_size=4\), got \(2, 3, 4\)"):
        GRU(4, 5).step(torch.randn(2, 3, 4))
    layer = LSTM(4, 5, num_layers=2, recurrent_dropout=0.3)
    with pytest.raises(ValueError, match="LSTM.step: 1 recurrent dropout masks for 2 layers"):
        layer.step(torch.randn(2, 4), None, (torch.ones(2, 5),))
    with pytest.raises(ValueError, match=r"LSTM.step: this layer drops recurrent units in training "
                                         r"\(recurrent_dropout=0.3\); draw masks = recurrent_masks"):
        layer.step(torch.randn(2, 4))  # silently stepping without dropout would train another model
    layer.eval().step(torch.randn(2, 4))  # nothing is dropped in eval mode: no masks needed
    layer.train()
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 5\)"):
        layer.step(torch.randn(2, 4), (torch.zeros(1, 2, 5), torch.zeros(2, 2, 5)))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_a_large_batch_without_gradients_steps_through_torchs_layer_with_the_same_numbers(cls, monkeypatch):
    from seqlab.nn import recurrent

    torch.manual_seed(0)
    layer = cls(4, 5, num_layers=2, batch_first=True).eval()
    x = torch.randn(recurrent.NATIVE_STEP_BATCH, 3, 4)
    calls = []
    native = layer._native
    monkeypatch.setattr(layer, "_native", lambda *args: (calls.append(1), native(*args))[1])
    with torch.no_grad():
        out, state = layer(x)  # one sequence call (counted once)
        out_s, state_s = stepped(layer, x)
    assert len(calls) == 1 + 3  # then one per step
    torch.testing.assert_close(out_s, out)
    torch.testing.assert_close(state_s, state)
    stepped(layer, x[:8])  # a small batch takes the cell ops
    assert len(calls) == 4
