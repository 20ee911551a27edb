"""Attention: shapes, masks, padding invariance, a hand-computed example, torch parity, gradcheck, errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

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

# kind -> (module factory, query size, key size, value size, context size)
KINDS = {
    "dot": (lambda: DotAttention(), 4, 4, 3, 3),
    "general": (lambda: GeneralAttention(5, 4), 5, 4, 3, 3),
    "additive": (lambda: AdditiveAttention(5, 4, 6), 5, 4, 3, 3),
    "scaled_dot": (lambda: ScaledDotProductAttention(), 4, 4, 3, 3),
    "multihead": (lambda: MultiHeadAttention(6, 2, kdim=4, vdim=3), 6, 4, 3, 6),
}


def _inputs(dq, dk, dv, batch=3, tq=2, ts=5, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, tq, dq, generator=g, dtype=dtype)
    keys = torch.randn(batch, ts, dk, generator=g, dtype=dtype)
    values = torch.randn(batch, ts, dv, generator=g, dtype=dtype)
    lengths = torch.tensor([ts, 2, 1][:batch])
    mask = torch.arange(ts)[None, :] < lengths[:, None]  # (B, Ts) True = real
    return query, keys, values, mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unbatched_query", [False, True], ids=["3d-query", "2d-query"])
@pytest.mark.parametrize("with_values", [True, False], ids=["values", "values=keys"])
def test_shapes(kind, unbatched_query, with_values):
    torch.manual_seed(0)
    factory, dq, dk, dv, dc = KINDS[kind]
    if not with_values:
        if kind == "multihead":
            factory, dc = (lambda: MultiHeadAttention(6, 2, kdim=4, vdim=4)), 6
        dv, dc = dk, (dc if kind == "multihead" else dk)
    query, keys, values, mask = _inputs(dq, dk, dv)
    query = query[:, 0] if unbatched_query else query
    context, alphas = factory()(query, keys, values if with_values else None, mask)
    lead = (3,) if unbatched_query else (3, 2)
    assert context.shape == (*lead, dc)
    assert alphas.shape == (*lead, 5)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_sum_to_one_and_zero_on_padding(kind):
    torch.manual_seed(0)
    factory, dq, dk, dv, _ = KINDS[kind]
    query, keys, values, mask = _inputs(dq, dk, dv)
    _, alphas = factory()(query, keys, values, mask)  # (B, Tq, Ts)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(3, 2))
    assert (alphas.masked_select(~mask[:, None, :].expand_as(alphas)) == 0).all()
    assert (alphas.masked_select(mask[:, None, :].expand_as(alphas)) > 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_padding_invariance(kind):
    """Appending padded positions (with junk values) changes neither context nor alphas."""
    torch.manual_seed(0)
    factory, dq, dk, dv, _ = KINDS[kind]
    attention = factory()
    query, keys, values, mask = _inputs(dq, dk, dv)
    context, alphas = attention(query, keys, values, mask)
    junk_k, junk_v = 1e3 * torch.randn(3, 4, dk), 1e3 * torch.randn(3, 4, dv)
    longer = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    context2, alphas2 = attention(query, torch.cat([keys, junk_k], 1), torch.cat([values, junk_v], 1), longer)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(alphas2[..., :5], alphas)
    assert (alphas2[..., 5:] == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_row_without_real_positions_gives_zeros_not_nan(kind):
    torch.manual_seed(0)
    factory, dq, dk, dv, dc = KINDS[kind]
    query, keys, values, mask = _inputs(dq, dk, dv)
    mask[1] = False  # example 1 has no real source token
    keys.requires_grad_(True)
    context, alphas = factory()(query, keys, values, mask)
    assert (alphas[1] == 0).all()
    if kind != "multihead":  # the output projection's bias may be non-zero after W^O
        assert (context[1] == 0).all()
    assert torch.isfinite(context).all()
    context.sum().backward()
    assert torch.isfinite(keys.grad).all()


def test_dot_attention_by_hand():
    """Luong dot attention with 2-dim states, computed by hand:

    s_t = [1, 0];  h_1 = [ln 3, 0],  h_2 = [0, 2],  h_3 = [100, 100] (padding, masked)
    scores:   e_1 = s_tᵀ h_1 = ln 3,   e_2 = s_tᵀ h_2 = 0,   e_3 masked
    alphas:   softmax([ln 3, 0]) = [3, 1] / (3 + 1) = [3/4, 1/4],   α_3 = 0
    context:  a_t = 3/4 [ln 3, 0] + 1/4 [0, 2] = [0.75 ln 3, 0.5] ≈ [0.82396, 0.5]
    combine:  W_c = [[1, 0, 0, 0], [0, 0, 0, 1]], b_c = 0 picks [a_t1, s_t2] from [a_t; s_t]
              s̃_t = tanh([0.75 ln 3, 0]) = [(3^1.5 - 1) / (3^1.5 + 1), 0] ≈ [0.67722, 0]
              (tanh x = (e^2x - 1) / (e^2x + 1) and e^(1.5 ln 3) = 3^1.5)
    """
    s_t = torch.tensor([[1.0, 0.0]], dtype=torch.float64)  # (B=1, D=2)
    h = torch.tensor([[[math.log(3), 0.0], [0.0, 2.0], [100.0, 100.0]]], dtype=torch.float64)  # (1, 3, 2)
    mask = torch.tensor([[True, True, False]])
    context, alphas = DotAttention()(s_t, h, mask=mask)
    torch.testing.assert_close(alphas, torch.tensor([[0.75, 0.25, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(context, torch.tensor([[0.75 * math.log(3), 0.5]], dtype=torch.float64))
    combine = AttentionalState(2, 2, 2).double()
    with torch.no_grad():
        combine.W_c.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
        combine.W_c.bias.zero_()
    expected = (3**1.5 - 1) / (3**1.5 + 1)
    torch.testing.assert_close(combine(context, s_t), torch.tensor([[expected, 0.0]], dtype=torch.float64))
    assert abs(expected - 0.67722) < 1e-5


def test_general_and_additive_match_their_equations():
    torch.manual_seed(0)
    query, keys, values, _ = _inputs(5, 4, 3, batch=2, tq=1, ts=3)
    general = GeneralAttention(5, 4)
    scores = torch.einsum("bqd,de,bse->bqs", query, general.weight, keys)  # s_tᵀ W h_i
    torch.testing.assert_close(general(query, keys, values)[1], torch.softmax(scores, -1))
    additive = AdditiveAttention(5, 4, 6)
    W, U, v = additive.W.weight, additive.U.weight, additive.v.weight[0]
    scores = torch.stack(
        [torch.tanh(query[:, :, None] @ W.T + (keys[:, j] @ U.T)[:, None, None]) @ v for j in range(3)], -1
    )
    torch.testing.assert_close(additive(query, keys, values)[1], torch.softmax(scores.squeeze(-2), -1))


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_multihead_matches_torch(use_mask, causal):
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 2)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    theirs.load_state_dict(ours.state_dict())  # same parameter names: in_proj_*, out_proj
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 5, 8)
    lengths = torch.tensor([5, 3, 1])
    mask = torch.arange(5)[None] < lengths[:, None]  # (B, Ts), True = real; pads at the end
    got_out, got_alphas = ours(x, x, mask=mask if use_mask else None, causal=causal)
    torch_mask = ~causal_mask(5, 5) if causal else None  # torch: True = NOT allowed
    want_out, want_alphas = theirs(x, x, x, key_padding_mask=~mask if use_mask else None, attn_mask=torch_mask)
    torch.testing.assert_close(got_out, want_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got_alphas, want_alphas, atol=1e-6, rtol=1e-5)
    per_head = ours(x, x, mask=mask if use_mask else None, causal=causal, average_heads=False)[1]
    want_heads = theirs(
        x, x, x, key_padding_mask=~mask if use_mask else None, attn_mask=torch_mask, average_attn_weights=False
    )[1]
    torch.testing.assert_close(per_head, want_heads, atol=1e-6, rtol=1e-5)


def test_multihead_matches_torch_with_kdim_vdim():
    torch.manual_seed(0)
    ours = MultiHeadAttention(6, 3, kdim=4, vdim=5)
    theirs = torch.nn.MultiheadAttention(6, 3, batch_first=True, kdim=4, vdim=5)
    theirs.load_state_dict(ours.state_dict())
    query, keys, values, mask = _inputs(6, 4, 5)
    got = ours(query, keys, values, mask)
    want = theirs(query, keys, values, key_padding_mask=~mask)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_multihead_block_residual_and_norm(norm_first):
    torch.manual_seed(0)
    block = MultiHeadAttentionBlock(8, 2, norm_first=norm_first)
    x = torch.randn(2, 4, 8)
    y, alphas = block(x, causal=True)
    h = block.norm(x) if norm_first else x
    out, _ = block.attention(h, h, causal=True)
    want = x + out if norm_first else block.norm(x + out)
    torch.testing.assert_close(y, want)
    assert alphas.shape == (2, 4, 4) and (alphas.triu(1) == 0).all()


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_scaled_dot_matches_torch_sdpa(use_mask, causal):
    torch.manual_seed(0)
    query, keys, values, mask = _inputs(4, 4, 3, tq=5, ts=5)
    mask = mask if use_mask else None
    context, alphas = ScaledDotProductAttention()(query, keys, values, mask, causal=causal)
    sdpa_mask = None if mask is None else mask[:, None, :].expand(3, 5, 5)  # torch SDPA: True = attend
    if causal:
        sdpa_mask = causal_mask(5, 5) if sdpa_mask is None else sdpa_mask & causal_mask(5, 5)
    want = F.scaled_dot_product_attention(query, keys, values, attn_mask=sdpa_mask)
    torch.testing.assert_close(context, want, atol=1e-6, rtol=1e-5)
    attn_mask = torch.rand(5, 5) > 0.3
    attn_mask.fill_diagonal_(True)  # every query keeps one key
    got = ScaledDotProductAttention()(query, keys, values, attn_mask=attn_mask)[0]
    torch.testing.assert_close(
        got, F.scaled_dot_product_attention(query, keys, values, attn_mask=attn_mask), atol=1e-6, rtol=1e-5
    )


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_float64(kind):
    torch.manual_seed(0)
    factory, dq, dk, dv, _ = KINDS[kind]
    attention = factory().double()
    query, keys, values, mask = _inputs(dq, dk, dv, batch=2, tq=2, ts=3, dtype=torch.float64)
    inputs = tuple(t.requires_grad_(True) for t in (query, keys, values))
    assert torch.autograd.gradcheck(lambda q, k, v: attention(q, k, v, mask), inputs)


def test_gradcheck_attentional_state():
    combine = AttentionalState(3, 2, 4).double()
    inputs = (
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 2, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(combine, inputs)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 4), width=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_masked_softmax_properties(rows, width, seed):
    g = torch.Generator().manual_seed(seed)
    scores = 10 * torch.randn(rows, width, generator=g)
    mask = torch.rand(rows, width, generator=g) > 0.4
    alphas = masked_softmax(scores, mask)
    assert torch.isfinite(alphas).all() and (alphas[~mask] == 0).all()
    sums = alphas.sum(-1)
    torch.testing.assert_close(sums, mask.any(-1).float())  # 1 with a real position, else 0
    real = mask.any(-1)
    torch.testing.assert_close(alphas[real], torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)[real])


def test_masked_softmax_gradients_with_an_empty_row():
    """float64 gradcheck, a row with no real position included: its alphas and gradients are zero."""
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    scores = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, mask), (scores,))
    alphas = masked_softmax(scores, mask)
    (alphas * torch.arange(1.0, 4.0, dtype=torch.float64)).sum().backward()
    assert (alphas[1] == 0).all() and (scores.grad[1] == 0).all() and (scores.grad[0, 1] == 0)
    half = masked_softmax(scores.detach().to(torch.bfloat16), mask)  # the fill is bf16's own minimum
    assert torch.isfinite(half).all() and (half[~mask] == 0).all()


def test_table_and_builder():
    assert set(ATTENTIONS) == {"dot", "general", "additive", "scaled_dot", "multihead"}
    for kind, cls in ATTENTIONS.items():
        attention = build_attention(kind, query_size=6, key_size=6, hidden_size=5, num_heads=2)
        assert type(attention) is cls
        context, alphas = attention(torch.randn(2, 6), torch.randn(2, 4, 6))
        assert context.shape == (2, 6) and alphas.shape == (2, 4)
    assert build_attention("additive", query_size=6, key_size=3).W.out_features == 6
    assert build_attention("multihead", query_size=6, key_size=3, num_heads=3).kdim == 3


# (callable, error type, fragment of the message)
BAD_INPUTS = [
    (lambda: DotAttention()(torch.randn(2, 3), torch.randn(2, 4, 5)), ValueError, "query size 3 must equal key size 5"),
    (
        lambda: GeneralAttention(3, 5)(torch.randn(2, 4), torch.randn(2, 4, 5)),
        ValueError,
        "query has size 4 in its last dimension, expected 3",
    ),
    (lambda: AdditiveAttention(3, 5, 2)(torch.randn(2, 3), torch.randn(2, 4, 6)), ValueError, "keys has size 6"),
    (lambda: MultiHeadAttention(4, 2)(torch.randn(2, 5), torch.randn(2, 4, 4)), ValueError, "query has size 5"),
    (
        lambda: DotAttention()(torch.randn(2, 3), torch.randn(2, 4, 3), mask=torch.ones(2, 5, dtype=torch.bool)),
        ValueError,
        "mask must have shape (B, Ts) = (2, 4), got (2, 5)",
    ),
    (
        lambda: DotAttention()(torch.randn(2, 3), torch.randn(2, 4, 3), mask=torch.ones(2, 4)),
        TypeError,
        "mask must be a bool tensor",
    ),
    (
        lambda: DotAttention()(torch.randn(3, 3), torch.randn(2, 4, 3)),
        ValueError,
        "query has batch size 3 but keys have 2",
    ),
    (lambda: DotAttention()(torch.randn(2, 1, 1, 3), torch.randn(2, 4, 3)), ValueError, "got shape (2, 1, 1, 3)"),
    (
        lambda: DotAttention()(torch.randn(2, 3), torch.randn(2, 3)),
        ValueError,
        "keys must be (B, Ts, Dk), got shape (2, 3)",
    ),
    (
        lambda: DotAttention()(torch.randn(2, 3), torch.randn(2, 4, 3), torch.randn(2, 5, 3)),
        ValueError,
        "got shape (2, 5, 3)",
    ),
    (
        lambda: ScaledDotProductAttention()(
            torch.randn(2, 3, 4), torch.randn(2, 5, 4), attn_mask=torch.ones(5, 3, dtype=torch.bool)
        ),
        ValueError,
        "attn_mask must be (Tq, Ts) = (3, 5)",
    ),
    (lambda: MultiHeadAttention(6, 4), ValueError, "embed_dim (6) must be a positive multiple of num_heads (4)"),
    (lambda: build_attention("adittive", query_size=4), ValueError, "did you mean 'additive'?"),
    (lambda: build_attention("dot", query_size=4, key_size=3), ValueError, "query_size=4, key_size=3"),
    (lambda: AttentionalState(3, 2, 4)(torch.randn(2, 3), torch.randn(2, 5)), ValueError, "state has size 5"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS)
def test_bad_input_messages(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
