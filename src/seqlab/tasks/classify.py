"""Many-to-one classification: one label per text (review -> sentiment, surname -> language).

The model is embedding -> encoder -> pooling over time -> dropout -> linear. The encoder
(``model.encoder``) is a recurrent layer of seqlab.nn (lstm, gru, rnn: stacked,
bidirectional, recurrent dropout) or one of seqlab.nn.encoders: ``conv`` (stacked 1D
convolutions, optionally max-pooled between layers: Keras's Conv1D -> MaxPooling1D ->
Conv1D -> global pooling), ``transformer`` (self-attention layers over positional
encodings) or ``conv+lstm`` / ``conv+gru`` / ``conv+rnn`` (convolutions and pooling shorten
the text, then the recurrent layer reads the shorter sequence). Pooling looks only at
each sequence's real positions, so padding never changes a prediction:

| pooling     | the sequence vector                                                    |
| ----------- | ---------------------------------------------------------------------- |
| `last`      | the final states: forward at the last real step, backward at the first |
| `mean`      | the mean of the outputs over real positions                            |
| `max`       | the element-wise max of the outputs over real positions                |
| `max+mean`  | ``[max; mean]``, both of the above concatenated (width 2W)              |
| `attention` | ``sum_t alphas_t h_t``, alphas = masked softmax of ``u_w . tanh(W h_t + b)`` (Yang et al. 2016) |

``last`` needs an encoder with final states (the recurrent ones and conv+*): a conv or
Transformer output at the last position is just that token's local (or contextual)
representation, not a summary of the text, so those encoders refuse ``last`` and ask
for mean, max or attention.

Data: a registry dataset (``data.name``: imdb, sst2, names) or the user's files
(``data.train``/``valid``/``test`` with ``data.format`` and the column names): texts, or
numeric feature sequences (``data.format: sequences-jsonl``, read through a linear input
projection instead of the embedding; see :mod:`seqlab.tasks.classify_features`). A split
the source lacks is carved from train with the recipe seed (``split.json`` in the run
dir records every split's rows), never chosen on test. Tokenizer, vocabulary and label
list are built from the training split only.

Metrics are exact over a whole split: every batch returns ``(sum, count)`` pairs,
per-class true/false positive and false negative counts among them, and
``finalize_metrics`` turns the totals into accuracy and macro-F1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config
from seqlab.data.batching import TokenBatch, pad
from seqlab.data.tokenize import settings_for
from seqlab.data.vocab import PAD_ID, UNK_ID
from seqlab.errors import ConfigError
from seqlab.nn import (
    GRU,
    LSTM,
    RNN,
    ConvEncoder,
    ConvRNNEncoder,
    TransformerEncoder,
    drop_words,
    lengths_mask,
    masked_softmax,
    top_final_state,
)
from seqlab.tasks import classify_data, classify_features
from seqlab.tasks.classify_data import DATASETS, ClassifyData, ClassifyExample, reads_features
from seqlab.tasks.classify_features import FeatureExample

ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}  # the recurrent encoders, built by the Classifier itself
SEQUENCE_ENCODERS = ("conv", "transformer", "conv+lstm", "conv+gru", "conv+rnn")  # seqlab.nn.encoders, by build_encoder
POOLINGS = ("last", "mean", "max", "max+mean", "attention")
__all__ = [
    "DATASETS",
    "POOLINGS",
    "Classifier",
    "ClassifyBatch",
    "ClassifyData",
    "ClassifyExample",
    "build_encoder",
    "build_model",
    "collate",
    "load_data",
    "reads_features",
    "report",
]
_COUNTS = ("tp_", "fp_", "fn_")  # per-class metric keys that finalize_metrics folds into macro_f1


@dataclass(frozen=True)
class ClassifyBatch(TokenBatch):
    """A padded batch. tokens: (B, T) int64, PAD_ID past each length (or, for feature
    sequences, (B, T, F) float32, zero past each length); labels: (B,) int64;
    lengths: (B,) int64, kept on the CPU (where the recurrent layers want them)."""

    tokens: Tensor
    labels: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> ClassifyBatch:
        return ClassifyBatch(self.tokens.to(device), self.labels.to(device), self.lengths)


def example_length(example: ClassifyExample | FeatureExample) -> int:
    """Tokens in the text, or steps in the feature sequence (for train.bucket)."""
    return len(example.features) if isinstance(example, FeatureExample) else len(example.tokens)


def collate(examples: Sequence[ClassifyExample] | Sequence[FeatureExample], pad_to: int | None = None) -> ClassifyBatch:
    """Pad examples into one batch as wide as its longest text (or ``pad_to``, if wider).
    Feature sequences give ``tokens`` (B, T, F) float32, zero past each length."""
    if isinstance(examples[0], FeatureExample):
        features, lengths = classify_features.pad_features([example.features for example in examples])
        extra = max(0, (pad_to or 0) - features.shape[1])
        labels = torch.tensor([example.label for example in examples], dtype=torch.long)
        return ClassifyBatch(F.pad(features, (0, 0, 0, extra)), labels, lengths)
    tokens, lengths, _ = pad([example.tokens for example in examples], PAD_ID)
    extra = max(0, (pad_to or 0) - tokens.shape[1])  # more padding: for invariance tests
    labels = torch.tensor([example.label for example in examples], dtype=torch.long)
    return ClassifyBatch(F.pad(tokens, (0, extra), value=PAD_ID), labels, lengths)


def macro_f1(tp: Sequence[float], fp: Sequence[float], fn: Sequence[float]) -> float:
    """Mean over classes of F1_c = 2 tp_c / (2 tp_c + fp_c + fn_c).

    Classes that are neither true nor predicted anywhere (2tp + fp + fn = 0) are left
    out of the mean, as scikit-learn's ``f1_score(average="macro")`` does.
    """
    scores = [2 * t / (2 * t + p + n) for t, p, n in zip(tp, fp, fn) if 2 * t + p + n > 0]
    return sum(scores) / len(scores) if scores else float("nan")


class Classifier(nn.Module):
    """Embedding -> encoder -> pooling over real positions -> dropout -> linear.

    Args:
        vocab_size: number of token ids, padding (id 0) included.
        num_classes: number of label ids.
        encoder: "lstm", "gru" or "rnn" (the seqlab.nn layers, built here from the sizes
            below), or a built encoder with the seqlab.nn.encoders call ``(x, lengths) ->
            (outputs, lengths, final)``, an ``input_size`` equal to ``embedding_dim`` and an
            ``output_size`` (see :func:`build_encoder`); hidden_size, num_layers,
            bidirectional and recurrent_dropout are then the encoder's business and unused.
        embedding_dim, hidden_size, num_layers, bidirectional, recurrent_dropout: as for
            the seqlab.nn layers.
        dropout: between stacked layers and on the pooled vector before the linear layer.
        embedding_dropout: on the token embeddings.
        word_dropout: in training, each real token id is replaced by <unk> with this
            probability before the embedding (Iyyer et al. 2015), so no single word decides.
        embedding_init_std: the embeddings start as N(0, std^2) (padding row 0); None: torch's
            N(0, 1). Convolutional classifiers learn far faster from small embeddings (Keras
            starts them in U(-0.05, 0.05)): on 3,000 IMDB reviews, 5 epochs, a conv classifier
            reached 0.61 valid accuracy from N(0, 1) and 0.74 from std 0.05.
        pooling: "last", "mean", "max", "max+mean" or "attention" (see the module docstring).
        num_features: read (B, T, num_features) float steps through a linear input projection
            to embedding_dim instead of token ids (vocab_size and embedding_init_std are unused).
    """

    def __init__(self, vocab_size: int, num_classes: int, *, encoder: str | nn.Module = "lstm",
                 embedding_dim: int = 16, hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, embedding_dropout: float = 0.0,
                 word_dropout: float = 0.0, embedding_init_std: float | None = None, pooling: str = "last",
                 num_features: int | None = None) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"Classifier: pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"Classifier: word_dropout must be in [0, 1); got {word_dropout!r}")
        if word_dropout and num_features is not None:
            raise ValueError("Classifier: word_dropout replaces token ids by <unk>; numeric feature steps have none")
        self.pooling = pooling
        self.word_dropout = word_dropout
        # The embedding is created first, so a seed gives the recurrent classifiers the same weights as before.
        if num_features is not None:  # x_t W^T + b: numeric steps in the embedding's place
            self.embedding = nn.Linear(num_features, embedding_dim)
        else:
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        if embedding_init_std is not None and num_features is None:
            with torch.no_grad():
                nn.init.normal_(self.embedding.weight, std=embedding_init_std)
                self.embedding.weight[PAD_ID].zero_()  # as nn.Embedding leaves the padding row
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.recurrent = isinstance(encoder, str)
        if self.recurrent:
            if encoder not in ENCODERS:
                raise ValueError(f"Classifier: encoder must be one of {', '.join(ENCODERS)} or a built encoder; "
                                 f"got {encoder!r}")
            self.num_directions = 2 if bidirectional else 1
            width = hidden_size * self.num_directions  # D * H
            self.encoder = ENCODERS[encoder](
                embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                dropout=dropout if num_layers > 1 else 0.0,  # torch's dropout acts between layers only
                recurrent_dropout=recurrent_dropout)
        else:
            if encoder.input_size != embedding_dim:
                raise ValueError(f"Classifier: the encoder reads {encoder.input_size} features per position, "
                                 f"but embedding_dim is {embedding_dim}")
            if pooling == "last" and not encoder.has_final:
                raise ValueError(f"Classifier: pooling 'last' needs final states, which {type(encoder).__name__} "
                                 "does not have; use mean, max or attention")
            self.encoder, width = encoder, encoder.output_size
        if pooling == "attention":
            self.attention = nn.Linear(width, width)  # u_t = tanh(W h_t + b)
            self.query = nn.Parameter(torch.randn(width) / width**0.5)  # u_w, the learned query
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width if pooling == "max+mean" else width, num_classes)

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}" + (f", word_dropout={self.word_dropout}" if self.word_dropout else "")

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens: (B, T) int64 (or (B, T, F) float features); lengths: (B,) int64 on the CPU,
        each >= 1. Returns logits (B, C)."""
        h, lengths, final = self.encode(tokens, lengths)  # (B, T', W), zero at padding
        mask = lengths_mask(lengths, h.shape[1], h.device)  # (B, T')
        return self.head(self.dropout(self.pool(h, final, mask)))

    def encode(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """tokens: (B, T); lengths: (B,). Returns the encoder outputs h (B, T', W) (T' < T
        where the encoder pools), their lengths (B,), and the final states (B, W) or None."""
        if self.training:
            tokens = drop_words(tokens, self.word_dropout, UNK_ID, PAD_ID)
        x = self.embedding_dropout(self.embedding(tokens))  # (B, T, E)
        if self.recurrent:
            h, state = self.encoder(x, lengths=lengths)  # (B, T, D * H), zero at padding
            return h, lengths, top_final_state(state, self.num_directions)  # final: (B, D * H)
        return self.encoder(x, lengths)

    def pool(self, h: Tensor, final: Tensor | None, mask: Tensor) -> Tensor:
        """h: (B, T, W) outputs; final: (B, W) final states (used by ``last``) or None;
        mask: (B, T) bool. Returns (B, W) ((B, 2W) for max+mean), computed from real positions only."""
        if self.pooling == "last":
            if final is None:
                raise ValueError("Classifier: pooling 'last' needs final states; the encoder gave none")
            return final
        if self.pooling in ("mean", "max", "max+mean"):
            real = mask.unsqueeze(-1)  # (B, T, 1)
            mean = (h * real.to(h.dtype)).sum(dim=1) / real.sum(dim=1).to(h.dtype)  # (B, W)
            if self.pooling == "mean":
                return mean
            peak = h.masked_fill(~real, float("-inf")).amax(dim=1)  # (B, W)
            return peak if self.pooling == "max" else torch.cat([peak, mean], dim=-1)
        u = torch.tanh(self.attention(h))  # (B, T, W)
        scores = u @ self.query  # (B, T)
        alphas = masked_softmax(scores, mask)  # (B, T), 0 at padding
        return (alphas.unsqueeze(-1) * h).sum(dim=1)  # context (B, W)

    def loss(self, batch: ClassifyBatch) -> Tensor:
        """Mean cross-entropy over the batch's examples (a scalar)."""
        return F.cross_entropy(self(batch.tokens, batch.lengths), batch.labels)

    @torch.no_grad()
    def metrics(self, batch: ClassifyBatch) -> dict[str, tuple[float, int]]:
        """Each metric as (sum, count) over the batch's examples, so batches add up exactly:
        loss, accuracy, and per class c the counts tp_c, fp_c, fn_c (for macro-F1)."""
        logits = self(batch.tokens, batch.lengths)  # (B, C)
        labels, count, classes = batch.labels, len(batch.labels), logits.shape[-1]
        predicted = logits.argmax(dim=-1)  # (B,)
        right = predicted == labels
        tp = torch.bincount(labels[right], minlength=classes)  # (C,)
        fp = torch.bincount(predicted, minlength=classes) - tp
        fn = torch.bincount(labels, minlength=classes) - tp
        out = {"loss": (float(F.cross_entropy(logits, labels, reduction="sum")), count),
               "accuracy": (float(right.sum()), count)}
        for prefix, counts in zip(_COUNTS, (tp, fp, fn)):
            out.update({f"{prefix}{c}": (float(n), count) for c, n in enumerate(counts.tolist())})
        return out

    def finalize_metrics(self, totals: Mapping[str, tuple[float, int]]) -> dict[str, float]:
        """Whole-split totals of ``metrics`` -> loss, accuracy (means) and macro_f1."""
        out = {name: value / count if count else float("nan")
               for name, (value, count) in totals.items() if not name.startswith(_COUNTS)}
        tp, fp, fn = ([totals[f"{prefix}{c}"][0] for c in range(self.head.out_features)] for prefix in _COUNTS)
        out["macro_f1"] = macro_f1(tp, fp, fn)
        return out

    @torch.no_grad()
    def predict(self, batch: ClassifyBatch) -> tuple[list[int], Tensor]:
        """The most likely label id of each text, and the probabilities (B, C) on the CPU."""
        probabilities = torch.softmax(self(batch.tokens, batch.lengths), dim=-1).cpu()  # (B, C)
        return probabilities.argmax(dim=-1).tolist(), probabilities


# -- builders: the only place config becomes constructor calls -------------------------

def load_data(cfg: Config) -> ClassifyData:
    """The splits of ``cfg.data``, encoded (see :func:`seqlab.tasks.classify_data.load_data`),
    after checking the tokenizer and model settings, so a bad choice does not wait for the data."""
    settings_for(cfg.data)
    _check_model_settings(cfg)
    return classify_data.load_data(cfg)


def build_model(cfg: Config, data: ClassifyData) -> Classifier:
    m = cfg.model
    _check_model_settings(cfg)
    features = reads_features(cfg)
    return Classifier(0 if features else data.vocab_size, data.num_classes, encoder=build_encoder(cfg),
                      num_features=data.num_features if features else None,
                      embedding_dim=m.embedding_dim, hidden_size=m.hidden_size, num_layers=m.num_layers,
                      bidirectional=m.bidirectional, dropout=m.dropout, recurrent_dropout=m.recurrent_dropout,
                      embedding_dropout=m.embedding_dropout, word_dropout=m.word_dropout,
                      embedding_init_std=m.embedding_init_std, pooling=m.pooling)


def build_encoder(cfg: Config, input_size: int | None = None) -> str | nn.Module:
    """The encoder ``model.encoder`` names: a recurrent kind's name (the Classifier builds
    those, keeping their weight names) or a seqlab.nn.encoders module reading ``input_size``
    features per position (default: model.embedding_dim; a tagger adds its char features)."""
    m = cfg.model
    width = m.embedding_dim if input_size is None else input_size
    if m.encoder in ENCODERS:
        return m.encoder
    if m.encoder == "transformer":
        return TransformerEncoder(width, m.hidden_size, m.num_layers, m.num_heads, ff_size=m.ff_size,
                                  dropout=m.dropout, norm_first=m.norm_first, positional=m.positional,
                                  max_positions=m.max_positions)
    recurrent = m.encoder.removeprefix("conv+")  # lstm, gru or rnn after the convolutions; "conv": none
    conv = ConvEncoder(width, m.conv_channels, m.conv_kernel_size, m.conv_layers,
                       dilation=m.conv_dilation, padding=m.conv_padding, pool_size=m.conv_pool,
                       pool_last=recurrent in ENCODERS, dropout=m.dropout)
    if recurrent not in ENCODERS:
        return conv
    rnn = ENCODERS[recurrent](m.conv_channels, m.hidden_size, num_layers=m.num_layers, batch_first=True,
                              bidirectional=m.bidirectional, dropout=m.dropout if m.num_layers > 1 else 0.0,
                              recurrent_dropout=m.recurrent_dropout)
    return ConvRNNEncoder(conv, rnn)


def _check_model_settings(cfg: Config) -> None:
    """Model keys that make no sense with the chosen encoder are ConfigErrors naming the key."""
    m, encoder = cfg.model, cfg.model.encoder
    if encoder not in (*ENCODERS, *SEQUENCE_ENCODERS):
        raise ConfigError(f"model.encoder: task 'classify' takes {', '.join((*ENCODERS, *SEQUENCE_ENCODERS))}; "
                          f"got {encoder!r}")
    if encoder in ("conv", "transformer"):
        if m.pooling == "last":
            raise ConfigError(f"model.pooling: 'last' needs final states, which the {encoder} encoder does not have "
                              "(its output at the last position is one token's representation, not a summary); "
                              "expected mean, max or attention")
        for key, default in (("bidirectional", "false"), ("recurrent_dropout", "0")):
            if getattr(m, key):
                raise ConfigError(f"model.{key}: only recurrent encoders use it, and model.encoder is {encoder!r}; "
                                  f"expected {default} (--set model.{key}={default}), got {getattr(m, key)!r}")
    if m.word_dropout and reads_features(cfg):
        raise ConfigError(f"model.word_dropout: replaces token ids by <unk>, and this recipe reads numeric feature "
                          f"steps (data.format: {cfg.data.format}); expected 0, got {m.word_dropout!r}")
    if encoder == "conv" and m.num_layers != 1:
        raise ConfigError(f"model.num_layers: the conv encoder's depth is model.conv_layers; expected 1 (unused), "
                          f"got {m.num_layers}")
    if encoder == "transformer" and m.positional == "learned":
        longest = cfg.data.max_tokens_per_example
        if not cfg.eval.truncate:
            raise ConfigError(f"eval.truncate: learned positions cover {m.max_positions} tokens, and false would "
                              "score whole texts, longer ones among them; expected true (or model.positional: "
                              "sinusoidal)")
        if longest is None or longest > m.max_positions:
            raise ConfigError(f"model.max_positions: learned positions cover {m.max_positions} tokens, but "
                              f"data.max_tokens_per_example is {longest}; expected "
                              f"data.max_tokens_per_example <= {m.max_positions}")


# -- the test report: confusion matrix as text and plots/confusion.png ------------------


@torch.no_grad()
def confusion_matrix(model: Classifier, examples: Sequence[ClassifyExample], num_classes: int, batch_size: int,
                     device: torch.device) -> Tensor:
    """(C, C) int64 counts: row = true label, column = predicted label."""
    model.eval()
    counts = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size])
        predicted, _ = model.predict(batch.to(device))
        counts += count_confusion(batch.labels, torch.tensor(predicted), num_classes)
    return counts


def count_confusion(truth: Tensor, predicted: Tensor, num_classes: int) -> Tensor:
    """(C, C) int64 counts of (true, predicted) label pairs: row = true label."""
    counts = torch.zeros(num_classes, num_classes, dtype=torch.long)
    return counts.index_put_((truth.long(), predicted.long()), torch.ones(len(truth), dtype=torch.long), accumulate=True)


def format_confusion(counts: Tensor, labels: Sequence[str]) -> str:
    """The matrix as a text table: one row per true label, columns numbered like the rows."""
    width = max(len(str(int(counts.max()))), len(str(len(labels))), 3)
    name_width = max(len(label) for label in labels) + len(str(len(labels))) + 1
    lines = ["confusion matrix (test; rows: true label, columns: predicted label)",
             " " * name_width + " " + " ".join(f"{j:>{width}}" for j in range(len(labels)))]
    for i, (label, row) in enumerate(zip(labels, counts.tolist())):
        lines.append(f"{f'{i} {label}':<{name_width}} " + " ".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)


def plot_confusion(counts: Tensor, labels: Sequence[str], path: Path) -> None:
    """Write the matrix, each row normalized to 1, as a heat map with the counts written in."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend state

    rates = counts.double() / counts.sum(dim=1, keepdim=True).clamp(min=1)  # (C, C) recall per row
    size = 2.5 + 0.45 * len(labels)
    figure = Figure(figsize=(size, size))
    axes = figure.add_subplot()
    axes.imshow(rates.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(labels)), labels, rotation=90)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(labels) <= 20:
        for (i, j), n in np.ndenumerate(counts.numpy()):
            axes.text(j, i, str(n), ha="center", va="center", fontsize=7,
                      color="white" if rates[i, j] > 0.5 else "black")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def report(model: Classifier, data: ClassifyData, cfg: Config, run_dir: Path, device: torch.device) -> str:
    """After the test evaluation: write plots/confusion.png and confusion.txt; return the text table."""
    return write_confusion(confusion_matrix(model, data.test, data.num_classes, cfg.eval.batch_size, device),
                           data.labels, run_dir)


def write_confusion(counts: Tensor, labels: Sequence[str], run_dir: Path) -> str:
    """Write confusion.txt (atomically) and plots/confusion.png into ``run_dir``; return the text table."""
    from seqlab.training.checkpoint import write_atomic

    text = format_confusion(counts, labels)
    write_atomic(run_dir / "confusion.txt", lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    plot_confusion(counts, labels, run_dir / "plots" / "confusion.png")
    return text
