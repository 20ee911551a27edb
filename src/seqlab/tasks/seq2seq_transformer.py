"""Sequence to sequence with a Transformer encoder–decoder (Vaswani et al. 2017), ``model.arch: transformer``.

    e_src = Emb_src(x) · √d                               (B, S, d)   d = d_model = model.hidden_size
    memory = TransformerEncoder(e_src, src_lengths)       (B, S, d)   self-attention, positions added inside
    e_tgt = Emb_tgt(<sos> y_1 .. y_{T-1}) · √d            (B, T, d)
    out, alphas = TransformerDecoder(e_tgt, memory)       (B, T, d), (B, T, S)   causal self-attention + cross-attention
    p(y_t | y_<t, x) = softmax(W_out out_t + b)           tied: W_out = Emb_tgt (Press & Wolf 2017)

Embeddings start as N(0, 1/d) and are scaled by √d (§3.4), so token and position terms
are both of unit size. Source and target have their own vocabularies, so only the target
embedding can be tied to the output layer (``model.tie_embeddings``).

The model plugs into the same task path as the RNN model (:class:`~seqlab.tasks.seq2seq.Seq2SeqModel`:
loss with label smoothing, greedy/beam search, exact match, BLEU, chrF, bundles,
``seqlab translate``). For search, :meth:`TransformerSeq2Seq.step` writes one position
from a key/value cache (:class:`~seqlab.nn.transformer.DecoderCache`): the memory is
projected once per layer, and each step adds its own keys and values, so the prefix is
never run through the stack again. ``alphas`` (heat maps, ``--show-attention``) are the
last decoder layer's cross-attention weights averaged over its heads.

Teacher forcing is always full: scheduled sampling and input feeding belong to the RNN decoder.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab import decode
from seqlab.config import Config
from seqlab.data.vocab import PAD_ID
from seqlab.errors import ConfigError
from seqlab.metrics import require_sacrebleu
from seqlab.nn import TransformerEncoder
from seqlab.nn.transformer import DecoderCache, TransformerDecoder
from seqlab.tasks.seq2seq_data import Seq2SeqData
from seqlab.tasks.seq2seq_model import Search, Seq2SeqModel, TeacherForcing


class TransformerEncoded(NamedTuple):
    """Encoder output: memory (B, S, d), zero at padding; lengths (B,) real source positions."""

    memory: Tensor
    lengths: Tensor


class TransformerSeq2Seq(Seq2SeqModel):
    """Transformer encoder–decoder (see the module docstring).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes (PAD_ID = 0 in both).
        d_model: width of embeddings, attention and every residual stream.
        num_layers: encoder layers, and as many decoder layers.
        num_heads: attention heads (d_model must be divisible by it).
        ff_size: feed-forward inner width (None: 4 · d_model).
        dropout: on embeddings + positions, attention weights, sublayer outputs and the
            feed-forward's hidden layer (the paper's P_drop).
        norm_first: pre-LN sublayers (with a final LayerNorm on both stacks) instead of post-LN.
        positional: "sinusoidal", "learned" (up to ``max_positions``; longer searches are
            cut there) or "none".
        tie_embeddings: the output layer is the target embedding matrix (and its own bias).
        label_smoothing, search, target_text: as for :class:`~seqlab.tasks.seq2seq.Seq2Seq`
            (search None: the default :class:`~seqlab.tasks.seq2seq.Search`).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, *, d_model: int = 128, num_layers: int = 2,
                 num_heads: int = 4, ff_size: int | None = None, dropout: float = 0.1, norm_first: bool = False,
                 positional: str = "sinusoidal", max_positions: int = 512, tie_embeddings: bool = False,
                 label_smoothing: float = 0.0, search: Search | None = None,
                 target_text=None) -> None:
        super().__init__()
        self.d_model, self.positional, self.max_positions = d_model, positional, max_positions
        stack = {"num_heads": num_heads, "ff_size": ff_size, "dropout": dropout, "norm_first": norm_first,
                 "positional": positional, "max_positions": max_positions}
        self.src_embedding = nn.Embedding(src_vocab, d_model, padding_idx=PAD_ID)
        self.tgt_embedding = nn.Embedding(tgt_vocab, d_model, padding_idx=PAD_ID)
        for embedding in (self.src_embedding, self.tgt_embedding):
            nn.init.normal_(embedding.weight, std=d_model**-0.5)  # · √d below: unit scale, as fairseq starts them
            with torch.no_grad():
                embedding.weight[PAD_ID].zero_()
        self.encoder = TransformerEncoder(d_model, d_model, num_layers, **stack)
        self.decoder = TransformerDecoder(d_model, num_layers, **stack)
        # Tied: logits = out Eᵀ + b, E read at call time (safetensors stores one name per storage).
        self.out = None if tie_embeddings else nn.Linear(d_model, tgt_vocab)
        self.out_bias = nn.Parameter(torch.zeros(tgt_vocab)) if tie_embeddings else None
        self.label_smoothing, self.teacher_forcing = label_smoothing, TeacherForcing()
        self.search_settings, self.target_text = Search() if search is None else search, target_text

    def _embed(self, embedding: nn.Embedding, ids: Tensor) -> Tensor:
        return embedding(ids) * math.sqrt(self.d_model)

    def logits(self, out: Tensor) -> Tensor:
        """The output layer: (..., d) -> (..., V); tied to the target embedding if asked."""
        if self.out is None:
            return F.linear(out, self.tgt_embedding.weight, self.out_bias)
        return self.out(out)

    def encode(self, src: Tensor, src_lengths: Tensor) -> TransformerEncoded:
        """src (B, S) token ids; src_lengths (B,). Returns memory (B, S, d) and the lengths."""
        lengths = src_lengths.to(src.device)
        memory, _, _ = self.encoder(self._embed(self.src_embedding, src), lengths)  # (B, S, d), 0 at padding
        return TransformerEncoded(memory, lengths)

    def initial_state(self, encoded: TransformerEncoded) -> DecoderCache:
        """The decoder cache before the first step: the memory projected for every layer."""
        return self.decoder.start(encoded.memory, encoded.lengths)

    def decode_step(self, tokens: Tensor, state: DecoderCache) -> tuple[Tensor, DecoderCache, Tensor]:
        """One step. tokens (B,) the previous target token. Returns logits (B, V), the cache
        grown by one position and alphas (B, S)."""
        out, state, alphas = self.decoder.step(self._embed(self.tgt_embedding, tokens), state)  # (B, d)
        return self.logits(out), state, alphas

    def step(self, tokens: Tensor, state: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """The :mod:`seqlab.decode` contract: log-probabilities (N, V) and the new state."""
        logits, state, _ = self.decode_step(tokens, state)
        return F.log_softmax(logits, dim=-1), state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """src (B, S); src_lengths (B,); tgt_in (B, T) = <sos> y_1 .. y_{T-1}, all read at once
        (teacher forcing; ``teacher_forcing`` must be 1). Returns logits (B, T, V) for
        y_1 .. y_T and alphas (B, T, S), the last layer's cross-attention."""
        if teacher_forcing < 1.0:
            raise ValueError(f"TransformerSeq2Seq trains with full teacher forcing only, got {teacher_forcing}")
        encoded = self.encode(src, src_lengths)
        out, alphas = self.decoder(self._embed(self.tgt_embedding, tgt_in), encoded.memory, encoded.lengths)
        return self.logits(out), alphas

    def search(self, src: Tensor, src_lengths: Tensor, *, beam_size: int = 1, max_len: int | Tensor,
               length_penalty: float = 0.0) -> decode.Decoded:
        """As :meth:`Seq2SeqModel.search`; with learned positions the output is cut at
        ``max_positions - 1`` tokens, so that ``<sos>`` + the output, teacher-forced again
        (attention maps), still has a position for every token."""
        if self.positional == "learned":
            most = self.max_positions - 1
            max_len = max_len.clamp(max=most) if isinstance(max_len, Tensor) else min(max_len, most)
        return super().search(src, src_lengths, beam_size=beam_size, max_len=max_len, length_penalty=length_penalty)


# -- builder: the only place config becomes the constructor call ---------------------------

def build_transformer(cfg: Config, data: Seq2SeqData) -> TransformerSeq2Seq:
    """``model.arch: transformer``: d_model = model.hidden_size; model.num_layers encoder and
    decoder layers; model.num_heads, ff_size, positional, max_positions, norm_first, dropout,
    tie_embeddings; train.label_smoothing; eval's search keys. model.encoder, embedding_dim,
    bidirectional and attention are the RNN model's and are not read."""
    m, t, e = cfg.model, cfg.train, cfg.eval
    rnn_only = {  # settings of the RNN decoder with no meaning here: each must keep its value below
        "model.input_feeding": (m.input_feeding, False),
        "model.recurrent_dropout": (m.recurrent_dropout, 0.0),
        "train.teacher_forcing": (t.teacher_forcing, 1.0),
        "train.teacher_forcing_schedule": (t.teacher_forcing_schedule, "constant"),
    }
    for key, (value, expected) in rnn_only.items():
        if value != expected:
            raise ConfigError(f"{key}: the Transformer encoder-decoder (model.arch: transformer) has no such "
                              f"setting; expected {expected!r}, got {value!r}")
    if data.scored_as_text:
        require_sacrebleu()
    return TransformerSeq2Seq(
        len(data.src_vocab),
        len(data.tgt_vocab),
        d_model=m.hidden_size,
        num_layers=m.num_layers,
        num_heads=m.num_heads,
        ff_size=m.ff_size,
        dropout=m.dropout,
        norm_first=m.norm_first,
        positional=m.positional,
        max_positions=m.max_positions,
        tie_embeddings=m.tie_embeddings,
        label_smoothing=t.label_smoothing,
        search=Search(e.beam_size, e.length_penalty, e.max_len_a, e.max_len_b),
        target_text=data.target_text() if data.scored_as_text else None,
    )
