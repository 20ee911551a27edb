"""gradient-flow: how much gradient reaches each input step of an RNN, an LSTM and a GRU.

The study notes (notes/002) explain why a vanilla RNN forgets: the gradient of a loss at
the last step with respect to an early input passes through one factor ∂h_t/∂h_{t-1} =
diag(1 - h_t²) W_hh per step, so it shrinks (or grows) geometrically with the distance; the
LSTM's cell path c_t = f_t ⊙ c_{t-1} + … multiplies by the forget gate instead, which the
network can hold near 1. This example measures it: one layer of each cell at torch's default
initialization (seeded), a random input sequence x_1..x_T, the loss L = Σ h_T (the last
state's units), and ‖∂L/∂x_t‖ for every t by autograd, printed at distances T - t = 0, 1, 2,
5, 10, 20, 50, ... from the end. Untrained weights: the figures show what training starts
from, not what a trained model keeps.

A check a learner can do by hand: for a linear recurrence h_t = a·h_{t-1} + x_t (tanh near
0, W_hh = a·I, W_ih = I), ∂h_T/∂x_t = a^{T-t} I exactly; the tests run that case.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import torch

from seqlab.viz import plot_gradient_flow

CELLS = ("rnn", "lstm", "gru")
DISTANCES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)


def gradient_flow(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂x_t‖ for t = 1..T, with L = Σ h_T: ``layer`` a batch-first recurrent layer
    (seqlab.nn or torch.nn), ``x`` (1, T, I). Returns (T,) float64 norms."""
    x = x.detach().clone().requires_grad_(True)
    output, _ = layer(x)
    output[:, -1].sum().backward()
    return x.grad[0].norm(dim=-1).double()


def cell_gradients(length: int = 100, hidden: int = 32, seed: int = 0,
                   forget_bias: float = 0.0) -> dict[str, torch.Tensor]:
    """Each cell's (T,) gradient norms on the same seeded input, one layer at default init;
    ``forget_bias`` is added to the LSTM's forget-gate bias (Jozefowicz et al. 2015 use 1)."""
    from seqlab import nn as snn

    layers = {"rnn": snn.RNN, "lstm": snn.LSTM, "gru": snn.GRU}
    x = torch.randn(1, length, hidden, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = {}
    for cell in CELLS:
        torch.manual_seed(seed)
        layer = layers[cell](hidden, hidden, batch_first=True).double()
        if cell == "lstm" and forget_bias:
            with torch.no_grad():
                layer.bias_ih_l0[hidden:2 * hidden] += forget_bias  # gate blocks i, f, g, o
        out[cell] = gradient_flow(layer, x)
    return out


def format_gradients(norms: dict[str, torch.Tensor], hidden: int, forget_bias: float = 0.0) -> str:
    """A table: distance from the last step, then each cell's ‖∂L/∂x_t‖ and its share of the
    norm at the last step; a closing line per cell with the share after the longest distance."""
    length = len(next(iter(norms.values())))
    distances = [d for d in DISTANCES if d < length]
    bias = f"; LSTM forget-gate bias + {forget_bias:g}" if forget_bias else ""
    title = f"gradient-flow: ‖∂L/∂x_t‖ for L = Σ h_T, one layer of {hidden} units at default init{bias}, T = {length}"
    lines = [title, "",
             f"{'T - t':>6}" + "".join(f"{cell.upper() + ' ‖∂L/∂x_t‖':>18}{'share':>10}" for cell in CELLS)]
    for d in distances:
        row = f"{d:>6}"
        for cell in CELLS:
            value, last = float(norms[cell][length - 1 - d]), float(norms[cell][-1])
            row += f"{value:>18.3e}{value / last:>10.1e}"
        lines.append(row)
    far = distances[-1]
    lines.append("")
    lines.append(f"{far} steps back, the share left: " + ", ".join(
        f"{cell.upper()} {float(norms[cell][length - 1 - far] / norms[cell][-1]):.1e}" for cell in CELLS) + ".")
    lines.append("share: ‖∂L/∂x_t‖ / ‖∂L/∂x_T‖. A share that falls geometrically with T - t is the vanishing")
    lines.append("gradient; one that grows is the exploding one (what gradient clipping caps). At default init")
    lines.append("the LSTM's forget gates sit near σ(0) = 0.5; --forget-bias 1 or 2 holds them nearer 1.")
    return "\n".join(lines)


def explain_gradient_flow(length: int | None = None, hidden: int | None = None, seed: int | None = None,
                          forget_bias: float | None = None, plot: str | None = None, out: TextIO | None = None) -> int:
    """Print the gradient-flow table (T = 100, 32 units, seed 0, forget bias + 0 unless given);
    ``plot``: also a PNG of the shares."""
    length, hidden = 100 if length is None else length, 32 if hidden is None else hidden
    seed = 0 if seed is None else seed
    for flag, value in (("--length", length), ("--hidden", hidden)):
        if not 2 <= value <= 10_000:
            raise ValueError(f"{flag}: expected an integer in 2..10000, got {value}")
    forget_bias = 0.0 if forget_bias is None else forget_bias
    norms = cell_gradients(length, hidden, seed, forget_bias)
    out = sys.stdout if out is None else out
    print(format_gradients(norms, hidden, forget_bias), file=out)
    if plot is not None:
        try:
            plot_gradient_flow(norms, Path(plot))
        except ImportError:
            raise ValueError("--plot needs matplotlib: pip install matplotlib") from None
        print(f"plot: {plot}", file=out)
    return 0
