"""Synced many-to-many tagging: one tag per input token (word -> part of speech, token -> entity tag).

The model (Ma & Hovy 2016; Lample et al. 2016; Plank et al. 2016):

    word embedding (+ char CNN or char BiLSTM over the word's spelling)
      -> dropout -> stacked (Bi)LSTM (seqlab.nn) -> dropout -> linear, at every position

Character features let the tagger read words it never saw in training ("unfriendliest"
ends like an adjective). Word dropout replaces training tokens by ``<unk>`` at random,
so the ``<unk>`` embedding learns what unseen words look like. Padding never counts: the
loss and every metric look only at positions before each sequence's length, and the
encoder is given ``lengths=`` so padded steps change nothing at the real ones.

Data (``data.name``): a generated toy (`SYNCED_GENERATORS`), a registry treebank
(`DATASETS`: ud_english_ewt, official train/dev/test), or the user's CoNLL-U files
(``data.name: null``, ``data.train/valid/test``, ``data.format: conllu``,
``data.tag_column: upos | xpos``; a missing valid/test split is carved from train with
the seed). Word vocabulary, character vocabulary and tag list come from the training
split only.

Metrics are exact over a whole split: token accuracy and whole-sentence exact match; and,
when the tag set is BIO/IOB2 (every tag ``O`` or ``B-X``/``I-X``) and ``seqeval`` is
installed (``pip install "seqlab[tag]"``), entity-span precision, recall and F1. Each
batch counts its spans' true positives, false positives and false negatives with seqeval;
``finalize_metrics`` turns the whole split's counts into ``F1 = 2 tp / (2 tp + fp + fn)``,
which equals ``seqeval.metrics.f1_score`` over the split.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config
from seqlab.data.batching import TokenBatch, pad
from seqlab.data.vocab import PAD_ID, UNK_ID
from seqlab.errors import ConfigError
from seqlab.nn import GRU, LSTM, RNN, drop_words
from seqlab.nn.chars import CHAR_ENCODERS
from seqlab.tasks.classify import SEQUENCE_ENCODERS, build_encoder
from seqlab.tasks.tag_data import DATASETS, SYNCED_GENERATORS, TagData, TagExample, load_data

__all__ = ["DATASETS", "SYNCED_GENERATORS", "TagBatch", "TagData", "TagExample", "Tagger", "build_model", "collate",
           "load_data"]

ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
MAX_WORD_CHARS = 32  # the char encoder reads a word's first 32 characters (URLs run to hundreds)
SPAN_COUNTS = ("span_tp", "span_fp", "span_fn")  # metric keys that finalize_metrics folds into span P/R/F1
SEQEVAL_HINT = 'pip install "seqlab[tag]"'


@dataclass(frozen=True)
class TagBatch(TokenBatch):
    """A padded batch. tokens, tags: (B, T) int64, PAD_ID past each length; lengths: (B,)
    int64, kept on the CPU (where the recurrent layers want them).

    With characters: the batch's distinct words packed into one matrix, so the char
    encoder runs once over all of them: chars (N, L) int64 character ids, PAD_ID past
    each word's length; char_lengths (N,) int64 on the CPU; char_index (B, T) int64, the
    row of ``chars`` spelling the token at each position (0 at padding).
    """

    tokens: Tensor
    tags: Tensor
    lengths: Tensor
    chars: Tensor | None = None
    char_lengths: Tensor | None = None
    char_index: Tensor | None = None

    def to(self, device: torch.device | str) -> TagBatch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return TagBatch(self.tokens.to(device), self.tags.to(device), self.lengths, move(self.chars),
                        self.char_lengths, move(self.char_index))


def example_length(example: TagExample) -> int:
    """Words in the sequence (for train.bucket)."""
    return len(example.tokens)


def collate(examples: Sequence[TagExample], pad_to: int | None = None) -> TagBatch:
    """Pad examples into one batch as wide as its longest sequence (or ``pad_to``, if wider)."""
    tokens, lengths, _ = pad([example.tokens for example in examples], PAD_ID)
    tags, _, _ = pad([example.tags for example in examples], PAD_ID)
    extra = max(0, (pad_to or 0) - tokens.shape[1])  # more padding: for invariance tests
    tokens, tags = F.pad(tokens, (0, extra), value=PAD_ID), F.pad(tags, (0, extra), value=PAD_ID)
    if examples[0].chars is None:
        return TagBatch(tokens, tags, lengths)
    rows: dict[tuple[int, ...], int] = {}  # spelling -> row of the packed matrix
    char_index = torch.zeros_like(tokens)  # (B, T)
    for b, example in enumerate(examples):
        char_index[b, :len(example.chars)] = torch.tensor(
            [rows.setdefault(tuple(word[:MAX_WORD_CHARS]) or (UNK_ID,), len(rows)) for word in example.chars],
            dtype=torch.long)
    chars, char_lengths, _ = pad(list(rows), PAD_ID)  # (N, L), (N,)
    return TagBatch(tokens, tags, lengths, chars, char_lengths, char_index)


def is_bio(tags: Sequence[str]) -> bool:
    """True when every tag is ``O`` or starts with ``B-``/``I-`` (and one at least is not ``O``)."""
    return all(tag == "O" or tag.startswith(("B-", "I-")) for tag in tags) and any(tag != "O" for tag in tags)


def span_counts(true: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> tuple[int, int, int]:
    """(tp, fp, fn) of entity spans over sentences of IOB2 tags, as seqeval finds spans:
    a span is right only if its type, start and end all match."""
    from seqeval.metrics.sequence_labeling import get_entities  # optional: seqlab[tag]

    tp = fp = fn = 0
    for gold_tags, guess_tags in zip(true, predicted):
        gold, guess = set(get_entities(list(gold_tags))), set(get_entities(list(guess_tags)))
        hits = len(gold & guess)
        tp, fp, fn = tp + hits, fp + len(guess) - hits, fn + len(gold) - hits
    return tp, fp, fn


def span_scores(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Precision tp/(tp+fp), recall tp/(tp+fn) and F1 = 2tp/(2tp+fp+fn); 0 where undefined (as seqeval)."""
    return {"span_precision": tp / (tp + fp) if tp + fp else 0.0,
            "span_recall": tp / (tp + fn) if tp + fn else 0.0,
            "span_f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0}


class Tagger(nn.Module):
    """Word embedding (+ char features) -> encoder -> dropout -> per-token linear layer.

    Args:
        vocab_size: number of token ids, padding (id 0) included.
        num_tags: number of tag ids.
        encoder: "lstm", "gru" or "rnn" (the seqlab.nn layers), or a built same-length
            sequence encoder from seqlab.nn.encoders (convolutions with "same" padding and
            no pooling, a Transformer encoder, or convolutions then a recurrent layer) whose
            ``input_size`` is the word embedding plus the char features; it must return one
            output per input position.
        embedding_dim, hidden_size, num_layers, bidirectional, recurrent_dropout: as for
            the seqlab.nn layers.
        dropout: between stacked layers and on the encoder output before the linear layer.
        embedding_dropout: on each token's input vector (word embedding and char features).
        word_dropout: in training, each real token is replaced by UNK_ID with this probability.
        char_encoder: "none", "cnn" (CharCNN) or "lstm" (CharLSTM); see seqlab.nn.chars.
        num_chars, char_embedding_dim, char_hidden_size, char_kernel_size: the char
            encoder's size (char_hidden_size: cnn filters, or lstm units per direction).
        span_tags: tag id -> tag for a BIO tag set; when given, ``metrics`` also counts
            entity spans (needs seqeval).
    """

    def __init__(self, vocab_size: int, num_tags: int, *, encoder: str | nn.Module = "lstm", embedding_dim: int = 16,
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, embedding_dropout: float = 0.0, word_dropout: float = 0.0,
                 char_encoder: str = "none", num_chars: int = 0, char_embedding_dim: int = 30,
                 char_hidden_size: int = 50, char_kernel_size: int = 3,
                 span_tags: Sequence[str] | None = None) -> None:
        super().__init__()
        self.recurrent = isinstance(encoder, str)
        if self.recurrent and encoder not in ENCODERS:
            raise ValueError(f"Tagger: encoder must be one of {', '.join(ENCODERS)} or a built encoder; "
                             f"got {encoder!r}")
        if char_encoder not in ("none", *CHAR_ENCODERS):
            raise ValueError(f"Tagger: char_encoder must be one of none, {', '.join(CHAR_ENCODERS)}; "
                             f"got {char_encoder!r}")
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"Tagger: word_dropout must be in [0, 1); got {word_dropout!r}")
        self.word_dropout = word_dropout
        self.span_tags = list(span_tags) if span_tags is not None else None
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.chars: nn.Module | None = None
        width = embedding_dim  # the encoder's input: word embedding, then char features
        if char_encoder == "cnn":
            self.chars = CHAR_ENCODERS["cnn"](num_chars, char_embedding_dim, char_hidden_size, char_kernel_size)
        elif char_encoder == "lstm":
            self.chars = CHAR_ENCODERS["lstm"](num_chars, char_embedding_dim, char_hidden_size)
        if self.chars is not None:
            width += self.chars.output_size
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        if self.recurrent:
            self.encoder = ENCODERS[encoder](
                width, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                dropout=dropout if num_layers > 1 else 0.0,  # torch's dropout acts between layers only
                recurrent_dropout=recurrent_dropout)
            out_width = hidden_size * (2 if bidirectional else 1)
        else:
            if encoder.input_size != width:
                raise ValueError(f"Tagger: the encoder reads {encoder.input_size} features per position, but the "
                                 f"word embedding and char features give {width}")
            self.encoder, out_width = encoder, encoder.output_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(out_width, num_tags)

    def extra_repr(self) -> str:
        return f"word_dropout={self.word_dropout}" if self.word_dropout else ""

    def forward(self, tokens: Tensor, lengths: Tensor, chars: Tensor | None = None,
                char_lengths: Tensor | None = None, char_index: Tensor | None = None) -> Tensor:
        """tokens: (B, T) int64; lengths: (B,) int64 on the CPU; with a char encoder also
        chars (N, L), char_lengths (N,) and char_index (B, T) as in `TagBatch`.
        Returns logits (B, T, num_tags)."""
        if self.training:
            tokens = drop_words(tokens, self.word_dropout, UNK_ID, PAD_ID)
        x = self.embedding(tokens)  # (B, T, E)
        if self.chars is not None:
            if chars is None or char_lengths is None or char_index is None:
                raise ValueError("Tagger: this model reads characters; pass chars, char_lengths and char_index "
                                 "(collate examples that carry chars)")
            words = self.chars(chars, char_lengths)  # (N, C): each distinct word of the batch once
            x = torch.cat([x, words[char_index]], dim=-1)  # (B, T, E + C)
        x = self.embedding_dropout(x)
        if self.recurrent:
            h, _ = self.encoder(x, lengths=lengths)  # (B, T, D * H), zero at padding
        else:
            h, out_lengths, _ = self.encoder(x, lengths)  # (B, T, W), zero at padding
            if h.shape[1] != x.shape[1] or not torch.equal(out_lengths.cpu(), lengths.cpu()):
                raise ValueError(f"Tagger: {type(self.encoder).__name__} changed the sequence length "
                                 f"({x.shape[1]} -> {h.shape[1]}); a tagger needs one output per token "
                                 "(convolutions with 'same' padding and no pooling)")
        return self.head(self.dropout(h))

    def logits(self, batch: TagBatch) -> Tensor:
        """(B, T, num_tags) for a collated batch."""
        return self(batch.tokens, batch.lengths, batch.chars, batch.char_lengths, batch.char_index)

    def loss(self, batch: TagBatch) -> Tensor:
        """Mean cross-entropy over the real positions of the batch (a scalar)."""
        mask = batch.mask()
        return F.cross_entropy(self.logits(batch)[mask], batch.tags[mask])  # (N, C) vs (N,): padding dropped

    @torch.no_grad()
    def metrics(self, batch: TagBatch) -> dict[str, tuple[float, int]]:
        """Each metric as (sum, count) over the batch, so batches add up exactly.

        loss and token_accuracy count real tokens; unk_token_accuracy counts the real
        tokens whose word the vocabulary lacks (<unk>: with data.min_freq 1, words never
        seen in training — what the char encoder is for); exact_match counts whole
        sequences whose every real token is tagged right; with ``span_tags``, span_tp/fp/fn
        count entity spans (see `span_counts`).
        """
        mask = batch.mask()
        logits = self.logits(batch)
        loss_sum = F.cross_entropy(logits[mask], batch.tags[mask], reduction="sum")
        predicted = logits.argmax(dim=-1)  # (B, T)
        right = (predicted == batch.tags) & mask  # (B, T)
        exact = (right | ~mask).all(dim=1)  # (B,)
        tokens = int(mask.sum())
        unknown = (batch.tokens == UNK_ID) & mask  # (B, T)
        out = {"loss": (float(loss_sum), tokens), "token_accuracy": (float(right.sum()), tokens),
               "unk_token_accuracy": (float((right & unknown).sum()), int(unknown.sum())),
               "exact_match": (float(exact.sum()), len(exact))}
        if self.span_tags is not None:
            lengths = batch.lengths.tolist()
            names = [[[self.span_tags[i] for i in row[:n]] for row, n in zip(ids.tolist(), lengths)]
                     for ids in (batch.tags, predicted)]
            counts = span_counts(*names)
            out.update({key: (float(n), len(lengths)) for key, n in zip(SPAN_COUNTS, counts)})
        return out

    def finalize_metrics(self, totals: Mapping[str, tuple[float, int]]) -> dict[str, float]:
        """Whole-split totals of ``metrics`` -> the means, and span precision/recall/F1 from the span
        counts; unk_token_accuracy only when the split has <unk> tokens."""
        out = {name: value / count if count else float("nan") for name, (value, count) in totals.items()
               if name not in SPAN_COUNTS and (count or name != "unk_token_accuracy")}
        if all(key in totals for key in SPAN_COUNTS):
            out.update(span_scores(*(totals[key][0] for key in SPAN_COUNTS)))
        return out

    @torch.no_grad()
    def predict(self, batch: TagBatch) -> list[list[int]]:
        """The most likely tag id at every real position of each sequence."""
        best = self.logits(batch).argmax(dim=-1)  # (B, T)
        return [row[:length].tolist() for row, length in zip(best, batch.lengths.tolist())]


# -- builders: the only place config becomes constructor calls -------------------------

def build_model(cfg: Config, data: TagData) -> Tagger:
    """The Tagger the recipe describes; span metrics when the tags are BIO and seqeval is installed."""
    m = cfg.model
    _check_encoder(cfg)
    span_tags = None
    if is_bio(data.tags):
        try:
            import seqeval  # noqa: F401  (optional: seqlab[tag])
            span_tags = data.tags
        except ImportError:
            warnings.warn(f"the tags are BIO, but seqeval is not installed: reporting token accuracy only, "
                          f"no span F1 ({SEQEVAL_HINT})", stacklevel=2)
    num_chars = 0 if data.char_vocab is None else len(data.char_vocab)
    char_width = {"none": 0, "cnn": m.char_hidden_size, "lstm": 2 * m.char_hidden_size}[m.char_encoder]
    encoder = build_encoder(cfg, input_size=m.embedding_dim + char_width)  # a name, or a same-length module
    return Tagger(data.vocab_size, data.num_tags, encoder=encoder, embedding_dim=m.embedding_dim,
                  hidden_size=m.hidden_size, num_layers=m.num_layers, bidirectional=m.bidirectional,
                  dropout=m.dropout, recurrent_dropout=m.recurrent_dropout, embedding_dropout=m.embedding_dropout,
                  word_dropout=m.word_dropout, char_encoder=m.char_encoder,
                  num_chars=num_chars, char_embedding_dim=m.char_embedding_dim, char_hidden_size=m.char_hidden_size,
                  char_kernel_size=m.char_kernel_size, span_tags=span_tags)


def _check_encoder(cfg: Config) -> None:
    """The encoders a tagger can use (one output per token) and their keys; ConfigErrors name the key."""
    m, encoder = cfg.model, cfg.model.encoder
    if encoder not in (*ENCODERS, *SEQUENCE_ENCODERS):
        raise ConfigError(f"model.encoder: task 'tag' takes {', '.join((*ENCODERS, *SEQUENCE_ENCODERS))}; "
                          f"got {encoder!r}")
    if encoder.startswith("conv"):  # one output per token: no pooling, no shrinking at the edges
        if m.conv_pool is not None:
            raise ConfigError(f"model.conv_pool: a tagger needs one output per token, and pooling shortens the "
                              f"sequence; expected null, got {m.conv_pool!r}")
        if m.conv_padding != "same":
            raise ConfigError(f"model.conv_padding: a tagger needs one output per token; expected 'same', "
                              f"got {m.conv_padding!r}")
    if encoder in ("conv", "transformer"):
        for key, default in (("bidirectional", "false"), ("recurrent_dropout", "0")):
            if getattr(m, key):
                raise ConfigError(f"model.{key}: only recurrent encoders use it, and model.encoder is {encoder!r}; "
                                  f"expected {default} (--set model.{key}={default}), got {getattr(m, key)!r}")
