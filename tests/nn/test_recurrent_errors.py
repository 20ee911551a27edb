"""Bad input to the layers gets a clear error that names what was expected."""

import re

import pytest
import torch

from seqlab import nn as snn

X = torch.randn(5, 2, 3)  # (T, B, I)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: snn.LSTM(3, 4)(torch.randn(2, 5, 2, 3)), ValueError, "expected a 3-D input (T, B, input_size)"),
        (
            lambda: snn.LSTM(3, 4, batch_first=True)(
                torch.randn(
                    3,
                )
            ),
            ValueError,
            "(B, T, input_size)",
        ),
        (lambda: snn.GRU(4, 4)(X), ValueError, "input has 3 features in its last dimension, but input_size=4"),
        (
            lambda: snn.GRU(3, 4)(X, lengths=torch.tensor([6, 2])),
            ValueError,
            "a length of 6 is longer than the sequence (5 steps)",
        ),
        (lambda: snn.RNN(3, 4)(X, lengths=torch.tensor([-1, 2])), ValueError, "lengths must be >= 0, got [-1, 2]"),
        (
            lambda: snn.RNN(3, 4)(X, lengths=torch.tensor([1, 2, 3])),
            ValueError,
            "one entry per sequence (2), got shape (3,)",
        ),
        (lambda: snn.RNN(3, 4)(X, lengths=torch.tensor([1.0, 2.0])), TypeError, "lengths must be a 1-D integer tensor"),
        (lambda: snn.LSTM(3, 4)(X, lengths=torch.tensor([1, 2], device="meta")), ValueError, "lengths are on meta"),
        (
            lambda: snn.LSTM(3, 4)(torch.ones(5, 2, 3, dtype=torch.long)),
            TypeError,
            "must be floating point (embed token ids first)",
        ),
        (lambda: snn.LSTM(3, 4)([[1.0]]), TypeError, "must be a tensor or PackedSequence"),
        (lambda: snn.GRU(3, 4, 2)(X, torch.zeros(1, 2, 4)), ValueError, "h_0 must have shape (2, 2, 4)"),
        (lambda: snn.LSTM(3, 4)(X, torch.zeros(1, 2, 4)), TypeError, "must be a tuple (h_0, c_0)"),
        (
            lambda: snn.LSTM(3, 4)(X, (torch.zeros(1, 2, 4), torch.zeros(1, 3, 4))),
            ValueError,
            "c_0 must have shape (1, 2, 4)",
        ),
        (lambda: snn.GRU(3, 4)(X, torch.zeros(1, 2, 4, dtype=torch.float64)), TypeError, "h_0 is torch.float64"),
        (lambda: snn.LSTM(3, 4, recurrent_dropout=1.0), ValueError, "recurrent_dropout must be in [0, 1), got 1.0"),
        (
            lambda: snn.LSTM(3, 4, backend="fast"),
            ValueError,
            "backend must be one of auto, reference, native, fused, triton; got 'fast'",
        ),
        (
            lambda: snn.LSTM(3, 4, layer_norm=True, backend="native"),
            ValueError,
            "backend='native' (torch's fused layer) cannot run layer_norm",
        ),
        (lambda: snn.GRU(3, 4, reset_after=False, backend="native"), ValueError, "cannot run reset_after=False"),
        (lambda: snn.LSTM(3, 4, recurrent_dropout=0.2, backend="native"), ValueError, "cannot run recurrent_dropout"),
        (
            lambda: snn.RNN(3, 4, backend="fused"),
            ValueError,
            "backend='fused' (seqlab's CPU loop) cannot run the Elman RNN",
        ),
        (
            lambda: snn.LSTM(3, 4, proj_size=2, layer_norm=True, backend="fused"),
            ValueError,
            "cannot run layer_norm, proj_size",
        ),
        (
            lambda: snn.LSTM(3, 4, backend="fused")(X.to("meta")),
            ValueError,
            "backend='fused' cannot run inputs on meta",
        ),
    ],
)
def test_bad_input_message(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_auto_never_fails_where_reference_works():
    for kwargs in [{"layer_norm": True}, {"recurrent_dropout": 0.5}, {"reset_after": False}]:
        auto = snn.GRU(3, 4, **kwargs)
        reference = snn.GRU(3, 4, backend="reference", **kwargs)
        reference.load_state_dict(auto.state_dict())
        auto.eval(), reference.eval()
        torch.testing.assert_close(auto(X, lengths=[5, 0])[0], reference(X, lengths=[5, 0])[0])
