"""Character word encoders: shapes, padding invariance, and each word checked against torch run on it alone."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.nn.chars import CharCNN, CharLSTM

# Four words of different lengths, as character ids (0 is padding).
WORDS = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [4, 5]]


def packed(words, width=None):
    """(N, L) ids right-padded with 0 to ``width`` (default: the longest word), and (N,) lengths."""
    width = width or max(map(len, words))
    chars = torch.tensor([word + [0] * (width - len(word)) for word in words])
    return chars, torch.tensor([len(word) for word in words])


@pytest.mark.parametrize("make", [lambda: CharCNN(14, 6, 5, 3), lambda: CharLSTM(14, 6, 4)])
def test_shapes_and_padding_never_counts(make):
    torch.manual_seed(0)
    encoder = make()
    tight, padded = packed(WORDS), packed(WORDS, width=11)
    out = encoder(*tight)
    assert out.shape == (4, encoder.output_size)
    torch.testing.assert_close(encoder(*padded), out)


def test_char_cnn_is_conv_then_max_over_each_words_own_characters():
    # Reference: for each word alone (no padding), torch's conv1d with the same weights and
    # zero padding k//2 at both ends, then the max over the word's positions (Ma & Hovy 2016).
    torch.manual_seed(0)
    encoder = CharCNN(14, 6, 5, kernel_size=3).double()
    out = encoder(*packed(WORDS))
    for i, word in enumerate(WORDS):
        x = encoder.embedding.weight[torch.tensor(word)].T.unsqueeze(0)  # (1, E, len)
        scores = F.conv1d(x, encoder.conv.weight, encoder.conv.bias, padding=1)  # (1, F, len)
        torch.testing.assert_close(out[i], scores[0].amax(dim=1))


def test_char_lstm_is_both_directions_final_states_of_torch_lstm():
    # Reference: torch.nn.LSTM with the same weights, run on each word alone; the word vector
    # is h_n of the forward direction, then h_n of the backward one (Lample et al. 2016).
    torch.manual_seed(0)
    encoder = CharLSTM(14, 6, 4).double()
    reference = torch.nn.LSTM(6, 4, batch_first=True, bidirectional=True).double()
    reference.load_state_dict(encoder.lstm.state_dict())
    out = encoder(*packed(WORDS))
    assert out.shape == (4, 8)
    for i, word in enumerate(WORDS):
        _, (h_n, _) = reference(encoder.embedding.weight[torch.tensor(word)].unsqueeze(0))  # h_n: (2, 1, 4)
        torch.testing.assert_close(out[i], torch.cat([h_n[0, 0], h_n[1, 0]]))


def test_char_cnn_gradients_match_finite_differences():
    torch.manual_seed(0)
    encoder = CharCNN(14, 3, 2, kernel_size=3).double()
    chars, lengths = packed(WORDS)
    weight = encoder.conv.weight.detach().clone().requires_grad_(True)

    def run(w):
        x = encoder.embedding(chars).transpose(1, 2)
        scores = F.conv1d(x, w, encoder.conv.bias, padding=1)
        real = torch.arange(chars.shape[1]) < lengths.unsqueeze(1)
        return scores.masked_fill(~real.unsqueeze(1), float("-inf")).amax(dim=2)

    torch.testing.assert_close(run(weight), encoder(chars, lengths))
    assert torch.autograd.gradcheck(run, (weight,))


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="kernel_size must be an odd integer >= 1; got 4"):
        CharCNN(10, 4, 4, kernel_size=4)
