"""Non-recurrent sequence encoders: 1D convolutions, Transformer self-attention, conv + RNN.

Every encoder here has the same call, so a task can swap one for another::

    outputs, lengths, final = encoder(x, lengths)

    x        (B, T, input_size)        a padded batch, batch first
    lengths  (B,) integer tensor       real positions of each row, each >= 1 (CPU or x's device)
    outputs  (B, T', output_size)      exactly 0 at every position >= the new length
    lengths  (B,) integer tensor       real positions after the encoder (pooling shortens; T' <= T),
                                       on the device the lengths came on
    final    (B, output_size) or None  a summary vector where the encoder has one (the RNN's final
                                       states in ConvRNNEncoder); None: pool the outputs instead.
                                       The class attribute ``has_final`` says which.

Padding never leaks: outputs at real positions do not change when padded positions are
appended to the batch (tests/nn/test_encoders.py checks it for each encoder).

The Transformer pieces are built to be reused by a decoder: a decoder layer is
``MultiHeadAttentionBlock`` (self-attention with ``causal=True``) + ``MultiHeadAttentionBlock``
(cross-attention, ``keys=memory``) + :class:`FeedForwardBlock`, the same blocks that
:class:`TransformerEncoderLayer` stacks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.nn.attention import MultiHeadAttentionBlock
from seqlab.nn.recurrent import GRU, LSTM, RNN

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
POSITIONALS = ("sinusoidal", "learned", "none")
PADDINGS = ("same", "valid")


def lengths_mask(lengths: Tensor, steps: int, device: torch.device | None = None) -> Tensor:
    """(B, steps) bool, True at the real positions t < lengths[b]."""
    return torch.arange(steps, device=device) < lengths.to(device).unsqueeze(1)


def drop_words(tokens: Tensor, p: float, unk_id: int, pad_id: int = 0) -> Tensor:
    """Word dropout: each real token id (not pad_id) becomes unk_id with probability p, so the
    model learns what to do with words it has not seen and leans less on any single word.

    tokens: (B, T) int64. Returns a new tensor; p = 0 returns tokens itself.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"drop_words: p must be in [0, 1), got {p!r}")
    if p == 0.0:
        return tokens
    drop = (torch.rand(tokens.shape, device=tokens.device) < p) & (tokens != pad_id)
    return tokens.masked_fill(drop, unk_id)


def top_final_state(state: Tensor | tuple[Tensor, ...], num_directions: int) -> Tensor:
    """The last layer's final states of a seqlab.nn RNN/LSTM/GRU, directions concatenated.

    state: h_n (L * D, B, H) or (h_n, c_n). Returns (B, D * H): forward final state (at the
    last real step) then backward (at step 0).
    """
    h_n = state[0] if isinstance(state, tuple) else state  # (L * D, B, H)
    return h_n[-num_directions:].transpose(0, 1).reshape(h_n.shape[1], -1)  # (B, D * H)


def _check_call(who: str, x: Tensor, lengths: Tensor, input_size: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3:
        raise ValueError(f"{who}: x must be (B, T, input_size), got {getattr(x, 'shape', type(x).__name__)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{who}: x has {x.shape[-1]} features in its last dimension, expected {input_size}")
    if not isinstance(lengths, Tensor) or lengths.dim() != 1 or lengths.is_floating_point():
        raise TypeError(f"{who}: lengths must be a 1-D integer tensor, got {lengths!r:.80}")
    if lengths.shape[0] != x.shape[0]:
        raise ValueError(f"{who}: {lengths.shape[0]} lengths for a batch of {x.shape[0]}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]):
        raise ValueError(f"{who}: lengths must be in [1, T={x.shape[1]}], got {lengths.tolist()}")


def _positive(who: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{who}: {name} must be an integer >= 1, got {value!r}")


def _dropout_rate(who: str, dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
    return float(dropout)


# -- convolutions ------------------------------------------------------------------------


class ConvEncoder(nn.Module):
    """Stacked 1D convolutions over time with ReLU (Kim 2014; Keras's Conv1D -> MaxPooling1D)::

        h^0 = x
        a^l = Dropout(ReLU(Conv1d_l(h^{l-1} with padded positions zeroed)))   l = 1 .. L
        h^l = MaxPool_p(a^l) between layers (and after the last if pool_last), else a^l

    Layer l has kernel ``kernel_size`` and dilation ``dilation ** (l - 1)`` (1, d, d², ...:
    the receptive field grows exponentially, as in WaveNet, van den Oord et al. 2016; the
    default 1 is plain convolution). ``padding="same"`` keeps the length (zeros around
    each sequence, split as torch's ``padding="same"``: the odd one on the right), so a
    tagger can use it; ``"valid"`` (Keras's default) drops the ``dilation * (kernel_size -
    1)`` positions whose window reaches past the sequence, and a sequence too short for
    that is an error. Max pooling (window = stride = ``pool_size``) shortens each sequence
    to ceil(length / pool_size): the last window may be partial, and takes the max of its
    real positions only. Padded positions are zeroed before every convolution and after
    every pooling, so the output at real positions is the same with or without padding.

    Parameters: ``convs[l]`` is a torch Conv1d(in, channels, kernel_size, dilation=d^l).
    ``output_size`` = channels. See the module docstring for the call; ``final`` is None.
    """

    has_final = False  # the call's third item is None

    def __init__(self, input_size: int, channels: int, kernel_size: int = 3, num_layers: int = 1, *,
                 dilation: int = 1, padding: str = "same", pool_size: int | None = None, pool_last: bool = False,
                 dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        who = "ConvEncoder"
        _positive(who, input_size=input_size, channels=channels, kernel_size=kernel_size, num_layers=num_layers,
                  dilation=dilation)
        if padding not in PADDINGS:
            raise ValueError(f"{who}: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if pool_size is not None:
            _positive(who, pool_size=pool_size)
        self.input_size, self.channels, self.kernel_size = input_size, channels, kernel_size
        self.num_layers, self.dilation, self.padding = num_layers, dilation, padding
        self.pool_size, self.pool_last = pool_size, bool(pool_last)
        self.output_size = channels
        self.convs = nn.ModuleList(
            nn.Conv1d(input_size if i == 0 else channels, channels, kernel_size, dilation=dilation**i, bias=bias)
            for i in range(num_layers))
        self.dropout = nn.Dropout(_dropout_rate(who, dropout))

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, channels={self.channels}, kernel_size={self.kernel_size}, "
                f"num_layers={self.num_layers}, dilation={self.dilation}, padding={self.padding!r}, "
                f"pool_size={self.pool_size}, pool_last={self.pool_last}")

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, None]:
        """x (B, T, input_size); lengths (B,). Returns outputs (B, T', channels), lengths (B,), None."""
        _check_call("ConvEncoder", x, lengths, self.input_size)
        h = x.transpose(1, 2)  # (B, C, T): Conv1d wants channels before time
        for i, conv in enumerate(self.convs):
            real = lengths_mask(lengths, h.shape[-1], h.device)  # (B, T)
            h = h.masked_fill(~real.unsqueeze(1), 0.0)
            span = conv.dilation[0] * (self.kernel_size - 1)  # an output sees span + 1 inputs
            if self.padding == "same":
                h = F.pad(h, (span // 2, span - span // 2))  # (B, C, T + span)
            else:
                if int(lengths.min()) <= span:
                    raise ValueError(
                        f"ConvEncoder: a sequence of length {int(lengths.min())} is too short for layer {i + 1} "
                        f"(kernel_size {self.kernel_size}, dilation {conv.dilation[0]}) with padding='valid': "
                        f"it needs more than {span} positions; use padding='same'")
                lengths = lengths - span
            h = self.dropout(F.relu(conv(h)))  # (B, channels, T)
            if self.pool_size is not None and (i < self.num_layers - 1 or self.pool_last):
                h, lengths = self._max_pool(h, lengths)
        real = lengths_mask(lengths, h.shape[-1], h.device)
        return h.masked_fill(~real.unsqueeze(1), 0.0).transpose(1, 2), lengths, None  # (B, T', channels)

    def _max_pool(self, h: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Max over windows of pool_size real positions: h (B, C, T) -> (B, C, ceil(T / p))."""
        p = self.pool_size
        real = lengths_mask(lengths, h.shape[-1], h.device)
        h = h.masked_fill(~real.unsqueeze(1), float("-inf"))  # padding never wins a max
        h = F.pad(h, (0, -h.shape[-1] % p), value=float("-inf"))  # (B, C, p * ceil(T / p))
        h = F.max_pool1d(h, p, p)  # (B, C, ceil(T / p)); fully padded windows are -inf ...
        lengths = torch.div(lengths + p - 1, p, rounding_mode="floor")  # ceil(length / p)
        real = lengths_mask(lengths, h.shape[-1], h.device)
        return h.masked_fill(~real.unsqueeze(1), 0.0), lengths  # ... and zero from here on


# -- Transformer -------------------------------------------------------------------------


def sinusoidal_positions(steps: int, dim: int, *, device=None, dtype=None) -> Tensor:
    """The sinusoidal positional encoding (Vaswani et al. 2017, §3.5), (steps, dim)::

        PE(pos, 2i)     = sin(pos / 10000^(2i / dim))
        PE(pos, 2i + 1) = cos(pos / 10000^(2i / dim))

    Computed in float64 and cast, so any length works and no table limits it.
    """
    position = torch.arange(steps, dtype=torch.float64, device=device).unsqueeze(1)  # (steps, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64, device=device)  # (ceil(dim / 2),)
    angle = position / 10000.0 ** (two_i / dim)  # (steps, ceil(dim / 2))
    pe = torch.zeros(steps, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.to(dtype or torch.get_default_dtype())


class FeedForwardBlock(nn.Module):
    """The position-wise feed-forward sublayer with residual and layer norm (Vaswani et al. 2017, eq. 2)::

        FFN(x)     = linear2(Dropout(activation(linear1(x))))      d_model -> ff_size -> d_model
        post-norm: y = LayerNorm(x + Dropout(FFN(x)))
        pre-norm:  y = x + Dropout(FFN(LayerNorm(x)))

    Names follow torch.nn.TransformerEncoderLayer (linear1, linear2; ``norm`` is its norm2).
    """

    def __init__(self, d_model: int, ff_size: int, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = False) -> None:
        super().__init__()
        _positive("FeedForwardBlock", d_model=d_model, ff_size=ff_size)
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForwardBlock: activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.activation, self.norm_first = activation, bool(norm_first)
        self.linear1 = nn.Linear(d_model, ff_size)
        self.linear2 = nn.Linear(ff_size, d_model)
        self.norm = nn.LayerNorm(d_model)
        rate = _dropout_rate("FeedForwardBlock", dropout)
        self.dropout, self.residual_dropout = nn.Dropout(rate), nn.Dropout(rate)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, norm_first={self.norm_first}"

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d_model) -> y (..., d_model)."""
        h = self.norm(x) if self.norm_first else x
        h = self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(h))))  # (..., d_model)
        y = x + self.residual_dropout(h)
        return y if self.norm_first else self.norm(y)


class TransformerEncoderLayer(nn.Module):
    """One Transformer encoder layer (Vaswani et al. 2017, §3.1): self-attention, then feed-forward::

        y = FeedForwardBlock(MultiHeadAttentionBlock(x, keys=x, mask))

    each sublayer with its residual and layer norm, post-norm (the paper's, and
    torch.nn.TransformerEncoderLayer's default) or pre-norm (``norm_first=True``).
    ``self_attention`` is a seqlab.nn :class:`MultiHeadAttentionBlock`; ``feed_forward`` a
    :class:`FeedForwardBlock`. With the same weights it equals torch's layer (batch_first).
    """

    def __init__(self, d_model: int, num_heads: int, ff_size: int, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = False) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttentionBlock(d_model, num_heads, dropout=dropout, norm_first=norm_first)
        self.feed_forward = FeedForwardBlock(d_model, ff_size, dropout=dropout, activation=activation,
                                             norm_first=norm_first)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, attn_mask: Tensor | None = None,
                causal: bool = False) -> tuple[Tensor, Tensor]:
        """x (B, T, d_model); mask (B, T) bool, True = real token; attn_mask (T, T) or (B, T, T)
        bool, True = may attend; causal: position i sees positions <= i only (for a decoder).
        Returns y (B, T, d_model) and the self-attention alphas (B, T, T), averaged over heads."""
        h, alphas = self.self_attention(x, mask=mask, attn_mask=attn_mask, causal=causal)
        return self.feed_forward(h), alphas


class TransformerEncoder(nn.Module):
    """A stack of Transformer encoder layers over positions-aware inputs (Vaswani et al. 2017)::

        h^0 = Dropout(W_in x + P)        W_in: Linear(input_size -> d_model), absent when equal
        h^l = TransformerEncoderLayer_l(h^l-1, mask)     l = 1 .. num_layers
        out = LayerNorm(h^L) with norm_first (pre-norm stacks end with a norm), else h^L

    ``positional``: "sinusoidal" (P from :func:`sinusoidal_positions`, any length), "learned"
    (P an Embedding(max_positions, d_model), longer sequences are an error) or "none"
    (self-attention alone is blind to order). Attention never looks at padded keys; the
    outputs at padded positions are set to 0. ``ff_size`` defaults to 4 * d_model as in the
    paper. See the module docstring for the call; ``final`` is None (no position summarizes
    the sequence: pool the outputs).
    """

    has_final = False  # the call's third item is None

    def __init__(self, input_size: int, d_model: int, num_layers: int = 1, num_heads: int = 1, *,
                 ff_size: int | None = None, dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_positions: int = 512) -> None:
        super().__init__()
        who = "TransformerEncoder"
        ff_size = 4 * d_model if ff_size is None else ff_size
        _positive(who, input_size=input_size, d_model=d_model, num_layers=num_layers, num_heads=num_heads,
                  ff_size=ff_size, max_positions=max_positions)
        if d_model % num_heads:
            raise ValueError(f"{who}: d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        if positional not in POSITIONALS:
            raise ValueError(f"{who}: positional must be one of {', '.join(POSITIONALS)}, got {positional!r}")
        self.input_size, self.d_model, self.output_size = input_size, d_model, d_model
        self.positional, self.max_positions, self.norm_first = positional, max_positions, bool(norm_first)
        self.input_projection = nn.Linear(input_size, d_model) if input_size != d_model else None
        if positional == "learned":
            self.position_embedding = nn.Embedding(max_positions, d_model)
            nn.init.normal_(self.position_embedding.weight, std=0.02)  # small, as BERT and GPT-2 start them
        self.dropout = nn.Dropout(_dropout_rate(who, dropout))
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, ff_size, dropout=dropout, activation=activation,
                                    norm_first=norm_first)
            for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else None

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, d_model={self.d_model}, positional={self.positional!r}" + (
            f", max_positions={self.max_positions}" if self.positional == "learned" else "")

    def forward(self, x: Tensor, lengths: Tensor, *, causal: bool = False) -> tuple[Tensor, Tensor, None]:
        """x (B, T, input_size); lengths (B,); causal: each position sees only itself and
        earlier ones. Returns outputs (B, T, d_model), lengths (B,) unchanged, None."""
        outputs, lengths, _ = self.forward_with_attention(x, lengths, causal=causal)
        return outputs, lengths, None

    def forward_with_attention(self, x: Tensor, lengths: Tensor, *,
                               causal: bool = False) -> tuple[Tensor, Tensor, list[Tensor]]:
        """As ``forward``, but the third item is each layer's alphas (B, T, T), averaged over
        heads: row i is where position i looks; 0 at every padded key."""
        who = "TransformerEncoder"
        _check_call(who, x, lengths, self.input_size)
        steps = x.shape[1]
        h = x if self.input_projection is None else self.input_projection(x)  # (B, T, d_model)
        if self.positional == "sinusoidal":
            h = h + sinusoidal_positions(steps, self.d_model, device=h.device, dtype=h.dtype)
        elif self.positional == "learned":
            if steps > self.max_positions:
                raise ValueError(f"{who}: a batch of {steps} positions is longer than max_positions "
                                 f"({self.max_positions}) of the learned positions; cut the sequences or raise it")
            h = h + self.position_embedding.weight[:steps]
        h = self.dropout(h)
        real = lengths_mask(lengths, steps, h.device)  # (B, T)
        attentions = []
        for layer in self.layers:
            h, alphas = layer(h, real, causal=causal)
            attentions.append(alphas)
        if self.final_norm is not None:
            h = self.final_norm(h)
        return h.masked_fill(~real.unsqueeze(-1), 0.0), lengths, attentions


# -- convolutions, then a recurrent layer --------------------------------------------------


class ConvRNNEncoder(nn.Module):
    """Convolutions shorten the sequence, then a recurrent layer reads it (a conv + RNN hybrid)::

        c, lengths' = ConvEncoder(x, lengths)          (B, T', channels), usually pooled: T' < T
        outputs, state = rnn(c, lengths=lengths')      (B, T', D * H)
        final = the last layer's final states          (B, D * H), forward then backward

    The recurrent layer then takes T' steps instead of T, which is where its time goes.
    Args: ``conv`` a :class:`ConvEncoder` (set ``pool_size`` and ``pool_last=True`` to pool
    before the RNN); ``rnn`` a seqlab.nn RNN, LSTM or GRU with ``batch_first=True`` and
    ``input_size == conv.output_size``. See the module docstring for the call.
    """

    has_final = True  # the call's third item is the RNN's final states

    def __init__(self, conv: ConvEncoder, rnn: RNN | LSTM | GRU) -> None:
        super().__init__()
        if not isinstance(conv, ConvEncoder):
            raise TypeError(f"ConvRNNEncoder: conv must be a ConvEncoder, got {type(conv).__name__}")
        if not isinstance(rnn, (RNN, LSTM, GRU)):
            raise TypeError(f"ConvRNNEncoder: rnn must be a seqlab.nn RNN, LSTM or GRU, got {type(rnn).__name__}")
        if not rnn.batch_first or rnn.input_size != conv.output_size:
            raise ValueError(f"ConvRNNEncoder: rnn must have batch_first=True and input_size == conv channels "
                             f"({conv.output_size}), got batch_first={rnn.batch_first}, input_size={rnn.input_size}")
        if getattr(rnn, "proj_size", 0):
            raise ValueError("ConvRNNEncoder: an LSTM with proj_size is not supported; use proj_size=0")
        self.conv, self.rnn = conv, rnn
        self.input_size = conv.input_size
        self.num_directions = 2 if rnn.bidirectional else 1
        self.output_size = rnn.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, input_size); lengths (B,). Returns outputs (B, T', D * H), lengths (B,)
        after the convolutions, and final (B, D * H)."""
        c, lengths, _ = self.conv(x, lengths)  # (B, T', channels)
        outputs, state = self.rnn(c, lengths=lengths)  # (B, T', D * H), zero at padding
        return outputs, lengths, top_final_state(state, self.num_directions)

