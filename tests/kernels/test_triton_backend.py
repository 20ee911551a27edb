"""backend="triton" in seqlab.nn.LSTM / GRU: same numbers as the reference backend, clear errors.

The layer tests run the kernels under Triton's interpreter (see conftest.py); the error
tests run without triton too.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import seqlab.nn as snn
from seqlab.kernels import triton_common
from seqlab.nn.recurrent import _Recurrent

X = torch.randn(5, 2, 3)


@pytest.mark.parametrize(
    "cls, layers, bidirectional, lengths, kwargs",
    [
        (snn.LSTM, 2, True, [5, 2, 4], {"recurrent_dropout": 0.25}),
        (snn.LSTM, 1, False, None, {"layer_norm": True}),
        (snn.GRU, 2, False, None, {"recurrent_dropout": 0.25, "layer_norm": True}),
        (snn.GRU, 1, True, [3, 5, 0], {}),
    ],
)
def test_triton_layer_matches_reference(interpreted, cls, layers, bidirectional, lengths, kwargs):
    """Batch first, training: same masks (same seed), same outputs, states and parameter
    gradients; with lengths, the backward direction starts at each sequence's end."""
    torch.manual_seed(0)
    shape = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True, **kwargs)
    reference = cls(4, 6, backend="reference", **shape)
    triton = cls(4, 6, backend="triton", **shape)
    triton.load_state_dict(reference.state_dict())
    x = torch.randn(3, 5, 4)
    results = []
    for layer in (reference, triton):
        torch.manual_seed(1)
        out, state = layer(x, lengths=lengths)
        states = list(state) if isinstance(state, tuple) else [state]
        loss = out.pow(2).sum() + sum(s.sum() for s in states)
        results.append((out, states, torch.autograd.grad(loss, list(layer.parameters()))))
    (out_r, states_r, grads_r), (out_t, states_t, grads_t) = results
    torch.testing.assert_close(out_t, out_r, atol=2e-5, rtol=1e-4)
    for s_t, s_r in zip(states_t, states_r):
        torch.testing.assert_close(s_t, s_r, atol=2e-5, rtol=1e-4)
    for (name, _), g_t, g_r in zip(reference.named_parameters(), grads_t, grads_r):
        torch.testing.assert_close(g_t, g_r, atol=5e-5, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("layer_norm", [True, False])
def test_triton_layer_inference_matches_reference(interpreted, layer_norm):
    """Eval mode, no gradients, a packed sequence: the inference kernels (nothing saved;
    without layer norm the persistent one), same numbers."""
    torch.manual_seed(0)
    reference = snn.LSTM(3, 8, layer_norm=layer_norm, backend="reference").eval()
    triton = snn.LSTM(3, 8, layer_norm=layer_norm, backend="triton").eval()
    triton.load_state_dict(reference.state_dict())
    packed = pack_padded_sequence(X, [5, 3])
    with torch.no_grad():
        (out_r, (h_r, c_r)), (out_t, (h_t, c_t)) = reference(packed), triton(packed)
    for got, expected in [(out_t.data, out_r.data), (h_t, h_r), (c_t, c_r)]:
        torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


def _no_triton(monkeypatch):
    monkeypatch.setattr(triton_common, "available", lambda: False)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: snn.RNN(3, 4, backend="triton"),
            "backend='triton' (seqlab's Triton GPU kernels) cannot run the Elman RNN",
        ),
        (
            lambda: snn.LSTM(3, 4, proj_size=2, backend="triton"),
            "backend='triton' (seqlab's Triton GPU kernels) cannot run proj_size",
        ),
        (
            lambda: snn.GRU(3, 4, reset_after=False, backend="triton"),
            "cannot run reset_after=False; use backend='reference' or 'auto'",
        ),
    ],
)
def test_features_the_kernels_lack_fail_at_construction(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_missing_triton_package_is_named(monkeypatch):
    _no_triton(monkeypatch)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "backend='triton' (seqlab's Triton GPU kernels) cannot run without the triton package (pip install triton)"
        ),
    ):
        snn.GRU(3, 4, backend="triton")


def test_cpu_inputs_need_a_gpu_or_the_interpreter(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(
        ValueError,
        match=re.escape("cannot run inputs on cpu (it needs a CUDA GPU; TRITON_INTERPRET=1 runs it on the CPU)"),
    ):
        snn.LSTM(3, 4, backend="triton")(X)


def test_float64_is_named(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(
        ValueError, match=re.escape("cannot run dtype torch.float64 (it runs float32, float16, bfloat16)")
    ):
        snn.GRU(3, 4, backend="triton").double()(X.double())


@pytest.mark.parametrize("installed", [True, False])
def test_auto_never_takes_triton_for_cpu_inputs(monkeypatch, installed):
    """Even under the interpreter, or without triton: auto runs these on the CPU paths."""
    if not installed:
        _no_triton(monkeypatch)
    monkeypatch.setenv("TRITON_INTERPRET", "1")

    def refuse(*args):
        raise AssertionError("auto took the Triton kernels for a CPU input")

    monkeypatch.setattr(snn.LSTM, "_triton_sequence", refuse)
    monkeypatch.setattr(snn.GRU, "_triton_sequence", refuse)
    for layer in (snn.LSTM(3, 4, recurrent_dropout=0.5, layer_norm=True), snn.GRU(3, 4, layer_norm=True)):
        out, _ = layer(X)
        assert out.shape == (5, 2, 4)


def test_auto_leaves_triton_to_be_asked_for_by_name(monkeypatch):
    """auto never takes the kernels (unmeasured on a GPU); backend='triton' does, where it can.

    The choice itself, on a stand-in for a CUDA tensor (no GPU here).
    """

    class FakeCuda:
        device = torch.device("cuda")
        dtype = torch.float32

    monkeypatch.setattr(triton_common, "available", lambda: True)
    assert not _Recurrent._use_triton(snn.LSTM(3, 4, recurrent_dropout=0.5), FakeCuda())
    assert _Recurrent._use_triton(snn.LSTM(3, 4, recurrent_dropout=0.5, backend="triton"), FakeCuda())
    assert not _Recurrent._use_triton(snn.LSTM(3, 4, proj_size=2), FakeCuda())
