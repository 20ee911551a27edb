"""The Triton LSTM and GRU kernels against the reference cell equations (seqlab.nn.cells).

They run under Triton's CPU interpreter (the ``interpreted`` fixture, tests/conftest.py)
on small random shapes, with the same recurrent-dropout mask given to both sides.

Tolerances:
- float32: atol 2e-5, rtol 1e-4 for outputs, final states and every gradient. The kernels
  compute in float32 with IEEE products; the observed differences are ~1e-6 (summation order).
- bfloat16: against the float32 reference on the same bfloat16 values, outputs within 0.05
  and gradients within 5% of the largest gradient of each input. The kernels round h (and
  gx's gradient) to bfloat16 each step but keep c and the gate math in float32; the
  reference backend run in bfloat16 is itself ~0.01 away from the float32 result. The
  interpreter runs bfloat16 products in float32 (its bf16 tl.dot is broken in triton 3.9),
  so the bf16 tensor-core product is checked only on a GPU (benchmarks/triton_lstm.py).
"""

from __future__ import annotations

import pytest
import torch

from seqlab.nn.cells import gru_step, lstm_step

GATES = {"lstm": 4, "gru": 3}
# (cell, T, B, H, mask, layer norm, lengths): H=70 spans two hidden tiles of 64, B=18 two
# programs; lengths include 0 (the state stays the initial one) and the full length.
CASES = [
    ("lstm", 4, 3, 20, False, False, None),
    ("lstm", 3, 18, 9, True, False, None),
    ("lstm", 5, 2, 70, False, True, None),
    ("lstm", 4, 4, 24, True, True, [4, 1, 0, 3]),
    ("gru", 4, 3, 20, False, False, None),
    ("gru", 3, 18, 9, True, False, None),
    ("gru", 5, 2, 70, False, True, None),
    ("gru", 4, 4, 24, True, True, [4, 1, 0, 3]),
]


def _inputs(cell, steps, batch, hidden, use_mask, use_ln, seed, dtype=torch.float32):
    """Random inputs as a dict; the mask is Bernoulli(0.7) / 0.7 as the layer draws it."""
    gen = torch.Generator().manual_seed(seed)
    width = GATES[cell] * hidden
    x = {
        "gx": torch.randn(steps, batch, width, generator=gen),
        "h0": torch.randn(batch, hidden, generator=gen),
        "w_hh": torch.randn(width, hidden, generator=gen) / hidden**0.5,
        "b_hh": torch.randn(width, generator=gen),
    }
    if cell == "lstm":
        x["c0"] = torch.randn(batch, hidden, generator=gen)
    if use_ln:
        x["ln_w"] = torch.rand(width, generator=gen) + 0.5
        x["ln_b"] = torch.randn(width, generator=gen) * 0.1
    x = {k: v.to(dtype).requires_grad_() for k, v in x.items()}
    mask = (torch.rand(batch, hidden, generator=gen) < 0.7).to(dtype) / 0.7 if use_mask else None
    return x, mask


def _valid(lengths, steps):
    """(T, B) bool, False at padding; None without lengths."""
    return None if lengths is None else torch.arange(steps).unsqueeze(1) < torch.tensor(lengths)


def _reference(cell, x, mask, valid=None):
    """The per-step loop over seqlab.nn.cells, padding handled as seqlab.nn.recurrent does
    (a padded step keeps the state and outputs zero); returns [out (T, B, H), h_T(, c_T)]."""
    ln = (x["ln_w"], x["ln_b"]) if "ln_w" in x else None
    h, c, outs = x["h0"], x.get("c0"), []
    for t, gx_t in enumerate(x["gx"]):
        if cell == "lstm":
            h_new, c_new = lstm_step(gx_t, h, c, x["w_hh"], x["b_hh"], None, mask, ln)
        else:
            h_new, c_new = gru_step(gx_t, h, x["w_hh"], x["b_hh"], True, mask, ln), None
        keep = torch.ones(h.shape[0], 1, dtype=torch.bool) if valid is None else valid[t].unsqueeze(1)
        h = torch.where(keep, h_new, h)
        c = None if c is None else torch.where(keep, c_new, c)
        outs.append(h_new * keep)
    return [torch.stack(outs), h] + ([c] if cell == "lstm" else [])


def _kernel(kernels, cell, x, mask, valid=None):
    ln = (x["ln_w"], x["ln_b"]) if "ln_w" in x else None
    if cell == "lstm":
        return list(kernels.lstm.lstm_sequence(x["gx"], x["h0"], x["c0"], x["w_hh"], x["b_hh"], mask, ln, valid))
    return list(kernels.gru.gru_sequence(x["gx"], x["h0"], x["w_hh"], x["b_hh"], mask, ln, valid))


def _grads(outputs, x, seed):
    """Gradients of a random linear function of all outputs with respect to every input."""
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o.shape, generator=gen) for o in outputs]
    loss = sum((o.float() * w).sum() for o, w in zip(outputs, weights))
    return dict(zip(x, torch.autograd.grad(loss, list(x.values()))))


@pytest.mark.parametrize("cell, steps, batch, hidden, use_mask, use_ln, lengths", CASES)
def test_kernel_matches_reference_float32(interpreted, cell, steps, batch, hidden, use_mask, use_ln, lengths):
    x, mask = _inputs(cell, steps, batch, hidden, use_mask, use_ln, seed=steps * 100 + hidden)
    valid = _valid(lengths, steps)
    expected = _reference(cell, x, mask, valid)
    got = _kernel(interpreted, cell, x, mask, valid)
    for name, g, e in zip(["out", "h_T", "c_T"], got, expected):
        torch.testing.assert_close(g, e, atol=2e-5, rtol=1e-4, msg=lambda m, name=name: f"{cell} {name}: {m}")
    grads_got, grads_expected = _grads(got, x, seed=1), _grads(expected, x, seed=1)
    for name in x:
        torch.testing.assert_close(
            grads_got[name], grads_expected[name], atol=2e-5, rtol=1e-4, msg=lambda m, name=name: f"{cell} d{name}: {m}"
        )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_inference_kernel_matches_training_kernel(interpreted, cell):
    """Without gradients the forward kernel saves nothing (cells ping-pong): same numbers."""
    x, mask = _inputs(cell, 6, 4, 24, use_mask=True, use_ln=True, seed=7)
    valid = _valid([6, 2, 5, 0], 6)
    trained = _kernel(interpreted, cell, x, mask, valid)
    with torch.no_grad():
        inferred = _kernel(interpreted, cell, x, mask, valid)
    assert all(not o.requires_grad for o in inferred)
    for t, i in zip(trained, inferred):
        torch.testing.assert_close(i, t.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_kernel_bfloat16_within_documented_tolerance(interpreted, cell):
    x16, mask16 = _inputs(cell, 5, 3, 24, use_mask=True, use_ln=True, seed=11, dtype=torch.bfloat16)
    x32 = {k: v.detach().float().requires_grad_() for k, v in x16.items()}
    mask32 = mask16.float()
    got = _kernel(interpreted, cell, x16, mask16)
    expected = _reference(cell, x32, mask32)
    assert all(g.dtype == torch.bfloat16 for g in got)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.float(), e, atol=5e-2, rtol=0)
    grads_got, grads_expected = _grads(got, x16, seed=2), _grads(expected, x32, seed=2)
    for name in x16:
        error = (grads_got[name].float() - grads_expected[name]).abs().max()
        assert error <= 0.05 * grads_expected[name].abs().max(), f"{cell} d{name}: {error}"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_persistent_inference_kernel_matches_reference(interpreted, monkeypatch, cell):
    """B ≤ 16 without layer norm: the sequence functions take the weights-on-chip kernel (3
    programs of 16 units for H=40, the last one partial); the interpreter runs it one launch
    per step (its grid barrier runs only on a GPU)."""
    x, mask = _inputs(cell, 5, 3, 40, use_mask=True, use_ln=False, seed=5)
    valid = _valid([5, 0, 2], 5)
    expected = _reference(cell, x, mask, valid)
    calls = []
    name = f"{cell}_infer"
    real = getattr(interpreted.infer, name)
    monkeypatch.setattr(interpreted.infer, name, lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        got = _kernel(interpreted, cell, x, mask, valid)
    assert calls == [1]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e.detach(), atol=2e-5, rtol=1e-4)


def test_persistent_kernel_fits_small_batches_and_on_chip_weights(interpreted):
    fits = interpreted.infer.fits
    assert fits(16, 40, torch.float32, torch.device("cpu"))
    assert not fits(17, 40, torch.float32, torch.device("cpu"))  # B > 16: the batch-block kernel
    assert not fits(4, 1000, torch.float32, torch.device("cpu"))  # 4 * 16 * 1024 float32 weights: too large
    assert fits(4, 1000, torch.bfloat16, torch.device("cpu"))


def test_zero_steps_return_the_initial_state(interpreted):
    x, _ = _inputs("lstm", 0, 2, 16, use_mask=False, use_ln=False, seed=3)
    out, h, c = _kernel(interpreted, "lstm", x, None)
    assert out.shape == (0, 2, 16)
    torch.testing.assert_close(h, x["h0"].detach(), atol=0, rtol=0)
    torch.testing.assert_close(c, x["c0"].detach(), atol=0, rtol=0)
