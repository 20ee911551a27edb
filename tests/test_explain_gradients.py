"""gradient-flow: the measured ‖∂L/∂x_t‖ against a recurrence whose gradient is known in
closed form, and against torch.nn's layers with the same weights."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab import nn as snn
from seqlab.cli.main import main
from seqlab.explain_gradients import cell_gradients, gradient_flow


def test_a_linear_recurrence_gives_a_to_the_distance():
    """h_t = relu(a·h_{t-1} + x_t) with a > 0 and x > 0 never clips, so h_T = Σ_t a^{T-t} x_t and
    ∂(Σ h_T)/∂x_t = a^{T-t}·(1, ..., 1): its norm is a^{T-t}·√H."""
    a, hidden, length = 0.8, 4, 30
    layer = snn.RNN(hidden, hidden, nonlinearity="relu", batch_first=True).double()
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.eye(hidden))
        layer.weight_hh_l0.copy_(a * torch.eye(hidden, dtype=torch.float64))  # 0.8 in float32 is not 0.8
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    x = torch.rand(1, length, hidden, dtype=torch.float64) + 0.1
    norms = gradient_flow(layer, x)
    expected = torch.tensor([a ** (length - 1 - t) * math.sqrt(hidden) for t in range(length)], dtype=torch.float64)
    assert torch.allclose(norms, expected, rtol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_seqlab_layers_give_torch_nns_gradients(cell):
    norms = cell_gradients(length=40, hidden=8, seed=3)[cell]
    torch.manual_seed(3)  # as cell_gradients builds each layer: same seed, same default init
    reference = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](8, 8, batch_first=True).double()
    x = torch.randn(1, 40, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(norms, gradient_flow(reference, x), rtol=1e-9, atol=0)


def test_the_vanilla_rnn_vanishes_fastest_and_forget_bias_helps_the_lstm():
    plain = cell_gradients(length=60, hidden=16, seed=0)
    share = {cell: float(v[0] / v[-1]) for cell, v in plain.items()}  # 59 steps back
    assert share["rnn"] < share["lstm"] and share["rnn"] < share["gru"]
    biased = cell_gradients(length=60, hidden=16, seed=0, forget_bias=2.0)
    assert float(biased["lstm"][0] / biased["lstm"][-1]) > 1e3 * share["lstm"]
    assert torch.equal(biased["rnn"], plain["rnn"])  # only the LSTM's forget gate moved


def test_cli_prints_the_table_and_draws_the_plot(tmp_path, capsys):
    png = tmp_path / "flow.png"
    assert main(["explain", "gradient-flow", "--length", "30", "--hidden", "8", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "gradient-flow: ‖∂L/∂x_t‖ for L = Σ h_T, one layer of 8 units at default init, T = 30"
    rows = lines[3:lines.index("", 3)]
    assert [int(row.split()[0]) for row in rows] == [0, 1, 2, 5, 10, 20]  # the listed distances shorter than T
    assert lines[3].split()[2::2] == ["1.0e+00"] * 3  # each cell's share at the last step
    assert f"plot: {png}" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["--length", "1"], "--length: expected an integer in 2..10000, got 1"),
    (["--hidden", "0"], "--hidden: expected an integer in 2..10000, got 0"),  # 0 is a value, not "not given"
    (["--inputs", "a b"], "--inputs: gradient-flow takes only --length, --hidden, --seed, --forget-bias, --plot"),
])
def test_cli_refuses_bad_options(capsys, argv, message):
    assert main(["explain", "gradient-flow", *argv]) == 2
    assert message in capsys.readouterr().err
