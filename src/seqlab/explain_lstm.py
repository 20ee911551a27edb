"""lstm-example: an LSTM cell with one unit whose gates can be read, every number printed.

The gates of the study notes (notes/003, "LSTM"), in torch's order::

    i_t = σ(W_i x_t + U_i h_{t-1} + b_i)     input gate: how much of the candidate to write
    f_t = σ(W_f x_t + U_f h_{t-1} + b_f)     forget gate: how much of the old cell to keep
    g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)  candidate
    o_t = σ(W_o x_t + U_o h_{t-1} + b_o)     output gate: how much of the cell to show
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Words are one-hots over ``WORDS``; the weights are set by hand so that the one unit
remembers a negation: "not" opens the input gate and writes +0.995 into the cell, the
forget gate keeps the cell (σ(4) = 0.982) until "but" closes it (σ(-4) = 0.018), and the
output gate shows the cell only at "bad", the word the negation turns around. U = 0: each
gate reads only the current word, so the memory lives in c alone. For "not a bad film",
step 1 by hand: i_1 = σ(-4 + 8) = 0.98201, f_1 = σ(4) = 0.98201, g_1 = tanh(3) = 0.99505,
o_1 = σ(-2) = 0.11920; c_1 = 0.98201 · 0 + 0.98201 · 0.99505 = 0.97716 and
h_1 = 0.11920 · tanh(0.97716) = 0.11920 · 0.75183 = 0.08962. The tests check every step against torch.nn.LSTMCell
and seqlab.nn.LSTMCell.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import torch

WORDS = ("not", "a", "bad", "film", "but", "dull")
DEFAULT_INPUTS = ("not", "a", "bad", "film")
GATES = ("i", "f", "g", "o")
# Rows: the gates i, f, g, o (torch's order); columns: WORDS. Then the biases.
WEIGHTS = (
    (8.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # i: "not" opens the input gate
    (0.0, 0.0, 0.0, 0.0, -8.0, 0.0),  # f: "but" closes the forget gate (forgets)
    (3.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # g: "not" writes +tanh(3)
    (0.0, 0.0, 4.0, 0.0, 0.0, 0.0),  # o: "bad" opens the output gate
)
BIASES = (-4.0, 4.0, 0.0, -2.0)


@dataclass(frozen=True)
class LSTMStep:
    """One step of the trace (float64 scalars): the word, each gate's pre-activation and value,
    the cell and the output."""

    word: str
    pre: dict[str, float]  # W x_t + U h_{t-1} + b of each gate
    gates: dict[str, float]  # i, f, g, o after σ (tanh for g)
    c_prev: float
    c: float
    h: float


def parse_lstm_words(words: str) -> tuple[str, ...]:
    """A space-separated sentence over WORDS; a DataError names a word it does not know."""
    from seqlab.errors import DataError, did_you_mean

    parsed = tuple(words.split())
    if not parsed:
        raise DataError(f"--inputs: empty; expected words among {', '.join(WORDS)}")
    for word in parsed:
        if word not in WORDS:
            raise DataError(f"--inputs: unknown word {word!r}{did_you_mean(word, WORDS)}; "
                            f"lstm-example knows {', '.join(WORDS)}")
    return parsed


def cell_weights() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """weight_ih (4, len(WORDS)), weight_hh (4, 1) = 0 and the bias (4,), float64, as torch's LSTMCell holds them."""
    f64 = torch.float64
    return torch.tensor(WEIGHTS, dtype=f64), torch.zeros(4, 1, dtype=f64), torch.tensor(BIASES, dtype=f64)


def lstm_example_trace(words: tuple[str, ...] = DEFAULT_INPUTS) -> list[LSTMStep]:
    """The unit's gates, cell and output at each word, from the equations above (h_0 = c_0 = 0)."""
    w_ih, w_hh, bias = cell_weights()
    h, c = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    trace = []
    for word in words:
        x = torch.zeros(len(WORDS), dtype=torch.float64)
        x[WORDS.index(word)] = 1.0
        pre = w_ih @ x + w_hh @ h + bias  # (4,): i, f, g, o
        i, f, o = torch.sigmoid(pre[0]), torch.sigmoid(pre[1]), torch.sigmoid(pre[3])
        g = torch.tanh(pre[2])
        c_prev, c = c, f * c + i * g
        h = o * torch.tanh(c)
        trace.append(LSTMStep(word, dict(zip(GATES, pre.tolist())),
                              {"i": float(i), "f": float(f), "g": float(g), "o": float(o)},
                              float(c_prev), float(c[0]), float(h[0])))
    return trace


def format_lstm_trace(trace: list[LSTMStep]) -> str:
    """One row per word: pre-activations, gates, c_{t-1} -> c_t, h_t (5 decimals)."""
    lines = ["lstm-example: one LSTM unit that remembers a negation (U = 0: the memory is the cell c)",
             f"inputs: {' '.join(s.word for s in trace)}", "",
             "step  word    " + "".join(f"{'z_' + g:>9}" for g in GATES) + "".join(f"{g:>9}" for g in GATES)
             + f"{'c_{t-1}':>10}{'c_t':>10}{'h_t':>10}"]
    for t, s in enumerate(trace, start=1):
        lines.append(f"{t:>4}  {s.word:<6}" + "".join(f"{s.pre[g]:9.2f}" for g in GATES)
                     + "".join(f"{s.gates[g]:9.5f}" for g in GATES) + f"{s.c_prev:10.5f}{s.c:10.5f}{s.h:10.5f}")
    lines += ["", "z_* = W x_t + U h_{t-1} + b; i, f, o = σ(z), g = tanh(z); c_t = f·c_{t-1} + i·g; h_t = o·tanh(c_t).",
              "The input gate opens at 'not', the forget gate keeps the cell until 'but', and the output",
              "gate shows it at 'bad': there h_t says 'negated'. Try --inputs \"a bad film\" (no memory) or",
              "\"not a film but bad\" (forgotten before it mattered)."]
    return "\n".join(lines)


def explain_lstm_example(inputs: str | None = None, out: TextIO | None = None) -> int:
    """Print the lstm-example trace for ``inputs`` (default "not a bad film")."""
    words = DEFAULT_INPUTS if inputs is None else parse_lstm_words(inputs)
    print(format_lstm_trace(lstm_example_trace(words)), file=sys.stdout if out is None else out)
    return 0
