"""lstm-example: the hand-set LSTM unit's trace against torch.nn.LSTMCell and seqlab.nn.LSTMCell,
and its first step against the value computed by hand in the module docstring."""

from __future__ import annotations

import pytest
import torch

from seqlab.cli.main import main
from seqlab.errors import DataError
from seqlab.explain_lstm import WORDS, cell_weights, lstm_example_trace, parse_lstm_words
from seqlab.nn import LSTMCell


def reference_states(cell_type, words):
    """(h_t, c_t) of a one-unit cell of ``cell_type`` with the example's weights, word by word."""
    cell = cell_type(len(WORDS), 1).double()
    w_ih, w_hh, bias = cell_weights()
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih)
        cell.weight_hh.copy_(w_hh)
        cell.bias_ih.copy_(bias)
        cell.bias_hh.zero_()
    h = c = torch.zeros(1, 1, dtype=torch.float64)
    out = []
    for word in words:
        x = torch.zeros(1, len(WORDS), dtype=torch.float64)
        x[0, WORDS.index(word)] = 1.0
        with torch.no_grad():
            h, c = cell(x, (h, c))
        out.append((float(h), float(c)))
    return out


@pytest.mark.parametrize("words", [("not", "a", "bad", "film"), ("a", "bad", "film"),
                                   ("not", "a", "film", "but", "bad", "dull")])
@pytest.mark.parametrize("cell_type", [torch.nn.LSTMCell, LSTMCell])
def test_trace_matches_lstm_cells(cell_type, words):
    trace = lstm_example_trace(words)
    got = torch.tensor([(s.h, s.c) for s in trace], dtype=torch.float64)
    assert torch.allclose(got, torch.tensor(reference_states(cell_type, words), dtype=torch.float64), atol=1e-12)


def test_first_step_is_the_docstrings_hand_computation():
    first = lstm_example_trace(("not",))[0]
    # i = σ(-4 + 8), f = σ(4), g = tanh(3), o = σ(-2); c = i·g; h = o·tanh(c)
    assert first.gates == pytest.approx({"i": 0.98201379, "f": 0.98201379, "g": 0.99505475, "o": 0.11920292})
    assert first.c == pytest.approx(0.97715749, abs=1e-8) and first.h == pytest.approx(0.08962066, abs=1e-8)


def test_the_unit_remembers_the_negation_until_but():
    negated = lstm_example_trace(("not", "a", "bad", "film"))
    plain = lstm_example_trace(("a", "bad", "film"))
    forgotten = lstm_example_trace(("not", "a", "film", "but", "bad"))
    assert negated[2].h > 0.6 and abs(plain[1].h) < 1e-12  # at "bad": the memory shows, or there is none
    assert forgotten[3].c < 0.02 < forgotten[2].c and forgotten[4].h < 0.02  # "but" cleared it before "bad"


def test_cli_prints_the_table_and_refuses_unknown_words(capsys):
    assert main(["explain", "lstm-example", "--inputs", "not a bad film"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("3  bad"))
    assert row.split()[-3:] == ["0.95958", "0.94232", "0.64852"]  # c_{t-1}, c_t, h_t
    assert main(["explain", "lstm-example", "--inputs", "not god"]) == 2
    assert "--inputs: unknown word 'god'; lstm-example knows not, a, bad" in capsys.readouterr().err
    assert main(["explain", "lstm-example", "--train"]) == 2
    assert "--train: lstm-example takes only --inputs" in capsys.readouterr().err


def test_parse_names_the_known_words():
    with pytest.raises(DataError, match="lstm-example knows not, a, bad, film, but, dull"):
        parse_lstm_words("not good")
    with pytest.raises(DataError, match="empty"):
        parse_lstm_words("  ")
