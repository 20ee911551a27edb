"""The math of seqlab: layers written from their equations, importing no plumbing.

``RNN``, ``LSTM`` and ``GRU`` (and their cells) are drop-ins for torch.nn's, with
variable lengths, recurrent dropout, layer norm and a choice of backend added. The
attention modules (dot, general, additive, scaled dot-product, multi-head) share one
call and return their weights. The non-recurrent encoders (``ConvEncoder``,
``TransformerEncoder``, ``ConvRNNEncoder``) share one call, ``(x, lengths) -> (outputs,
lengths, final)``, so a task can swap them. ``TransformerDecoder`` (causal self-attention
and cross-attention, with a key/value-cached step) and ``CausalTransformer`` (decoder-only,
with the recurrent layers' call) live in :mod:`seqlab.nn.transformer`.
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
from seqlab.nn.encoders import (
    ConvEncoder,
    ConvRNNEncoder,
    FeedForwardBlock,
    TransformerEncoder,
    TransformerEncoderLayer,
    drop_words,
    lengths_mask,
    sinusoidal_positions,
    top_final_state,
)
from seqlab.nn.recurrent import BACKENDS, GRU, LSTM, RNN
from seqlab.nn.transformer import CausalTransformer, DecoderCache, TransformerDecoder, TransformerDecoderLayer

__all__ = [
    "ATTENTIONS",
    "BACKENDS",
    "GRU",
    "LSTM",
    "RNN",
    "AdditiveAttention",
    "AttentionalState",
    "CausalTransformer",
    "ConvEncoder",
    "ConvRNNEncoder",
    "DecoderCache",
    "DotAttention",
    "FeedForwardBlock",
    "GRUCell",
    "GeneralAttention",
    "LSTMCell",
    "MultiHeadAttention",
    "MultiHeadAttentionBlock",
    "RNNCell",
    "ScaledDotProductAttention",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "build_attention",
    "causal_mask",
    "drop_words",
    "gru_step",
    "lengths_mask",
    "lstm_step",
    "masked_softmax",
    "rnn_step",
    "sinusoidal_positions",
    "top_final_state",
]
