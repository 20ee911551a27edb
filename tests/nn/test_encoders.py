"""seqlab.nn.encoders: parity with torch.nn and hand-built conv stacks, padding invariance,
float64 gradcheck, masks and bad arguments."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.nn import (
    GRU,
    LSTM,
    ConvEncoder,
    ConvRNNEncoder,
    TransformerEncoder,
    TransformerEncoderLayer,
    drop_words,
    sinusoidal_positions,
)

LENGTHS = torch.tensor([7, 3, 1, 5])


def padded_input(size, lengths=LENGTHS, steps=None, dtype=torch.float32, seed=0):
    """(B, T, size) random input, random past each length too: the encoders must never read it."""
    g = torch.Generator().manual_seed(seed)
    steps = int(lengths.max()) if steps is None else steps
    return torch.randn(len(lengths), steps, size, generator=g, dtype=dtype)


def append_padding(x, extra):
    """The same batch with ``extra`` more padded positions, filled with garbage (never read)."""
    return torch.cat([x, torch.full((x.shape[0], extra, x.shape[2]), 9.0, dtype=x.dtype)], dim=1)


ENCODERS = {
    "conv-same": lambda: ConvEncoder(4, 6, kernel_size=3, num_layers=2),
    "conv-even-kernel": lambda: ConvEncoder(4, 6, kernel_size=4, num_layers=2),
    "conv-dilated-pooled": lambda: ConvEncoder(4, 6, kernel_size=3, num_layers=3, dilation=2, pool_size=2),
    "conv-pool-last": lambda: ConvEncoder(4, 6, kernel_size=2, num_layers=2, pool_size=3, pool_last=True),
    "transformer-post-ln": lambda: TransformerEncoder(4, 8, num_layers=2, num_heads=2),
    "transformer-pre-ln-learned": lambda: TransformerEncoder(4, 8, num_layers=2, num_heads=4, norm_first=True,
                                                             positional="learned", max_positions=16),
    "conv+lstm": lambda: ConvRNNEncoder(ConvEncoder(4, 6, kernel_size=3, num_layers=2, pool_size=2, pool_last=True),
                                        LSTM(6, 5, batch_first=True, bidirectional=True)),
    "conv+gru": lambda: ConvRNNEncoder(ConvEncoder(4, 6, kernel_size=3, pool_size=2, pool_last=True),
                                       GRU(6, 5, num_layers=2, batch_first=True)),
}


@pytest.mark.parametrize("name", ENCODERS)
def test_padding_changes_nothing_at_real_positions(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name]().eval()
    x = padded_input(4)
    outputs, lengths, final = encoder(x, LENGTHS)
    longer, longer_lengths, longer_final = encoder(append_padding(x, 6), LENGTHS)
    assert torch.equal(lengths, longer_lengths)
    steps = outputs.shape[1]
    torch.testing.assert_close(longer[:, :steps], outputs)
    assert longer[:, steps:].abs().max() == 0  # all padding: nothing leaks
    if final is not None:
        torch.testing.assert_close(longer_final, final)
    # And each row alone, without any padding, gives its row of the batch.
    for b, length in enumerate(LENGTHS.tolist()):
        alone, alone_length, alone_final = encoder(x[b:b + 1, :length], LENGTHS[b:b + 1])
        assert int(alone_length) == int(lengths[b])
        torch.testing.assert_close(alone[0], outputs[b, :alone.shape[1]])
        if final is not None:
            torch.testing.assert_close(alone_final[0], final[b])


@pytest.mark.parametrize("name", ENCODERS)
def test_outputs_are_zero_past_the_new_lengths(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name]().eval()
    outputs, lengths, _ = encoder(padded_input(4), LENGTHS)
    assert outputs.shape == (4, outputs.shape[1], encoder.output_size)
    for b, length in enumerate(lengths.tolist()):
        assert 1 <= length <= outputs.shape[1]
        assert outputs[b, length:].abs().max() == 0 if length < outputs.shape[1] else True


# -- ConvEncoder against torch.nn.functional.conv1d, written out per sequence ----------------


def conv_by_hand(encoder, x_row, length):
    """One unpadded sequence (length, I) through the encoder's layers with F.conv1d, window by window
    max pooling in a Python loop, nothing masked (there is no padding). Returns (T', C)."""
    h = x_row[:length].t().unsqueeze(0)  # (1, I, length)
    for i, conv in enumerate(encoder.convs):
        dilation = encoder.dilation**i
        span = dilation * (encoder.kernel_size - 1)
        if encoder.padding == "same":
            h = F.pad(h, (span // 2, span - span // 2))
        h = torch.relu(F.conv1d(h, conv.weight, conv.bias, dilation=dilation))
        if encoder.pool_size and (i < encoder.num_layers - 1 or encoder.pool_last):
            p = encoder.pool_size
            windows = [h[:, :, j:j + p].amax(dim=-1) for j in range(0, h.shape[-1], p)]  # last may be partial
            h = torch.stack(windows, dim=-1)
    return h[0].t()


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3, "num_layers": 1},
    {"kernel_size": 4, "num_layers": 2},  # even kernel: torch's "same" puts the odd zero on the right
    {"kernel_size": 3, "num_layers": 3, "dilation": 2},
    {"kernel_size": 3, "num_layers": 2, "pool_size": 2},
    {"kernel_size": 2, "num_layers": 3, "pool_size": 3, "pool_last": True},
    {"kernel_size": 2, "num_layers": 2, "padding": "valid"},
    {"kernel_size": 2, "num_layers": 2, "padding": "valid", "pool_size": 2},
])
def test_conv_encoder_equals_conv1d_stacks_by_hand(kwargs):
    torch.manual_seed(0)
    encoder = ConvEncoder(4, 5, **kwargs).double()
    lengths = torch.tensor([9, 4, 6])
    x = padded_input(4, lengths, dtype=torch.float64)
    outputs, new_lengths, final = encoder(x, lengths)
    assert final is None
    for b, length in enumerate(lengths.tolist()):
        expected = conv_by_hand(encoder, x[b], length)  # (T'_b, C)
        assert int(new_lengths[b]) == expected.shape[0]
        torch.testing.assert_close(outputs[b, :expected.shape[0]], expected, rtol=1e-12, atol=1e-12)


def test_pooling_shortens_to_ceil_of_length_over_pool_size():
    encoder = ConvEncoder(2, 3, kernel_size=1, num_layers=2, pool_size=2)
    outputs, lengths, _ = encoder(torch.randn(4, 7, 2), torch.tensor([7, 3, 1, 4]))
    assert outputs.shape == (4, 4, 3) and lengths.tolist() == [4, 2, 1, 2]


def test_valid_padding_shortens_by_the_span_and_refuses_too_short_sequences():
    encoder = ConvEncoder(2, 3, kernel_size=3, num_layers=2, dilation=2, padding="valid")  # spans 2 and 4
    outputs, lengths, _ = encoder(torch.randn(2, 9, 2), torch.tensor([9, 7]))
    assert outputs.shape == (2, 3, 3) and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="a sequence of length 3 is too short for layer 2 .* use padding='same'"):
        encoder(torch.randn(2, 9, 2), torch.tensor([9, 5]))


# -- TransformerEncoderLayer against torch.nn.TransformerEncoderLayer -----------------------


def copy_into(ours: TransformerEncoderLayer, theirs: torch.nn.TransformerEncoderLayer) -> None:
    """Copy torch's weights into ours, name by name (written out, not by state-dict order)."""
    attention, feed_forward = ours.self_attention, ours.feed_forward
    with torch.no_grad():
        attention.attention.in_proj_weight.copy_(theirs.self_attn.in_proj_weight)  # (3E, E): W^Q, W^K, W^V
        attention.attention.in_proj_bias.copy_(theirs.self_attn.in_proj_bias)
        attention.attention.out_proj.weight.copy_(theirs.self_attn.out_proj.weight)  # W^O
        attention.attention.out_proj.bias.copy_(theirs.self_attn.out_proj.bias)
        attention.norm.weight.copy_(theirs.norm1.weight)
        attention.norm.bias.copy_(theirs.norm1.bias)
        feed_forward.linear1.weight.copy_(theirs.linear1.weight)
        feed_forward.linear1.bias.copy_(theirs.linear1.bias)
        feed_forward.linear2.weight.copy_(theirs.linear2.weight)
        feed_forward.linear2.bias.copy_(theirs.linear2.bias)
        feed_forward.norm.weight.copy_(theirs.norm2.weight)
        feed_forward.norm.bias.copy_(theirs.norm2.bias)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_layer_equals_torch_layer(norm_first, activation):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, activation=activation,
                                              batch_first=True, norm_first=norm_first).double()
    for p in theirs.parameters():  # move LayerNorm and biases off their 1/0 initial values
        torch.nn.init.uniform_(p, -0.5, 0.5) if p.dim() == 1 else None
    ours = TransformerEncoderLayer(8, 2, 12, activation=activation, norm_first=norm_first).double()
    copy_into(ours, theirs)
    lengths = torch.tensor([5, 2, 4])
    x = padded_input(8, lengths, dtype=torch.float64)
    real = torch.arange(5) < lengths.unsqueeze(1)  # (B, T)
    expected = theirs(x, src_key_padding_mask=~real)  # torch: True = padding
    got, _ = ours(x, real)
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)
    # Causal: torch's mask of the future (True = may not attend) is our causal flag.
    future = torch.ones(5, 5, dtype=torch.bool).triu(diagonal=1)
    expected = theirs(x, src_mask=future, src_key_padding_mask=~real, is_causal=True)
    got, _ = ours(x, real, causal=True)
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)


def test_attention_weights_are_zero_on_padding_and_sum_to_one():
    torch.manual_seed(0)
    encoder = TransformerEncoder(4, 8, num_layers=2, num_heads=2).eval()
    _, _, attentions = encoder.forward_with_attention(padded_input(4), LENGTHS)
    assert len(attentions) == 2
    real = torch.arange(7) < LENGTHS.unsqueeze(1)  # (B, T)
    for alphas in attentions:  # (B, T, T): query, key
        assert alphas.shape == (4, 7, 7)
        assert alphas.masked_select(~real[:, None, :].expand_as(alphas)).abs().max() == 0
        torch.testing.assert_close(alphas.sum(-1)[real], torch.ones(int(real.sum())))


def test_causal_attention_looks_only_backwards():
    torch.manual_seed(0)
    encoder = TransformerEncoder(4, 8, num_heads=2).eval()
    x = padded_input(4)
    _, _, (alphas,) = encoder.forward_with_attention(x, LENGTHS, causal=True)
    assert alphas.triu(diagonal=1).abs().max() == 0
    # Position t's output depends on positions <= t only: changing the future changes nothing.
    changed = x.clone()
    changed[:, 4:] += 1.0
    before, _, _ = encoder(x, torch.tensor([7, 7, 7, 7]), causal=True)
    after, _, _ = encoder(changed, torch.tensor([7, 7, 7, 7]), causal=True)
    torch.testing.assert_close(after[:, :4], before[:, :4])


def test_sinusoidal_positions_hand_computed():
    pe = sinusoidal_positions(3, 4, dtype=torch.float64)
    # PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same); d = 4:
    #   i = 0: pos / 1          i = 1: pos / 10000^(1/2) = pos / 100
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0],
                             [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
                             [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]], dtype=torch.float64)
    torch.testing.assert_close(pe, expected, rtol=1e-12, atol=1e-12)
    assert sinusoidal_positions(2, 5).shape == (2, 5)  # odd width: the last sine column has no cosine


def test_positions_make_the_transformer_order_aware():
    torch.manual_seed(0)
    x = padded_input(8, torch.tensor([5]))
    flipped = x.flip(1)
    lengths = torch.tensor([5])
    for positional, order_aware in (("none", False), ("sinusoidal", True), ("learned", True)):
        encoder = TransformerEncoder(8, 8, num_heads=2, positional=positional).eval()
        out, _, _ = encoder(x, lengths)
        out_flipped, _, _ = encoder(flipped, lengths)
        same = torch.allclose(out_flipped.flip(1), out, atol=1e-6)
        assert same != order_aware, positional  # without positions, self-attention is permutation-equivariant


# -- ConvRNNEncoder -------------------------------------------------------------------------


def test_conv_rnn_is_the_conv_then_the_rnn_with_the_pooled_lengths():
    torch.manual_seed(0)
    conv = ConvEncoder(4, 6, kernel_size=3, pool_size=2, pool_last=True)
    rnn = LSTM(6, 5, batch_first=True, bidirectional=True)
    encoder = ConvRNNEncoder(conv, rnn).eval()
    x = padded_input(4)
    outputs, lengths, final = encoder(x, LENGTHS)
    c, conv_lengths, _ = conv(x, LENGTHS)
    expected, _ = rnn(c, lengths=conv_lengths)
    assert lengths.tolist() == [4, 2, 1, 3] and outputs.shape == (4, 4, 10)
    torch.testing.assert_close(outputs, expected)
    # final: forward state at each last real step, backward state at step 0.
    forward_end = outputs[torch.arange(4), lengths - 1, :5]
    torch.testing.assert_close(final, torch.cat([forward_end, outputs[:, 0, 5:]], dim=1))


# -- float64 gradcheck on tiny instances ----------------------------------------------------


TINY = {  # the smallest instances that still take every path: pooling, dilation, heads, both norms, an RNN
    "conv-dilated-pooled": lambda: ConvEncoder(3, 3, kernel_size=2, num_layers=2, dilation=2, pool_size=2),
    "transformer-post-ln": lambda: TransformerEncoder(3, 4, num_heads=2, ff_size=5),
    "transformer-pre-ln-learned": lambda: TransformerEncoder(3, 4, num_heads=2, ff_size=5, norm_first=True,
                                                             positional="learned", max_positions=8),
    "conv+gru": lambda: ConvRNNEncoder(ConvEncoder(3, 3, kernel_size=2, pool_size=2, pool_last=True),
                                       GRU(3, 2, batch_first=True, bidirectional=True)),
}


@pytest.mark.parametrize("name", TINY)
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    encoder = TINY[name]().double().eval()
    lengths = torch.tensor([5, 2])
    x = padded_input(3, lengths, dtype=torch.float64).requires_grad_()

    def run(x):
        outputs, _, final = encoder(x, lengths)
        return outputs if final is None else (outputs, final)

    assert torch.autograd.gradcheck(run, (x,), eps=1e-6, atol=1e-5)
    # And the weights: the first three parameters as inputs, through torch.func.functional_call.
    names = [name for name, _ in encoder.named_parameters()][:3]

    def run_params(*values):
        outputs, _, final = torch.func.functional_call(encoder, dict(zip(names, values)), (x.detach(), lengths))
        return outputs if final is None else (outputs, final)

    weights = tuple(dict(encoder.named_parameters())[name].detach().clone().requires_grad_() for name in names)
    assert torch.autograd.gradcheck(run_params, weights, eps=1e-6, atol=1e-5)


# -- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: ConvEncoder(4, 6, kernel_size=0), "kernel_size must be an integer >= 1, got 0"),
    (lambda: ConvEncoder(4, 6, padding="causal"), "padding must be one of same, valid, got 'causal'"),
    (lambda: ConvEncoder(4, 6, dropout=1.0), r"dropout must be in \[0, 1\), got 1.0"),
    (lambda: TransformerEncoder(4, 10, num_heads=3), r"d_model \(10\) must be divisible by num_heads \(3\)"),
    (lambda: TransformerEncoder(4, 8, positional="rotary"), "positional must be one of sinusoidal, learned, none"),
    (lambda: ConvRNNEncoder(ConvEncoder(4, 6), LSTM(5, 3, batch_first=True)), r"input_size == conv channels \(6\)"),
])
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_calls_are_named():
    encoder = TransformerEncoder(4, 8, positional="learned", max_positions=6)
    with pytest.raises(ValueError, match=r"7 positions is longer than max_positions \(6\)"):
        encoder(torch.randn(1, 7, 4), torch.tensor([7]))
    with pytest.raises(ValueError, match="x has 3 features in its last dimension, expected 4"):
        encoder(torch.randn(1, 5, 3), torch.tensor([5]))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=5\], got \[0\]"):
        encoder(torch.randn(1, 5, 4), torch.tensor([0]))


def test_drop_words_keeps_padding_and_replaces_only_by_unk():
    torch.manual_seed(0)
    tokens = torch.randint(2, 50, (64, 30))
    tokens[:, 20:] = 0  # padding
    out = drop_words(tokens, 0.3, unk_id=1)
    real = tokens != 0
    assert torch.equal(out[~real], tokens[~real])
    changed = out != tokens
    assert (out[changed] == 1).all()
    assert 0.25 < changed[real].float().mean().item() < 0.35  # ~ Binomial(1280, 0.3) / 1280
    assert drop_words(tokens, 0.0, unk_id=1) is tokens
    with pytest.raises(ValueError, match=r"drop_words: p must be in \[0, 1\), got 1.0"):
        drop_words(tokens, 1.0, unk_id=1)
