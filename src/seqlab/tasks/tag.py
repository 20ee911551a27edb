"""Synced many-to-many tagging: one tag per input token (token -> tag, frame -> label).

The model is embedding -> recurrent encoder (seqlab.nn, optionally bidirectional) ->
one linear layer per position. Padding never counts: the loss and every metric look only
at positions before each sequence's length, and the encoder is given ``lengths=`` so
padded steps change nothing at the real ones.

For now the data is generated here (``GENERATORS``); it moves to ``seqlab.data.generate``
once the data pipeline lands, and ``load_data`` then reads named or file datasets too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config, did_you_mean
from seqlab.errors import ConfigError
from seqlab.nn import GRU, LSTM, RNN

PAD_ID = 0  # token id of padding; real token ids start at 1
ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


@dataclass(frozen=True)
class TagExample:
    """One sequence: token ids (each >= 1) and a tag id for every token."""

    tokens: list[int]
    tags: list[int]


@dataclass(frozen=True)
class TagData:
    """The three splits and the sizes the model is built for."""

    train: list[TagExample]
    valid: list[TagExample]
    test: list[TagExample]
    vocab_size: int  # token ids are in [0, vocab_size), 0 being padding
    num_tags: int  # tag ids are in [0, num_tags)


@dataclass(frozen=True)
class TagBatch:
    """A padded batch. tokens, tags: (B, T) int64, PAD_ID / 0 past each length;
    lengths: (B,) int64, kept on the CPU (where the recurrent layers want them)."""

    tokens: Tensor
    tags: Tensor
    lengths: Tensor

    @property
    def num_tokens(self) -> int:
        """Real (unpadded) positions in the batch."""
        return int(self.lengths.sum())

    def mask(self) -> Tensor:
        """(B, T) bool, True at real positions; on the tokens' device."""
        steps = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return steps.unsqueeze(0) < self.lengths.to(self.tokens.device).unsqueeze(1)

    def to(self, device: torch.device | str) -> TagBatch:
        return TagBatch(self.tokens.to(device), self.tags.to(device), self.lengths)


def collate(examples: Sequence[TagExample], pad_to: int | None = None) -> TagBatch:
    """Pad examples into one batch of width max(length) (or ``pad_to``, if larger)."""
    lengths = torch.tensor([len(example.tokens) for example in examples], dtype=torch.int64)
    width = max(int(lengths.max()) if len(examples) else 0, pad_to or 0)
    tokens = torch.full((len(examples), width), PAD_ID, dtype=torch.int64)
    tags = torch.zeros((len(examples), width), dtype=torch.int64)
    for row, example in enumerate(examples):
        tokens[row, : len(example.tokens)] = torch.tensor(example.tokens, dtype=torch.int64)
        tags[row, : len(example.tags)] = torch.tensor(example.tags, dtype=torch.int64)
    return TagBatch(tokens, tags, lengths)


class Tagger(nn.Module):
    """Embedding -> recurrent encoder -> per-token linear layer.

    Args:
        vocab_size: number of token ids, padding (id 0) included.
        num_tags: number of tag ids.
        encoder: "lstm", "gru" or "rnn" (the seqlab.nn layers).
        embedding_dim, hidden_size, num_layers, bidirectional, recurrent_dropout: as for
            the seqlab.nn layers.
        dropout: between stacked layers and on the encoder output before the linear layer.
    """

    def __init__(self, vocab_size: int, num_tags: int, *, encoder: str = "lstm", embedding_dim: int = 16,
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"Tagger: encoder must be one of {', '.join(ENCODERS)}; got {encoder!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.encoder = ENCODERS[encoder](
            embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # torch's dropout acts between layers only
            recurrent_dropout=recurrent_dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_tags)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens: (B, T) int64; lengths: (B,) int64 on the CPU. Returns logits (B, T, num_tags)."""
        x = self.embedding(tokens)  # (B, T, E)
        h, _ = self.encoder(x, lengths=lengths)  # (B, T, D * H), zero at padding
        return self.head(self.dropout(h))

    def loss(self, batch: TagBatch) -> Tensor:
        """Mean cross-entropy over the real positions of the batch (a scalar)."""
        mask = batch.mask()
        logits = self(batch.tokens, batch.lengths)
        return F.cross_entropy(logits[mask], batch.tags[mask])  # (N, C) vs (N,): padding dropped

    @torch.no_grad()
    def metrics(self, batch: TagBatch) -> dict[str, tuple[float, int]]:
        """Each metric as (sum, count) over the batch, so batches add up exactly.

        loss and token_accuracy count real tokens; exact_match counts whole sequences
        whose every real token is tagged right.
        """
        mask = batch.mask()
        logits = self(batch.tokens, batch.lengths)
        loss_sum = F.cross_entropy(logits[mask], batch.tags[mask], reduction="sum")
        right = (logits.argmax(dim=-1) == batch.tags) & mask  # (B, T)
        exact = (right | ~mask).all(dim=1)  # (B,)
        tokens = int(mask.sum())
        return {"loss": (float(loss_sum), tokens), "token_accuracy": (float(right.sum()), tokens),
                "exact_match": (float(exact.sum()), len(exact))}

    @torch.no_grad()
    def predict(self, batch: TagBatch) -> list[list[int]]:
        """The most likely tag id at every real position of each sequence."""
        best = self(batch.tokens, batch.lengths).argmax(dim=-1)  # (B, T)
        return [row[:length].tolist() for row, length in zip(best, batch.lengths.tolist())]


# -- generated data (to move to seqlab.data.generate) ----------------------------------


def odd_count_mod3(num: int, min_len: int, max_len: int, seed: str) -> list[TagExample]:
    """Random digit strings; each digit's tag is the count of odd digits so far, mod 3.

    E.g. digits 3 4 5 1 -> tags 1 1 2 0. Token id = digit + 1 (0 is padding). The tag
    depends on the whole prefix, so a model must carry a 3-state memory along the sequence.
    """
    rng = random.Random(seed)
    examples = []
    for _ in range(num):
        digits = [rng.randrange(10) for _ in range(rng.randint(min_len, max_len))]
        tags, count = [], 0
        for digit in digits:
            count = (count + digit % 2) % 3
            tags.append(count)
        examples.append(TagExample([digit + 1 for digit in digits], tags))
    return examples


# name -> (generator, vocab_size, num_tags)
GENERATORS = {"odd-count-mod3": (odd_count_mod3, 11, 3)}


# -- builders: the only place config becomes constructor calls -------------------------


def load_data(cfg: Config) -> TagData:
    """Generate the three splits named by ``cfg.data``, each from its own seed."""
    if cfg.data.name not in GENERATORS:
        raise ConfigError(f"data.name: unknown dataset {cfg.data.name!r} for task 'tag'"
                          f"{did_you_mean(cfg.data.name, GENERATORS)}; known: {', '.join(GENERATORS)}")
    generate, vocab_size, num_tags = GENERATORS[cfg.data.name]
    d = cfg.data
    splits = {split: generate(num, d.min_len, d.max_len, seed=f"{d.name}/{split}/{cfg.seed}")
              for split, num in (("train", d.num_train), ("valid", d.num_valid), ("test", d.num_test))}
    return TagData(**splits, vocab_size=vocab_size, num_tags=num_tags)


def build_model(cfg: Config, data: TagData) -> Tagger:
    m = cfg.model
    return Tagger(data.vocab_size, data.num_tags, encoder=m.encoder, embedding_dim=m.embedding_dim,
                  hidden_size=m.hidden_size, num_layers=m.num_layers, bidirectional=m.bidirectional,
                  dropout=m.dropout, recurrent_dropout=m.recurrent_dropout)
