"""Synced many-to-many tagging: one tag per input token (token -> tag, frame -> label).

The model is embedding -> recurrent encoder (seqlab.nn, optionally bidirectional) ->
one linear layer per position. Padding never counts: the loss and every metric look only
at positions before each sequence's length, and the encoder is given ``lengths=`` so
padded steps change nothing at the real ones.

Data goes through the pipeline: a generated dataset of (source, target) string pairs
with one target token per source token (``seqlab.data.generate``), whitespace tokens,
a token vocabulary and a tag list built from the training split only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config, did_you_mean
from seqlab.data.batching import TokenBatch, pad
from seqlab.data.generate import GENERATORS, generate
from seqlab.data.vocab import PAD_ID, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.nn import GRU, LSTM, RNN

ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
SYNCED_GENERATORS = ("odd-count-mod3",)  # generated datasets with one tag per token


@dataclass(frozen=True)
class TagExample:
    """One sequence: token ids and a tag id for every token."""

    tokens: list[int]
    tags: list[int]


@dataclass(frozen=True)
class TagData:
    """The three splits, encoded, and the vocabularies they were encoded with."""

    train: list[TagExample]
    valid: list[TagExample]
    test: list[TagExample]
    vocab: Vocab  # token vocabulary, built from the training split; PAD_ID is padding
    tags: list[str]  # tag id -> tag, from the training split

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_tags(self) -> int:
        return len(self.tags)

    def save(self, run_dir: Path) -> None:
        """Write vocab.json and tags.json into the run dir, so predictions can be decoded."""
        self.vocab.save(run_dir / "vocab.json")
        (run_dir / "tags.json").write_text(json.dumps(self.tags, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class TagBatch(TokenBatch):
    """A padded batch. tokens, tags: (B, T) int64, PAD_ID past each length;
    lengths: (B,) int64, kept on the CPU (where the recurrent layers want them)."""

    tokens: Tensor
    tags: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> TagBatch:
        return TagBatch(self.tokens.to(device), self.tags.to(device), self.lengths)


def collate(examples: Sequence[TagExample], pad_to: int | None = None) -> TagBatch:
    """Pad examples into one batch as wide as its longest sequence (or ``pad_to``, if wider)."""
    tokens, lengths, _ = pad([example.tokens for example in examples], PAD_ID)
    tags, _, _ = pad([example.tags for example in examples], PAD_ID)
    extra = max(0, (pad_to or 0) - tokens.shape[1])  # more padding: for invariance tests
    return TagBatch(F.pad(tokens, (0, extra), value=PAD_ID), F.pad(tags, (0, extra), value=PAD_ID), lengths)


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


# -- builders: the only place config becomes constructor calls -------------------------


def load_data(cfg: Config) -> TagData:
    """Generate the three splits named by ``cfg.data`` (each from its own seed) and encode them."""
    d = cfg.data
    if d.name not in SYNCED_GENERATORS:
        raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'tag'"
                          f"{did_you_mean(str(d.name), GENERATORS)}; known: {', '.join(SYNCED_GENERATORS)}")
    splits = {split: [(src.split(), tgt.split()) for src, tgt in
                      generate(d.name, num, seed=f"{d.name}/{split}/{cfg.seed}", min_len=d.min_len, max_len=d.max_len)]
              for split, num in (("train", d.num_train), ("valid", d.num_valid), ("test", d.num_test))}
    vocab = Vocab.build([tokens for tokens, _ in splits["train"]])
    tags = sorted({tag for _, tag_seq in splits["train"] for tag in tag_seq})
    tag_ids = {tag: i for i, tag in enumerate(tags)}

    def encode(split: str) -> list[TagExample]:
        unseen = sorted({tag for _, tag_seq in splits[split] for tag in tag_seq} - set(tag_ids))
        if unseen:
            raise DataError(f"{d.name}/{split}: tags {unseen} do not occur in the training split ({tags})")
        return [TagExample(vocab.encode(tokens), [tag_ids[tag] for tag in tag_seq]) for tokens, tag_seq in splits[split]]

    return TagData(encode("train"), encode("valid"), encode("test"), vocab, tags)


def build_model(cfg: Config, data: TagData) -> Tagger:
    m = cfg.model
    if m.encoder not in ENCODERS:
        raise ConfigError(f"model.encoder: task 'tag' takes {', '.join(ENCODERS)}; got {m.encoder!r}")
    return Tagger(data.vocab_size, data.num_tags, encoder=m.encoder, embedding_dim=m.embedding_dim,
                  hidden_size=m.hidden_size, num_layers=m.num_layers, bidirectional=m.bidirectional,
                  dropout=m.dropout, recurrent_dropout=m.recurrent_dropout)
