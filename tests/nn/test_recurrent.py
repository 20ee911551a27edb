"""Layers: parity with torch.nn (outputs, states, gradients), lengths, state dicts, packing."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab import nn as snn

MODES = {"rnn": (snn.RNN, torch.nn.RNN), "lstm": (snn.LSTM, torch.nn.LSTM), "gru": (snn.GRU, torch.nn.GRU)}
INPUT, HIDDEN = 5, 6


def _flat_state(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


def _torch_run(layer, x, hx, lengths, batch_first):
    """torch.nn's own way of running variable lengths: a packed sequence."""
    if lengths is None:
        return layer(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, state = layer(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return out, state


def _loss_and_grads(layer, out, state):
    layer.zero_grad()
    # a loss that touches every output and every final state with distinct weights
    weights_out = torch.linspace(-1, 1, out.numel()).view_as(out)
    flat = _flat_state(state)
    loss = (out * weights_out).sum() + (flat * torch.linspace(1, 2, flat.numel())).sum()
    loss.backward()
    return {name: p.grad.clone() for name, p in layer.named_parameters()}


CASES = list(itertools.product(MODES, [1, 2], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("mode, num_layers, bidirectional, batch_first, with_lengths", CASES)
def test_parity_with_torch_nn(mode, num_layers, bidirectional, batch_first, with_lengths):
    ours_cls, torch_cls = MODES[mode]
    torch.manual_seed(0)
    reference = ours_cls(
        INPUT, HIDDEN, num_layers, bidirectional=bidirectional, batch_first=batch_first, backend="reference"
    )
    native = ours_cls(INPUT, HIDDEN, num_layers, bidirectional=bidirectional, batch_first=batch_first, backend="native")
    plain = torch_cls(INPUT, HIDDEN, num_layers, bidirectional=bidirectional, batch_first=batch_first)
    native.load_state_dict(reference.state_dict())
    plain.load_state_dict(reference.state_dict())
    steps, batch = 7, 4
    x = torch.randn((batch, steps, INPUT) if batch_first else (steps, batch, INPUT))
    lengths = torch.tensor([7, 3, 5, 1]) if with_lengths else None
    rows = num_layers * (2 if bidirectional else 1)
    h0 = torch.randn(rows, batch, HIDDEN)
    hx = (h0, torch.randn(rows, batch, HIDDEN)) if mode == "lstm" else h0

    want_out, want_state = _torch_run(plain, x, hx, lengths, batch_first)
    want_grads = _loss_and_grads(plain, want_out, want_state)
    layers = [reference, native]
    if mode != "rnn":  # our fused CPU loop runs LSTM and GRU
        fused = ours_cls(
            INPUT, HIDDEN, num_layers, bidirectional=bidirectional, batch_first=batch_first, backend="fused"
        )
        fused.load_state_dict(reference.state_dict())
        layers.append(fused)
    for layer in layers:
        out, state = layer(x, hx, lengths=lengths)
        torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_flat_state(state), _flat_state(want_state), atol=1e-5, rtol=1e-5)
        grads = _loss_and_grads(layer, out, state)
        for name, grad in want_grads.items():
            torch.testing.assert_close(grads[name], grad, atol=1e-5, rtol=1e-4, msg=f"gradient of {name}")


@settings(max_examples=15, deadline=None)
@given(
    mode=st.sampled_from(sorted(MODES)),
    steps=st.integers(1, 6),
    batch=st.integers(1, 4),
    input_size=st.integers(1, 4),
    hidden=st.integers(1, 5),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    data=st.data(),
)
def test_parity_random_shapes(mode, steps, batch, input_size, hidden, num_layers, bidirectional, data):
    ours_cls, torch_cls = MODES[mode]
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
    ours = ours_cls(input_size, hidden, num_layers, bidirectional=bidirectional, backend="reference")
    plain = torch_cls(input_size, hidden, num_layers, bidirectional=bidirectional)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(steps, batch, input_size)
    out, state = ours(x, lengths=lengths)
    want_out, want_state = _torch_run(plain, x, None, lengths, False)
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_flat_state(state), _flat_state(want_state), atol=1e-5, rtol=1e-5)


def test_lstm_proj_size_matches_torch():
    torch.manual_seed(3)
    ours = snn.LSTM(4, 6, 2, bidirectional=True, proj_size=3, backend="reference")
    plain = torch.nn.LSTM(4, 6, 2, bidirectional=True, proj_size=3)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(5, 2, 4)
    hx = (torch.randn(4, 2, 3), torch.randn(4, 2, 6))
    out, (h, c) = ours(x, hx)
    want_out, (want_h, want_c) = plain(x, hx)
    assert out.shape == (5, 2, 6)
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, want_h, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(c, want_c, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_state_dict_loads_both_ways_and_is_a_torch_layer(mode):
    ours_cls, torch_cls = MODES[mode]
    ours, plain = ours_cls(3, 4, 2, bidirectional=True), torch_cls(3, 4, 2, bidirectional=True)
    assert isinstance(ours, torch_cls)
    assert list(ours.state_dict()) == list(plain.state_dict())
    ours.load_state_dict(plain.state_dict())
    plain.load_state_dict(ours.state_dict())
    for (name, a), (_, b) in zip(ours.named_parameters(), plain.named_parameters()):
        assert a.shape == b.shape and torch.equal(a, b), name


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("backend", ["reference", "native"])
def test_unbatched_and_packed_inputs_match_torch(mode, backend):
    ours_cls, torch_cls = MODES[mode]
    ours = ours_cls(3, 4, bidirectional=True, backend=backend)
    plain = torch_cls(3, 4, bidirectional=True)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(5, 3)  # unbatched (T, input_size)
    out, _ = ours(x)
    torch.testing.assert_close(out, plain(x)[0], atol=1e-5, rtol=1e-5)
    padded = torch.randn(5, 3, 3)
    packed = pack_padded_sequence(padded, torch.tensor([5, 2, 4]), enforce_sorted=False)
    got, got_state = ours(packed)
    want, want_state = plain(packed)
    torch.testing.assert_close(pad_packed_sequence(got)[0], pad_packed_sequence(want)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_flat_state(got_state), _flat_state(want_state), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("backend", ["reference", "native"])
def test_padding_invariance(mode, backend):
    """A sequence batched with longer ones gives what it gives alone, to 1e-6."""
    torch.manual_seed(4)
    layer = MODES[mode][0](3, 5, 2, bidirectional=True, batch_first=True, backend=backend)
    seqs = [torch.randn(n, 3) for n in (2, 9, 5)]
    batch = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    out, state = layer(batch, lengths=torch.tensor([2, 9, 5]))
    for b, seq in enumerate(seqs):
        alone_out, alone_state = layer(seq.unsqueeze(0))
        torch.testing.assert_close(out[b, : len(seq)], alone_out[0], atol=1e-6, rtol=1e-6)
        assert torch.all(out[b, len(seq) :] == 0)
        if mode == "lstm":
            torch.testing.assert_close(state[0][:, b], alone_state[0][:, 0], atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(state[1][:, b], alone_state[1][:, 0], atol=1e-6, rtol=1e-6)
        else:
            torch.testing.assert_close(state[:, b], alone_state[:, 0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("backend", ["reference", "native", "auto"])
def test_zero_length_gives_zero_output_and_initial_state(mode, backend):
    layer = MODES[mode][0](3, 4, bidirectional=True, backend=backend)
    x = torch.randn(6, 2, 3)
    h0 = torch.randn(2, 2, 4)
    hx = (h0, torch.randn(2, 2, 4)) if mode == "lstm" else h0
    out, state = layer(x, hx, lengths=torch.tensor([0, 4]))
    assert torch.all(out[:, 0] == 0)
    assert torch.all(out[4:, 1] == 0) and torch.any(out[:4, 1] != 0)
    for got, initial in zip(state if mode == "lstm" else (state,), hx if mode == "lstm" else (hx,)):
        assert torch.equal(got[:, 0], initial[:, 0])


def test_lengths_may_be_a_list_or_on_the_input_device():
    layer = snn.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    a, _ = layer(x, lengths=[5, 3])
    b, _ = layer(x, lengths=torch.tensor([5, 3], dtype=torch.int32))
    assert torch.equal(a, b)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_gradcheck_layer_float64_with_lengths_and_layer_norm(mode):
    torch.manual_seed(5)
    layer = MODES[mode][0](2, 3, 2, bidirectional=True, layer_norm=True, backend="reference").double()
    with torch.no_grad():  # move the layer-norm parameters off their initial values
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda x, *p: layer(x, lengths=lengths)[0], (x, *layer.parameters()))


def test_gru_reset_before_layer_uses_the_reset_before_cell():
    torch.manual_seed(6)
    layer = snn.GRU(3, 4, reset_after=False)
    cell = snn.GRUCell(3, 4, reset_after=False)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # weight_ih_l0 -> weight_ih
    x = torch.randn(5, 2, 3)
    out, h = layer(x)
    state = torch.zeros(2, 4)
    for t in range(5):
        state = cell(x[t], state)
        torch.testing.assert_close(out[t], state)
    plain = torch.nn.GRU(3, 4)
    plain.load_state_dict(layer.state_dict())
    assert not torch.allclose(plain(x)[0], out, atol=1e-4)  # the conventions really differ


def test_auto_uses_native_in_eval_with_recurrent_dropout(monkeypatch):
    layer = snn.LSTM(3, 4, recurrent_dropout=0.3)
    calls = []
    monkeypatch.setattr(layer, "_native", lambda *a: calls.append("native") or snn.LSTM._native(layer, *a))
    monkeypatch.setattr(
        layer, "_reference", lambda *a, **k: calls.append("reference") or snn.LSTM._reference(layer, *a, **k)
    )
    x = torch.randn(4, 2, 3)
    layer.train()
    layer(x)
    layer.eval()
    layer(x)
    assert calls == ["reference", "native"]


def test_extra_repr_shows_non_defaults():
    text = repr(snn.GRU(3, 4, recurrent_dropout=0.25, layer_norm=True, reset_after=False, backend="reference"))
    assert "recurrent_dropout=0.25" in text and "layer_norm=True" in text
    assert "reset_after=False" in text and "backend='reference'" in text


@pytest.mark.parametrize(
    "cls, kwargs",
    [(snn.LSTM, {"recurrent_dropout": 0.3}), (snn.GRU, {"recurrent_dropout": 0.3}), (snn.GRU, {"reset_after": False})],
)
def test_fused_backend_matches_reference_where_native_cannot_run(cls, kwargs):
    """auto picks the fused loop for these in training; same masks (same seed), same numbers."""
    torch.manual_seed(7)
    reference = cls(4, 5, 2, bidirectional=True, backend="reference", **kwargs)
    results = []
    for backend in ("reference", "fused", "auto"):
        layer = cls(4, 5, 2, bidirectional=True, backend=backend, **kwargs)
        layer.load_state_dict(reference.state_dict())
        torch.manual_seed(8)
        out, _ = layer(torch.randn(7, 3, 4), lengths=torch.tensor([7, 0, 3]))
        out.pow(2).sum().backward()
        results.append((out, {n: p.grad for n, p in layer.named_parameters()}))
    for out, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0], atol=1e-6, rtol=1e-5)
        for name, grad in grads.items():
            torch.testing.assert_close(grad, results[0][1][name], atol=1e-5, rtol=1e-5, msg=name)


def test_auto_routes_reference_only_features_to_the_fused_loop_on_cpu(monkeypatch):
    import seqlab.nn.recurrent as recurrent

    calls = []
    real = recurrent.gru_sequence
    monkeypatch.setattr(recurrent, "gru_sequence", lambda *a: calls.append("fused") or real(*a))
    snn.GRU(3, 4, reset_after=False)(torch.randn(5, 2, 3))
    snn.GRU(3, 4, reset_after=False, layer_norm=True)(torch.randn(5, 2, 3))  # the fused loop has no layer norm
    assert calls == ["fused"]


@pytest.mark.parametrize("cls", [snn.LSTM, snn.GRU])
def test_auto_runs_uneven_cpu_lengths_in_the_fused_loop_and_full_lengths_unpacked(cls, monkeypatch):
    """torch's CPU layer runs a packed batch step by step with a backward that grows with T^2
    (a 2-layer BiLSTM at T=300 trained 17x slower packed than in the fused loop), so auto
    takes the fused loop for uneven lengths past PACKED_SLOW_STEPS; lengths that are all T
    need no packing at all. The numbers stay those of torch.nn (parity within float tolerance)."""
    import seqlab.nn.recurrent as recurrent
    from seqlab.nn.recurrent_checks import PACKED_SLOW_STEPS

    torch.manual_seed(3)
    peer = getattr(torch.nn, cls.__name__)(4, 5, 2, bidirectional=True, batch_first=True)
    layer = cls(4, 5, 2, bidirectional=True, batch_first=True)
    layer.load_state_dict(peer.state_dict())
    steps = PACKED_SLOW_STEPS + 1
    x = torch.randn(3, steps, 4)
    packs = []
    real_pack = recurrent.pack_padded_sequence
    monkeypatch.setattr(recurrent, "pack_padded_sequence", lambda *a, **k: packs.append(1) or real_pack(*a, **k))
    paths = []
    monkeypatch.setattr(layer, "_native", lambda *a: paths.append("native") or cls._native(layer, *a))
    monkeypatch.setattr(layer, "_reference", lambda *a, **k: paths.append(("reference", k["fused"]))
                        or cls._reference(layer, *a, **k))

    uneven = torch.tensor([steps, 2, 4])
    out, _ = layer(x, lengths=uneven)
    expected, _ = pad_packed_sequence(peer(pack_padded_sequence(x, uneven, batch_first=True,
                                                                 enforce_sorted=False))[0],
                                      batch_first=True, total_length=steps)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert paths == [("reference", True)]

    out, _ = layer(x, lengths=torch.tensor([steps] * 3))
    torch.testing.assert_close(out, peer(x)[0], atol=1e-6, rtol=1e-5)
    assert paths[1:] == ["native"] and packs == []  # all full: torch's layer, unpacked

    with torch.no_grad():  # inference: no backward to fear, torch's packed forward runs it
        out, _ = layer(x, lengths=uneven)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert paths[2:] == ["native"] and packs == [1]

    short = x[:, :PACKED_SLOW_STEPS]  # a short batch: torch's packed layer, gradients and all
    out, _ = layer(short, lengths=torch.tensor([PACKED_SLOW_STEPS, 2, 4]))
    assert paths[3:] == ["native"] and packs == [1, 1]
