"""The Transformer decoder: parity with torch.nn, the cached step equals the full pass, causality, padding."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.nn.encoders import lengths_mask
from seqlab.nn.transformer import TransformerDecoder, TransformerDecoderLayer

D, H, FF = 8, 2, 16


def _copy_into(ours: TransformerDecoderLayer, theirs: torch.nn.TransformerDecoderLayer) -> None:
    """torch's decoder layer -> ours, by the name map in TransformerDecoderLayer's docstring."""
    mapping = {
        "self_attn.": "self_attention.attention.",
        "multihead_attn.": "cross_attention.attention.",
        "linear1.": "feed_forward.linear1.",
        "linear2.": "feed_forward.linear2.",
        "norm1.": "self_attention.norm.",
        "norm2.": "cross_attention.norm.",
        "norm3.": "feed_forward.norm.",
    }
    state = {}
    for name, tensor in theirs.state_dict().items():
        prefix = next(p for p in mapping if name.startswith(p))
        state[mapping[prefix] + name[len(prefix):]] = tensor
    ours.load_state_dict(state)  # strict: every parameter of ours is set


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_equals_torch_decoder_layer_with_copied_weights(norm_first):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
    ours = TransformerDecoderLayer(D, H, FF, norm_first=norm_first).eval()
    _copy_into(ours, theirs)
    x, memory = torch.randn(3, 5, D), torch.randn(3, 4, D)
    lengths = torch.tensor([4, 2, 3])
    real = lengths_mask(lengths, 4)
    expected = theirs(x, memory, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(5),
                      memory_key_padding_mask=~real)
    got, alphas = ours(x, memory, real)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(3, 5))
    assert torch.all(alphas[1, :, 2:] == 0)  # no weight on source padding


def _decoder(positional="sinusoidal", norm_first=False, num_layers=2):
    torch.manual_seed(0)
    return TransformerDecoder(D, num_layers, H, ff_size=FF, norm_first=norm_first, positional=positional,
                              max_positions=16).double().eval()


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "none"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_steps_equal_the_full_pass_in_float64(positional, norm_first):
    decoder = _decoder(positional, norm_first)
    x, memory = torch.randn(3, 6, D, dtype=torch.float64), torch.randn(3, 5, D, dtype=torch.float64)
    lengths = torch.tensor([5, 1, 3])
    full, alphas = decoder(x, memory, lengths)
    cache = decoder.start(memory, lengths)
    for t in range(6):
        out, cache, step_alphas = decoder.step(x[:, t], cache)
        torch.testing.assert_close(out, full[:, t], atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(step_alphas, alphas[:, t], atol=1e-12, rtol=1e-10)
    assert cache.position == 6 and cache.self_keys[0].shape == (3, H, 6, D // H)


def test_a_future_position_changes_no_earlier_output():
    decoder = _decoder()
    x, memory = torch.randn(2, 6, D, dtype=torch.float64), torch.randn(2, 4, D, dtype=torch.float64)
    lengths = torch.tensor([4, 2])
    before, _ = decoder(x, memory, lengths)
    changed = x.clone()
    changed[:, 4] += 3.0
    after, _ = decoder(changed, memory, lengths)
    torch.testing.assert_close(after[:, :4], before[:, :4], atol=0, rtol=0)
    assert not torch.allclose(after[:, 4], before[:, 4])


def test_memory_padding_changes_nothing():
    decoder = _decoder()
    x, memory = torch.randn(2, 5, D, dtype=torch.float64), torch.randn(2, 3, D, dtype=torch.float64)
    lengths = torch.tensor([3, 2])
    a, alphas_a = decoder(x, memory, lengths)
    b, alphas_b = decoder(x, F.pad(memory, (0, 0, 0, 4), value=7.0), lengths)  # 4 padded positions, any values
    torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(alphas_b[..., :3], alphas_a, atol=1e-12, rtol=1e-12)
    assert torch.all(alphas_b[..., 3:] == 0)


def test_learned_positions_stop_at_max_positions_with_a_clear_error():
    decoder = _decoder("learned")
    with pytest.raises(ValueError, match="position 16 is past max_positions \\(16\\)"):
        decoder(torch.randn(1, 17, D, dtype=torch.float64), torch.randn(1, 2, D, dtype=torch.float64),
                torch.tensor([2]))


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 6, "num_heads": 4}, "d_model \\(6\\) must be divisible by num_heads \\(4\\)"),
    ({"d_model": 8, "positional": "rotary"}, "positional must be one of sinusoidal, learned, none, got 'rotary'"),
    ({"d_model": 8, "num_layers": 0}, "num_layers must be an integer >= 1, got 0"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransformerDecoder(**kwargs)
