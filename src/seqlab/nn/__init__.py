"""The math of seqlab: layers written from their equations, importing no plumbing.

``RNN``, ``LSTM`` and ``GRU`` (and their cells) are drop-ins for torch.nn's, with
variable lengths, recurrent dropout, layer norm and a choice of backend added. The
attention modules (dot, general, additive, scaled dot-product, multi-head) share one
call and return their weights.
"""

from seqlab.nn.attention import (
    ATTENTIONS,
    AdditiveAttention,
    AttentionalState,
    DotAttention,
    GeneralAttention,
    MultiHeadAttention,
    MultiHeadAttentionBlock,
    ScaledDotProductAttention,
    build_attention,
    causal_mask,
    masked_softmax,
)
from seqlab.nn.cells import GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step
from seqlab.nn.recurrent import BACKENDS, GRU, LSTM, RNN

__all__ = [
    "ATTENTIONS",
    "AdditiveAttention",
    "AttentionalState",
    "DotAttention",
    "GeneralAttention",
    "MultiHeadAttention",
    "MultiHeadAttentionBlock",
    "ScaledDotProductAttention",
    "build_attention",
    "causal_mask",
    "masked_softmax",
    "BACKENDS",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNCell",
    "gru_step",
    "lstm_step",
    "rnn_step",
]
