"""Attention: dot, general, additive, scaled dot-product and multi-head, one interface.

A decoder state (the query) ``s_t`` looks at the encoder states (the keys) ``h_1 .. h_S``
and takes a weighted average of the values (by default the keys themselves)::

    scores_i = score(s_t, h_i)                 one number per source position
    alphas   = softmax(scores)                 over the real (unmasked) positions only
    context  = a_t = Σ_i alphas_i v_i          the attention value / context vector

The kinds differ in ``score`` only:

    dot         s_tᵀ h_i                      Luong et al. 2015, eq. 8 "dot"
    general     s_tᵀ W h_i                    Luong et al. 2015, eq. 8 "general" (bilinear)
    additive    vᵀ tanh(W s_t + U h_i)        Bahdanau et al. 2015, appendix A.1.2
    scaled_dot  s_tᵀ h_i / √d_k               Vaswani et al. 2017, eq. 1
    multihead   scaled_dot per head on learned projections W^Q s, W^K h, W^V v,
                heads concatenated and projected by W^O (Vaswani et al. 2017, §3.2.2)

The attentional state that feeds the output layer, ``s̃_t = tanh(W_c [a_t; s_t] + b_c)``
(Luong et al. 2015, eq. 5), is :class:`AttentionalState`, kept apart so a decoder step
can call it after any kind of attention.

Common call (``DotAttention``, ``GeneralAttention``, ``AdditiveAttention``,
``ScaledDotProductAttention``, ``MultiHeadAttention``)::

    context, alphas = attention(query, keys, values=None, mask=None)
    query  (B, Tq, Dq) or (B, Dq)  decoder states (one step when 2-D)
    keys   (B, Ts, Dk)             encoder states
    values (B, Ts, Dv)             defaults to keys
    mask   (B, Ts) bool            True = real token, False = padding
    context (B, Tq, Dv) or (B, Dv); alphas (B, Tq, Ts) or (B, Ts)

Every row of ``alphas`` sums to 1 over the real positions and is exactly 0 on padding, so
appending padded positions changes nothing. A source row with no real position at all
gets all-zero ``alphas`` and a zero ``context`` (not NaN, unlike a plain softmax over
-inf); the same holds for a query row that a causal or attention mask leaves empty.
"""

from __future__ import annotations

import abc
import difflib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """alphas = softmax(scores) over the positions where ``mask`` is True, 0 elsewhere.

    scores: (..., Ts); mask: bool, broadcastable to scores, or None (nothing masked).
    Returns alphas with the shape of scores. A row with no True position is all zero.

    Masked scores become the dtype's most negative finite number, not -inf: softmax then
    gives them exp(min - max) = 0 exactly wherever the row has a real position, and a row
    with none comes out uniform instead of NaN; multiplying by the mask zeroes that row
    and changes nothing else. Three operations (one fused softmax), which matters in a
    decoder that attends once per step.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    alphas = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
    return alphas * mask


def causal_mask(tq: int, ts: int, device: torch.device | None = None) -> Tensor:
    """(Tq, Ts) bool, True where query i may attend key j, i.e. j <= i (top-left aligned,
    as ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``)."""
    return torch.ones(tq, ts, dtype=torch.bool, device=device).tril()


def _check_inputs(who: str, query: Tensor, keys: Tensor, values: Tensor | None, mask: Tensor | None):
    """Validate the common call; returns (query (B, Tq, Dq), keys, values, mask, unbatched)."""
    for name, t in (("query", query), ("keys", keys), ("values", values), ("mask", mask)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{who}: {name} must be a tensor, got {type(t).__name__}")
    if query.dim() not in (2, 3):
        raise ValueError(f"{who}: query must be (B, Tq, Dq) or (B, Dq), got shape {tuple(query.shape)}")
    if keys.dim() != 3:
        raise ValueError(f"{who}: keys must be (B, Ts, Dk), got shape {tuple(keys.shape)}")
    values = keys if values is None else values
    if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"{who}: values must be (B, Ts, Dv) with B, Ts of keys {tuple(keys.shape)}, got shape {tuple(values.shape)}"
        )
    unbatched = query.dim() == 2
    query = query.unsqueeze(1) if unbatched else query  # (B, Tq, Dq)
    if query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"{who}: query has batch size {query.shape[0]} but keys have {keys.shape[0]} (shapes {tuple(query.shape)} and {tuple(keys.shape)})"
        )
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"{who}: mask must be a bool tensor (True = real token), got dtype {mask.dtype}")
        if tuple(mask.shape) != tuple(keys.shape[:2]):
            raise ValueError(f"{who}: mask must have shape (B, Ts) = {tuple(keys.shape[:2])}, got {tuple(mask.shape)}")
    return query, keys, values, mask, unbatched


def _check_size(who: str, what: str, got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(f"{who}: {what} has size {got} in its last dimension, expected {expected}")


def _full_mask(
    who: str, mask: Tensor | None, attn_mask: Tensor | None, causal: bool, tq: int, ts: int, device
) -> Tensor | None:
    """Combine padding (B, Ts), attention (Tq, Ts) | (B, Tq, Ts) and causal masks into one
    bool mask broadcastable to (B, Tq, Ts), True = may attend; None when nothing is masked."""
    full = None if mask is None else mask[:, None, :]  # (B, 1, Ts)
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor) or attn_mask.dtype != torch.bool:
            raise TypeError(
                f"{who}: attn_mask must be a bool tensor (True = may attend), got {getattr(attn_mask, 'dtype', type(attn_mask).__name__)}"
            )
        if attn_mask.dim() not in (2, 3) or tuple(attn_mask.shape[-2:]) != (tq, ts):
            raise ValueError(
                f"{who}: attn_mask must be (Tq, Ts) = {(tq, ts)} or (B, Tq, Ts), got {tuple(attn_mask.shape)}"
            )
        full = attn_mask if full is None else full & attn_mask
    if causal:
        tril = causal_mask(tq, ts, device)
        full = tril if full is None else full & tril
    return full


class _SeqAttention(nn.Module, abc.ABC):
    """The common call; subclasses define ``score(query (B, Tq, Dq), keys (B, Ts, Dk)) -> (B, Tq, Ts)``."""

    @abc.abstractmethod
    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """scores (B, Tq, Ts): how well each query matches each key."""

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, Tq, Dq) | (B, Dq); keys (B, Ts, Dk); values (B, Ts, Dv) or None (= keys);
        mask (B, Ts) bool, True = real token.
        Returns context (B, Tq, Dv) | (B, Dv) and alphas (B, Tq, Ts) | (B, Ts)."""
        query, keys, values, mask, unbatched = _check_inputs(type(self).__name__, query, keys, values, mask)
        scores = self.score(query, keys)  # (B, Tq, Ts)
        alphas = masked_softmax(scores, None if mask is None else mask[:, None, :])
        context = alphas @ values  # (B, Tq, Dv)
        return (context.squeeze(1), alphas.squeeze(1)) if unbatched else (context, alphas)


class DotAttention(_SeqAttention):
    """Dot-product attention (Luong et al. 2015): ``scores_i = s_tᵀ h_i``; no parameters.

    Needs Dq == Dk. See the module docstring for the call and shapes.
    """

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(
                f"DotAttention: query size {query.shape[-1]} must equal key size {keys.shape[-1]} "
                "(scores = s_tᵀ h_i); use GeneralAttention or AdditiveAttention for different sizes"
            )
        return query @ keys.transpose(1, 2)  # (B, Tq, Ts)


class GeneralAttention(_SeqAttention):
    """General (bilinear) attention (Luong et al. 2015): ``scores_i = s_tᵀ W h_i``.

    weight ``W``: (query_size, key_size). See the module docstring for the call and shapes.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = int(query_size), int(key_size)
        self.weight = nn.Parameter(torch.empty(self.query_size, self.key_size))
        nn.init.xavier_uniform_(self.weight)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        _check_size("GeneralAttention", "query", query.shape[-1], self.query_size)
        _check_size("GeneralAttention", "keys", keys.shape[-1], self.key_size)
        projected = keys @ self.weight.t()  # (B, Ts, Dq): W h_i
        return query @ projected.transpose(1, 2)  # (B, Tq, Ts)


class AdditiveAttention(_SeqAttention):
    """Additive attention (Bahdanau et al. 2015): ``scores_i = vᵀ tanh(W s_t + U h_i)``.

    ``W``: Linear(query_size → hidden_size), ``U``: Linear(key_size → hidden_size),
    ``v``: Linear(hidden_size → 1), all without bias as in the paper.
    See the module docstring for the call and shapes.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = int(query_size), int(key_size), int(hidden_size)
        self.W = nn.Linear(self.query_size, self.hidden_size, bias=False)
        self.U = nn.Linear(self.key_size, self.hidden_size, bias=False)
        self.v = nn.Linear(self.hidden_size, 1, bias=False)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, hidden_size={self.hidden_size}"

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        _check_size("AdditiveAttention", "query", query.shape[-1], self.query_size)
        _check_size("AdditiveAttention", "keys", keys.shape[-1], self.key_size)
        energy = torch.tanh(self.W(query)[:, :, None, :] + self.U(keys)[:, None, :, :])  # (B, Tq, Ts, A)
        return self.v(energy).squeeze(-1)  # (B, Tq, Ts)


class ScaledDotProductAttention(nn.Module):
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1): ``softmax(Q Kᵀ / √d_k) V``.

    ``scale`` defaults to 1/√d_k. No parameters. Besides the padding ``mask`` it takes,
    for self-attention, ``attn_mask`` (Tq, Ts) or (B, Tq, Ts) bool (True = may attend, as
    in torch's ``scaled_dot_product_attention``) and ``causal=True`` (key j visible to
    query i iff j <= i).
    """

    def __init__(self, scale: float | None = None) -> None:
        super().__init__()
        self.scale = None if scale is None else float(scale)

    def extra_repr(self) -> str:
        return "" if self.scale is None else f"scale={self.scale}"

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """query (B, Tq, D) | (B, D); keys (B, Ts, D); values (B, Ts, Dv) or None (= keys);
        mask (B, Ts) bool, True = real token; attn_mask (Tq, Ts) | (B, Tq, Ts) bool.
        Returns context (B, Tq, Dv) | (B, Dv) and alphas (B, Tq, Ts) | (B, Ts)."""
        who = "ScaledDotProductAttention"
        query, keys, values, mask, unbatched = _check_inputs(who, query, keys, values, mask)
        _check_size(who, "query", query.shape[-1], keys.shape[-1])
        scale = 1.0 / math.sqrt(keys.shape[-1]) if self.scale is None else self.scale
        scores = (query @ keys.transpose(1, 2)) * scale  # (B, Tq, Ts)
        full = _full_mask(who, mask, attn_mask, causal, query.shape[1], keys.shape[1], query.device)
        alphas = masked_softmax(scores, full)
        context = alphas @ values  # (B, Tq, Dv)
        return (context.squeeze(1), alphas.squeeze(1)) if unbatched else (context, alphas)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, §3.2.2)::

        head_j  = softmax((Q W_j^Q)(K W_j^K)ᵀ / √d_h) (V W_j^V)      d_h = embed_dim / num_heads
        output  = [head_1; ...; head_H] W^O

    Parameters carry torch.nn.MultiheadAttention's names and shapes, so state dicts load
    both ways: ``in_proj_weight`` (3E, E) when kdim == vdim == E, else ``q_proj_weight``
    (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias``
    (3E,) and ``out_proj`` (Linear E → E). Always batch-first. Unlike torch, masks say
    True = attend (``mask`` (B, Ts): True = real token), and a fully masked row gives zeros
    instead of NaN. ``dropout`` acts on the alphas used for the context; the returned
    alphas are before dropout (each row sums to 1).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout!r}")
        self.embed_dim, self.num_heads, self.dropout = int(embed_dim), int(num_heads), float(dropout)
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        E = self.embed_dim
        self._same_dims = self.kdim == E and self.vdim == E
        if self._same_dims:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * E, E))
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(E, E))
            self.k_proj_weight = nn.Parameter(torch.empty(E, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(E, self.vdim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * E)) if bias else None
        self.out_proj = nn.Linear(E, E, bias=bias)
        for p in (
            (self.in_proj_weight,) if self._same_dims else (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        ):
            nn.init.xavier_uniform_(p)  # torch's initialization
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def extra_repr(self) -> str:
        extra = "" if self._same_dims else f", kdim={self.kdim}, vdim={self.vdim}"
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}{extra}"

    def _projections(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._same_dims:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        causal: bool = False,
        average_heads: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """query (B, Tq, E) | (B, E); keys (B, Ts, kdim); values (B, Ts, vdim) or None (= keys);
        mask (B, Ts) bool, True = real token; attn_mask (Tq, Ts) | (B, Tq, Ts) bool, True =
        may attend; causal: key j visible to query i iff j <= i.
        Returns output (B, Tq, E) | (B, E) and alphas (B, Tq, Ts) | (B, Ts) averaged over
        heads, or (B, H, Tq, Ts) | (B, H, Ts) per head when ``average_heads=False``."""
        who = "MultiHeadAttention"
        query, keys, values, mask, unbatched = _check_inputs(who, query, keys, values, mask)
        _check_size(who, "query", query.shape[-1], self.embed_dim)
        _check_size(who, "keys", keys.shape[-1], self.kdim)
        _check_size(who, "values", values.shape[-1], self.vdim)
        k, v = self.project_keys_values(keys, values)  # (B, H, Ts, d_h) each
        full = _full_mask(who, mask, attn_mask, causal, query.shape[1], keys.shape[1], query.device)
        output, alphas = self.attend(self.project_query(query), k, v, full)
        alphas = alphas.mean(dim=1) if average_heads else alphas
        return (output.squeeze(1), alphas.squeeze(-2)) if unbatched else (output, alphas)

    # The two halves of forward, apart so a decoder can project the keys and values of its
    # memory once and keep those of its own past tokens between steps (a key/value cache).

    def _heads(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """x (B, T, D) -> its projection split into heads, (B, H, T, d_h)."""
        B, T, H = x.shape[0], x.shape[1], self.num_heads
        return F.linear(x, weight, bias).view(B, T, H, self.embed_dim // H).transpose(1, 2)

    def _biases(self) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        return (None, None, None) if self.in_proj_bias is None else self.in_proj_bias.chunk(3)

    def project_query(self, query: Tensor) -> Tensor:
        """query (B, Tq, E) -> Q W^Q per head, (B, H, Tq, d_h)."""
        return self._heads(query, self._projections()[0], self._biases()[0])

    def project_keys_values(self, keys: Tensor, values: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """keys (B, Ts, kdim), values (B, Ts, vdim) or None (= keys) -> K W^K and V W^V per
        head, each (B, H, Ts, d_h)."""
        _, w_k, w_v = self._projections()
        _, b_k, b_v = self._biases()
        return self._heads(keys, w_k, b_k), self._heads(keys if values is None else values, w_v, b_v)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Projected q (B, H, Tq, d_h), k and v (B, H, Ts, d_h); mask bool broadcastable to
        (B, Tq, Ts), True = may attend, or None. Returns output (B, Tq, E) and the alphas
        per head (B, H, Tq, Ts), before dropout."""
        B, H, Tq, d_h = q.shape
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_h)  # (B, H, Tq, Ts)
        alphas = masked_softmax(scores, None if mask is None else mask.unsqueeze(-3))  # (B, H, Tq, Ts)
        heads = F.dropout(alphas, self.dropout, self.training) @ v  # (B, H, Tq, d_h)
        return self.out_proj(heads.transpose(1, 2).reshape(B, Tq, H * d_h)), alphas  # (B, Tq, E)


class MultiHeadAttentionBlock(nn.Module):
    """Multi-head attention with residual connection and layer norm (Vaswani et al. 2017, §5.4)::

        post-norm (paper):  y = LayerNorm(x + Dropout(MultiHead(x, keys, values)))
        pre-norm:           y = x + Dropout(MultiHead(LayerNorm(x), keys, values))

    ``keys=None`` is self-attention (keys = values = x, layer-normed too in pre-norm).
    ``self.attention`` is a :class:`MultiHeadAttention`; ``self.norm`` a LayerNorm(E).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        norm_first: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
    ) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim)
        self.norm = nn.LayerNorm(embed_dim)
        self.residual_dropout = nn.Dropout(dropout)
        self.norm_first = bool(norm_first)

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"

    def forward(
        self,
        x: Tensor,
        keys: Tensor | None = None,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """x (B, Tq, E); keys (B, Ts, kdim) or None (self-attention, Ts = Tq); values as in
        :class:`MultiHeadAttention`; mask (B, Ts) bool, True = real token.
        Returns y (B, Tq, E) and alphas (B, Tq, Ts) averaged over heads."""
        h = self.norm(x) if self.norm_first else x
        keys = h if keys is None else keys
        out, alphas = self.attention(h, keys, values, mask, attn_mask=attn_mask, causal=causal)
        y = x + self.residual_dropout(out)
        return (y if self.norm_first else self.norm(y)), alphas


class AttentionalState(nn.Module):
    """The attentional state fed to the output layer (Luong et al. 2015, eq. 5)::

        s̃_t = tanh(W_c [a_t; s_t] + b_c)        context a_t first, then the decoder state s_t

    ``W_c``: Linear(context_size + state_size → out_size). ``bias=False`` is eq. 5 exactly.
    """

    def __init__(self, context_size: int, state_size: int, out_size: int, bias: bool = True) -> None:
        super().__init__()
        self.context_size, self.state_size = int(context_size), int(state_size)
        self.W_c = nn.Linear(self.context_size + self.state_size, out_size, bias=bias)

    def forward(self, context: Tensor, state: Tensor) -> Tensor:
        """context (..., context_size); state (..., state_size), same leading dims.
        Returns s̃ (..., out_size)."""
        _check_size("AttentionalState", "context", context.shape[-1], self.context_size)
        _check_size("AttentionalState", "state", state.shape[-1], self.state_size)
        if context.shape[:-1] != state.shape[:-1]:
            raise ValueError(
                f"AttentionalState: context {tuple(context.shape)} and state {tuple(state.shape)} must share leading dimensions"
            )
        return torch.tanh(self.W_c(torch.cat([context, state], dim=-1)))


ATTENTIONS: dict[str, type[nn.Module]] = {
    "dot": DotAttention,
    "general": GeneralAttention,
    "additive": AdditiveAttention,
    "scaled_dot": ScaledDotProductAttention,
    "multihead": MultiHeadAttention,
}


def build_attention(
    kind: str,
    *,
    query_size: int,
    key_size: int | None = None,
    hidden_size: int | None = None,
    num_heads: int = 1,
    dropout: float = 0.0,
    bias: bool = True,
) -> nn.Module:
    """Build the attention named ``kind`` (a key of ``ATTENTIONS``) from plain sizes.

    query_size: Dq (decoder state); key_size: Dk (encoder state; default Dq); hidden_size:
    the additive attention's A (default Dq); num_heads, dropout, bias: multi-head only
    (its embed_dim is query_size, kdim = vdim = key_size).
    """
    if kind not in ATTENTIONS:
        close = difflib.get_close_matches(str(kind), ATTENTIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown attention kind {kind!r}; expected one of {', '.join(ATTENTIONS)}{hint}")
    key_size = query_size if key_size is None else key_size
    if kind in ("dot", "scaled_dot") and key_size != query_size:
        raise ValueError(
            f"{kind!r} attention needs key_size == query_size, got query_size={query_size}, key_size={key_size}"
        )
    if kind == "dot":
        return DotAttention()
    if kind == "general":
        return GeneralAttention(query_size, key_size)
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, query_size if hidden_size is None else hidden_size)
    if kind == "scaled_dot":
        return ScaledDotProductAttention()
    return MultiHeadAttention(query_size, num_heads, dropout=dropout, bias=bias, kdim=key_size, vdim=key_size)
