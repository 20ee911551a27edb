"""Character-level word encoders: a word's spelling -> one vector, for words never seen in training.

Both take all the words of a batch at once, packed into one padded matrix of
character ids (one row per word), so no Python loop runs over words:

- `CharCNN` (Ma & Hovy 2016, section 2.1): character embeddings, a 1D convolution
  over the characters of each word, then the max over the word's positions:
  ``v_f = max_t (W_f * e[t - k//2 : t + k//2 + 1] + b_f)`` for each filter f.
- `CharLSTM` (Lample et al. 2016, section 4.1): a bidirectional LSTM over the
  characters; the word vector is the forward direction's final state concatenated with
  the backward direction's final state (the one that has read back to the first character).

Padding (id 0, past each word's length) never changes a word's vector: the CNN's max
looks only at real positions (and the zero embedding of padding equals the
convolution's own zero padding), and the LSTM is given ``lengths=``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.nn.recurrent import LSTM

PAD_ID = 0  # the character id of padding (seqlab's vocabularies reserve id 0 for it)


class CharCNN(nn.Module):
    """Character embeddings -> Conv1d -> max over time (Ma & Hovy 2016).

    Args:
        num_chars: character ids, padding (id 0) included.
        embedding_dim: width of each character embedding.
        num_filters: convolution filters = width of the word vector.
        kernel_size: characters each filter sees (odd, so the output keeps the word's length).
    """

    def __init__(self, num_chars: int, embedding_dim: int = 30, num_filters: int = 50, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"CharCNN: kernel_size must be an odd integer >= 1; got {kernel_size!r}")
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(embedding_dim, num_filters, kernel_size, padding=kernel_size // 2)
        self.output_size = num_filters

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """chars: (N, L) int64, PAD_ID past each length; lengths: (N,) int64, each >= 1.
        Returns (N, num_filters): one vector per word."""
        x = self.embedding(chars).transpose(1, 2)  # (N, E, L): Conv1d wants channels second
        scores = self.conv(x)  # (N, F, L)
        real = torch.arange(chars.shape[1], device=chars.device) < lengths.to(chars.device).unsqueeze(1)  # (N, L)
        return scores.masked_fill(~real.unsqueeze(1), float("-inf")).amax(dim=2)  # (N, F)


class CharLSTM(nn.Module):
    """Character embeddings -> bidirectional LSTM -> both directions' final states (Lample et al. 2016).

    Args:
        num_chars: character ids, padding (id 0) included.
        embedding_dim: width of each character embedding.
        hidden_size: LSTM units per direction; the word vector is twice as wide.
    """

    def __init__(self, num_chars: int, embedding_dim: int = 25, hidden_size: int = 25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=PAD_ID)
        self.lstm = LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """chars: (N, L) int64, PAD_ID past each length; lengths: (N,) int64, each >= 1.
        Returns (N, 2 * hidden_size): forward final state, then backward final state."""
        _, (h_n, _) = self.lstm(self.embedding(chars), lengths=lengths.cpu())  # h_n: (2, N, H)
        return h_n.transpose(0, 1).reshape(chars.shape[0], -1)  # (N, 2 * H)


CHAR_ENCODERS = {"cnn": CharCNN, "lstm": CharLSTM}
