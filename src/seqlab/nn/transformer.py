"""The Transformer decoder (Vaswani et al. 2017, §3.1): causal self-attention, cross-attention, feed-forward.

A decoder layer reads the target prefix and the encoder's memory::

    a = MultiHeadAttentionBlock(x, keys=x, causal)          position i sees target positions <= i
    c = MultiHeadAttentionBlock(a, keys=memory, mask)       each position looks at every real source token
    y = FeedForwardBlock(c)

each sublayer with its residual connection and layer norm, post-norm (the paper's) or
pre-norm (``norm_first``), built from the same blocks as
:class:`seqlab.nn.encoders.TransformerEncoderLayer` — written here from seqlab's own
multi-head attention rather than wrapping ``torch.nn.TransformerDecoderLayer``, so the
cross-attention weights are returned and a step can use a key/value cache. With the same
weights a layer equals torch's (tests/nn/test_transformer.py copies them over).

Two ways through the same weights:

- :meth:`TransformerDecoder.forward`: the whole (teacher-forced) target at once, with a
  causal mask — training and scoring;
- :meth:`TransformerDecoder.step`: one new position, given a :class:`DecoderCache` holding
  each layer's projected keys and values of the memory (computed once, by
  :meth:`TransformerDecoder.start`) and of the earlier target positions (grown by one
  position per step). A step therefore costs one position of every layer, plus attention
  over the t cached positions; nothing of the prefix is recomputed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqlab.nn.attention import MultiHeadAttentionBlock
from seqlab.nn.encoders import POSITIONALS, FeedForwardBlock, TransformerEncoder, lengths_mask, sinusoidal_positions


class DecoderCache(NamedTuple):
    """What :meth:`TransformerDecoder.step` carries from one step to the next; every tensor
    has the batch as dim 0, so :mod:`seqlab.decode` can reorder and repeat rows.

    memory_mask (B, S) bool, True on real source tokens; memory_keys / memory_values: one
    (B, H, S, d_h) per layer (the cross-attention's projected memory); self_keys /
    self_values: one (B, H, t, d_h) per layer, the projected target positions so far.
    """

    memory_mask: Tensor
    memory_keys: tuple[Tensor, ...]
    memory_values: tuple[Tensor, ...]
    self_keys: tuple[Tensor, ...]
    self_values: tuple[Tensor, ...]

    @property
    def position(self) -> int:
        """The position the next step writes (the number of target positions cached)."""
        return self.self_keys[0].shape[2]


def _block_step(block: MultiHeadAttentionBlock, x: Tensor, k: Tensor, v: Tensor,
                mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """A :class:`MultiHeadAttentionBlock` for queries x (B, Tq, E) against already projected
    k, v (B, H, Ts, d_h); mask broadcastable to (B, Tq, Ts) or None. Returns y (B, Tq, E)
    and alphas (B, Tq, Ts) averaged over heads — what the block's forward gives."""
    h = block.norm(x) if block.norm_first else x
    out, alphas = block.attention.attend(block.attention.project_query(h), k, v, mask)
    y = x + block.residual_dropout(out)
    return (y if block.norm_first else block.norm(y)), alphas.mean(dim=1)


class TransformerDecoderLayer(nn.Module):
    """One decoder layer (Vaswani et al. 2017, §3.1; see the module docstring).

    ``self_attention`` and ``cross_attention`` are :class:`MultiHeadAttentionBlock`\\ s,
    ``feed_forward`` a :class:`FeedForwardBlock`. torch.nn.TransformerDecoderLayer's
    ``self_attn``, ``multihead_attn``, ``linear1/2`` and ``norm1/2/3`` map onto
    ``self_attention.attention``, ``cross_attention.attention``, ``feed_forward.linear1/2``
    and ``self_attention.norm``, ``cross_attention.norm``, ``feed_forward.norm``.
    """

    def __init__(self, d_model: int, num_heads: int, ff_size: int, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = False) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttentionBlock(d_model, num_heads, dropout=dropout, norm_first=norm_first)
        self.cross_attention = MultiHeadAttentionBlock(d_model, num_heads, dropout=dropout, norm_first=norm_first)
        self.feed_forward = FeedForwardBlock(d_model, ff_size, dropout=dropout, activation=activation,
                                             norm_first=norm_first)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, T, d_model) the target prefix; memory (B, S, d_model); memory_mask (B, S)
        bool, True = real source token. Returns y (B, T, d_model) and the cross-attention
        alphas (B, T, S), averaged over heads (0 on source padding)."""
        a, _ = self.self_attention(x, causal=True)
        c, alphas = self.cross_attention(a, memory, mask=memory_mask)
        return self.feed_forward(c), alphas

    def project_memory(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, d_model) -> the cross-attention's keys and values, each (B, H, S, d_h)."""
        return self.cross_attention.attention.project_keys_values(memory)

    def step(self, x: Tensor, memory_kv: tuple[Tensor, Tensor], memory_mask: Tensor,
             past_kv: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor]:
        """One new position. x (B, 1, d_model); memory_kv from :meth:`project_memory`;
        memory_mask (B, S); past_kv: this layer's self-attention keys and values of the
        earlier positions, each (B, H, t, d_h). Returns y (B, 1, d_model), past_kv grown to
        t + 1 positions, and the cross-attention alphas (B, 1, S)."""
        block = self.self_attention
        h = block.norm(x) if block.norm_first else x  # the keys and values of this position
        k_new, v_new = block.attention.project_keys_values(h)  # (B, H, 1, d_h)
        k, v = torch.cat([past_kv[0], k_new], dim=2), torch.cat([past_kv[1], v_new], dim=2)  # (B, H, t + 1, d_h)
        a, _ = _block_step(block, x, k, v, None)  # every cached position is earlier: nothing to mask
        c, alphas = _block_step(self.cross_attention, a, *memory_kv, memory_mask[:, None, :])
        return self.feed_forward(c), (k, v), alphas


class TransformerDecoder(nn.Module):
    """Target embeddings -> positions -> decoder layers (Vaswani et al. 2017)::

        h^0 = Dropout(x + P)                                   x: the embedded target (B, T, d_model)
        h^l, alphas^l = TransformerDecoderLayer_l(h^l-1, memory)     l = 1 .. num_layers
        out = LayerNorm(h^L) with norm_first (pre-norm stacks end with a norm), else h^L

    ``positional`` as in :class:`seqlab.nn.encoders.TransformerEncoder` ("sinusoidal",
    "learned" up to ``max_positions``, or "none"). ``ff_size`` defaults to 4 * d_model.
    Both calls return the last layer's cross-attention alphas, averaged over heads, as the
    attention a heat map shows.
    """

    def __init__(self, d_model: int, num_layers: int = 1, num_heads: int = 1, *, ff_size: int | None = None,
                 dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_positions: int = 512) -> None:
        super().__init__()
        who = "TransformerDecoder"
        ff_size = 4 * d_model if ff_size is None else ff_size
        for name, value in (("d_model", d_model), ("num_layers", num_layers), ("num_heads", num_heads),
                            ("ff_size", ff_size), ("max_positions", max_positions)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{who}: {name} must be an integer >= 1, got {value!r}")
        if d_model % num_heads:
            raise ValueError(f"{who}: d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        if positional not in POSITIONALS:
            raise ValueError(f"{who}: positional must be one of {', '.join(POSITIONALS)}, got {positional!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        self.d_model, self.num_heads, self.positional = d_model, num_heads, positional
        self.max_positions, self.norm_first = max_positions, bool(norm_first)
        if positional == "learned":
            self.position_embedding = nn.Embedding(max_positions, d_model)
            nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, num_heads, ff_size, dropout=dropout, activation=activation,
                                    norm_first=norm_first)
            for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else None

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, positional={self.positional!r}" + (
            f", max_positions={self.max_positions}" if self.positional == "learned" else "")

    def _positions(self, x: Tensor, first: int) -> Tensor:
        """x (B, T, d_model) at positions first .. first + T - 1 -> Dropout(x + P)."""
        last = first + x.shape[1]
        if self.positional == "sinusoidal":
            x = x + sinusoidal_positions(last, self.d_model, device=x.device, dtype=x.dtype)[first:]
        elif self.positional == "learned":
            if last > self.max_positions:
                raise ValueError(f"TransformerDecoder: position {last - 1} is past max_positions "
                                 f"({self.max_positions}) of the learned positions; cut the target or raise it")
            x = x + self.position_embedding.weight[first:last]
        return self.dropout(x)

    def forward(self, x: Tensor, memory: Tensor, memory_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, d_model) the embedded target prefix; memory (B, S, d_model); memory_lengths
        (B,) real source positions. Returns out (B, T, d_model) and alphas (B, T, S)."""
        mask = lengths_mask(memory_lengths, memory.shape[1], memory.device)  # (B, S)
        h, alphas = self._positions(x, 0), None
        for layer in self.layers:
            h, alphas = layer(h, memory, mask)
        return (h if self.final_norm is None else self.final_norm(h)), alphas

    def start(self, memory: Tensor, memory_lengths: Tensor) -> DecoderCache:
        """The cache before the first step: memory (B, S, d_model) projected once per layer,
        no target position yet."""
        mask = lengths_mask(memory_lengths, memory.shape[1], memory.device)  # (B, S)
        memory_kv = [layer.project_memory(memory) for layer in self.layers]
        B, H = memory.shape[0], self.num_heads
        empty = memory.new_zeros(B, H, 0, self.d_model // H)  # (B, H, 0, d_h)
        none_yet = tuple(empty for _ in self.layers)
        return DecoderCache(mask, tuple(k for k, _ in memory_kv), tuple(v for _, v in memory_kv), none_yet, none_yet)

    def step(self, x: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache, Tensor]:
        """x (B, d_model) the embedded token at position ``cache.position``. Returns out
        (B, d_model) — equal to row ``cache.position`` of :meth:`forward` over the whole
        prefix — the cache grown by this position, and alphas (B, S)."""
        h = self._positions(x.unsqueeze(1), cache.position)  # (B, 1, d_model)
        keys, values, alphas = [], [], None
        for i, layer in enumerate(self.layers):
            h, (k, v), alphas = layer.step(h, (cache.memory_keys[i], cache.memory_values[i]), cache.memory_mask,
                                           (cache.self_keys[i], cache.self_values[i]))
            keys.append(k)
            values.append(v)
        out = h if self.final_norm is None else self.final_norm(h)
        return out.squeeze(1), cache._replace(self_keys=tuple(keys), self_values=tuple(values)), alphas.squeeze(1)


class CausalTransformer(nn.Module):
    """A decoder-only (GPT-style) stack behind the recurrent layers' call, so a language model
    can swap it in for an LSTM::

        h, state = layer(x, state=None, lengths=None)      x (B, T, input_size) -> h (B, T, d_model)

    It is a :class:`seqlab.nn.encoders.TransformerEncoder` with ``causal=True``: position t
    attends to positions <= t of the same call only. There is no recurrent state: ``state``
    must be None and the returned state is None, so a window never sees the window before
    it. ``lengths`` (B,) marks padded sequences (None: every row is T long); outputs at
    padding are 0. Arguments as for TransformerEncoder.
    """

    def __init__(self, input_size: int, d_model: int, num_layers: int = 1, num_heads: int = 1, *,
                 ff_size: int | None = None, dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_positions: int = 512) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, d_model
        self.stack = TransformerEncoder(input_size, d_model, num_layers, num_heads, ff_size=ff_size, dropout=dropout,
                                        activation=activation, norm_first=norm_first, positional=positional,
                                        max_positions=max_positions)

    def forward(self, x: Tensor, state: None = None, *, lengths: Tensor | None = None) -> tuple[Tensor, None]:
        """x (B, T, input_size); state None; lengths (B,) or None. Returns h (B, T, d_model) and None."""
        if state is not None:
            raise ValueError("CausalTransformer carries no state from one call to the next; pass state=None")
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        h, _, _ = self.stack(x, lengths, causal=True)
        return h, None
