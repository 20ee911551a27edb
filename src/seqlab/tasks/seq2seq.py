"""Sequence to sequence (many-to-many, delayed): an RNN encoder–decoder with attention.

(``model.arch: transformer`` selects the Transformer encoder–decoder of
:mod:`seqlab.tasks.seq2seq_transformer` instead; both share :class:`Seq2SeqModel`'s loss,
search, metrics and predict.)

The encoder reads the source; the decoder writes the target one token at a time from
``<sos>`` until ``<eos>``, and at every step attention looks back at every encoder state
(Luong et al. 2015, "global attention")::

    h_1..h_S  = Encoder(x_1..x_S)                      memory (B, S, D_enc)
    s_t       = RNN(y_{t-1} [; s̃_{t-1}], s_{t-1})      decoder state (input feeding: s̃_{t-1})
    scores_i  = score(s_t, h_i);  alphas = softmax(scores) (zero on source padding)
    a_t       = Σ_i alphas_i h_i                        context
    s̃_t       = tanh(W_c [a_t; s_t])                    attentional state
    p(y_t)    = softmax(W_out s̃_t)

Without input feeding the decoder RNN does not depend on the attention, so teacher
forcing runs it over the whole target in one call and attends for all steps at once; with
input feeding it steps. Either way :meth:`Seq2Seq.step` is the one-step function that
:mod:`seqlab.decode` (greedy, beam search, sampling) drives, and the tests hold the
teacher-forced forward equal to stepping.

Training: teacher forcing feeds the reference y_{t-1} at step t. ``teacher_forcing`` < 1
feeds instead, per example and step, a token sampled from the model's own distribution
at the previous step with probability 1 - ratio (scheduled sampling, Bengio et al. 2015;
the ``linear`` schedule decays the ratio from 1 to its floor over training). That path
steps through the target; ratio 1 keeps the one-call fast path. ``label_smoothing`` ε
trains on (1 - ε) · one-hot + ε / V (Szegedy et al. 2016), padding ignored.

Evaluation: teacher-forced loss (plain cross-entropy, no smoothing), perplexity and
token accuracy over real target positions (``y <eos>``); the decoding of
:meth:`Seq2Seq.search` (greedy or beam, ``Search`` settings) scored by exact match and,
for corpora, by sacreBLEU's BLEU (cased ``bleu``, lowercased ``bleu_lc``) and chrF on
text (see :mod:`seqlab.metrics`). BLEU and chrF are corpus-level: each batch returns
their sufficient statistics and ``finalize_metrics`` turns the split's sums into scores.

Data lives in :mod:`seqlab.tasks.seq2seq_data` (toys, multi30k, eng-fra, your files), and what
the two models share in :mod:`seqlab.tasks.seq2seq_model`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab import metrics as scores
from seqlab.config import Config
from seqlab.data.batching import pad
from seqlab.data.generate import GENERATORS
from seqlab.data.vocab import PAD_ID, SOS_ID
from seqlab.errors import ConfigError
from seqlab.nn import GRU, LSTM, AttentionalState, build_attention
from seqlab.tasks.seq2seq_data import (  # noqa: F401  (the task's data, re-exported)
    Seq2SeqBatch,
    Seq2SeqData,
    Seq2SeqExample,
    collate,
    load_data,
)
from seqlab.tasks.seq2seq_model import (  # noqa: F401  (shared with the Transformer, re-exported)
    Search,
    Seq2SeqModel,
    TeacherForcing,
    exact_matches,
    without_eos,
)

CELLS = {"lstm": LSTM, "gru": GRU}


class Encoded(NamedTuple):
    """Encoder output. memory (B, S, D_enc), zero at padding; mask (B, S) True on real
    tokens; final (h, c) of the encoder, each (L * D, B, H_enc) (c is None for GRU)."""

    memory: Tensor
    mask: Tensor
    h: Tensor
    c: Tensor | None


class DecoderState(NamedTuple):
    """Everything one decoder step needs, batch first so search can reorder rows.

    memory (B, S, D_enc); mask (B, S); h, c (B, L, H_dec) (c None for GRU);
    feed (B, H_out): the previous attentional state s̃_{t-1} (zeros at the start);
    masks: the decoder's recurrent dropout masks, one (B, H_dec) per layer, drawn at the first
    step of a sequence in training (None otherwise), so a stepping decoder drops the same units
    throughout.
    """

    memory: Tensor
    mask: Tensor
    h: Tensor
    c: Tensor | None
    feed: Tensor
    masks: tuple[Tensor, ...] | None = None


class Seq2Seq(Seq2SeqModel):
    """RNN encoder–decoder with attention.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes (PAD_ID = 0 in both).
        cell: "lstm" or "gru", for encoder and decoder.
        embedding_dim: width of source and target embeddings.
        hidden_size: decoder units; the encoder has hidden_size // 2 per direction when
            ``bidirectional`` (so memory and decoder state have the same width), else
            hidden_size.
        num_layers: stacked layers in encoder and decoder.
        bidirectional: a bidirectional encoder; its final states are bridged (a linear
            map and tanh of both directions) to the decoder's initial state.
        attention: "dot", "general" or "additive" (see seqlab.nn.attention).
        input_feeding: feed s̃_{t-1} into the decoder RNN with y_{t-1} (Luong et al. 2015).
        dropout: on embeddings, between layers and on s̃ before the output layer.
        recurrent_dropout: variational dropout inside encoder and decoder RNNs.
        tie_embeddings: the output layer shares the target embedding matrix (then s̃ has
            embedding_dim units).
        label_smoothing: ε of the training loss (0: plain cross-entropy).
        teacher_forcing: see :class:`TeacherForcing`; with a decay the model counts its
            training updates in the buffer ``updates`` (saved with checkpoints).
        search: how :meth:`metrics` and :meth:`predict` decode (see :class:`Search`).
        target_text: target ids -> the text BLEU/chrF score; None: no BLEU/chrF (toys).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "dot",
        input_feeding: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        tie_embeddings: bool = False,
        label_smoothing: float = 0.0,
        teacher_forcing: TeacherForcing = TeacherForcing(),
        search: Search = Search(),
        target_text: Callable[[list[int]], str] | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {', '.join(CELLS)}; got {cell!r}")
        if bidirectional and hidden_size % 2:
            raise ValueError(f"Seq2Seq: a bidirectional encoder needs an even hidden_size, got {hidden_size}")
        self.cell, self.num_layers, self.input_feeding = cell, num_layers, input_feeding
        enc_hidden = hidden_size // 2 if bidirectional else hidden_size
        out_size = embedding_dim if tie_embeddings else hidden_size
        rnn = CELLS[cell]
        between = dropout if num_layers > 1 else 0.0  # torch's dropout acts between layers only
        self.src_embedding = nn.Embedding(src_vocab, embedding_dim, padding_idx=PAD_ID)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=PAD_ID)
        self.encoder = rnn(
            embedding_dim,
            enc_hidden,
            num_layers,
            batch_first=True,
            dropout=between,
            bidirectional=bidirectional,
            recurrent_dropout=recurrent_dropout,
        )
        self.decoder = rnn(
            embedding_dim + (out_size if input_feeding else 0),
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=between,
            recurrent_dropout=recurrent_dropout,
        )
        # Bridge: both directions' final states of each layer -> the decoder's initial state.
        self.bridge_h = nn.Linear(2 * enc_hidden, hidden_size) if bidirectional else None
        self.bridge_c = nn.Linear(2 * enc_hidden, hidden_size) if bidirectional and cell == "lstm" else None
        self.attention = build_attention(attention, query_size=hidden_size, key_size=hidden_size)
        self.combine = AttentionalState(hidden_size, hidden_size, out_size)
        self.dropout = nn.Dropout(dropout)
        # Tied: logits = s̃ Eᵀ + b with the target embedding E itself, read at call time, not a
        # second parameter sharing E's memory (safetensors stores each tensor once and refuses
        # two names for one storage).
        self.out = None if tie_embeddings else nn.Linear(out_size, tgt_vocab)
        self.out_bias = nn.Parameter(torch.zeros(tgt_vocab)) if tie_embeddings else None
        self.label_smoothing, self.teacher_forcing = label_smoothing, teacher_forcing
        self.search_settings, self.target_text = search, target_text
        if teacher_forcing.decay_steps is not None:  # the schedule's clock, resumed with the weights
            self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    # -- encoder ---------------------------------------------------------------------

    def encode(self, src: Tensor, src_lengths: Tensor) -> Encoded:
        """src (B, S) token ids; src_lengths (B,) on the CPU. Returns :class:`Encoded`."""
        x = self.dropout(self.src_embedding(src))  # (B, S, E)
        memory, state = self.encoder(x, lengths=src_lengths)  # (B, S, D * H_enc), zero at padding
        h, c = state if self.cell == "lstm" else (state, None)
        steps = torch.arange(src.shape[1], device=src.device)
        mask = steps.unsqueeze(0) < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        return Encoded(memory, mask, h, c)

    def _bridge(self, final: Tensor, bridge: nn.Linear | None) -> Tensor:
        """(L * D, B, H_enc) encoder finals -> (B, L, H_dec) decoder initial state."""
        if bridge is None:
            return final.transpose(0, 1)  # unidirectional: used as they are
        layers, batch = self.num_layers, final.shape[1]
        both = final.view(layers, 2, batch, -1).permute(2, 0, 1, 3).reshape(batch, layers, -1)  # (B, L, 2H_enc)
        return torch.tanh(bridge(both))

    def initial_state(self, encoded: Encoded) -> DecoderState:
        h = self._bridge(encoded.h, self.bridge_h)
        c = None if encoded.c is None else self._bridge(encoded.c, self.bridge_c)
        feed = encoded.memory.new_zeros(encoded.memory.shape[0], self.combine.W_c.out_features)
        return DecoderState(encoded.memory, encoded.mask, h, c, feed)

    # -- decoder -----------------------------------------------------------------------

    def _attend(self, states: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """states (B, T, H) decoder outputs -> s̃ (B, T, H_out) and alphas (B, T, S)."""
        context, alphas = self.attention(states, memory, mask=mask)  # (B, T, D_enc), (B, T, S)
        return self.combine(context, states), alphas

    def _run_decoder(self, inputs: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """inputs (B, T, E_in) -> decoder outputs (B, T, H) and the state after T steps (the
        whole target in one call; :meth:`decode_step` steps with the layer's ``step``)."""
        out, hx = self.decoder(inputs, self._layer_state(state))
        return out, self._with_layer_state(state, hx)

    def _layer_state(self, state: DecoderState) -> Tensor | tuple[Tensor, Tensor]:
        """The decoder layer's hx, (L, B, H) (with c for an LSTM), from the batch-first state."""
        h = state.h.transpose(0, 1).contiguous()
        return h if state.c is None else (h, state.c.transpose(0, 1).contiguous())

    def _with_layer_state(self, state: DecoderState, hx: Tensor | tuple[Tensor, Tensor]) -> DecoderState:
        h, c = hx if self.cell == "lstm" else (hx, None)
        return state._replace(h=h.transpose(0, 1), c=None if c is None else c.transpose(0, 1))

    def decode_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """One step. tokens (B,) the previous target token. Returns logits (B, V), the new
        state and alphas (B, S)."""
        y = self.dropout(self.tgt_embedding(tokens))  # (B, E)
        if self.input_feeding:
            y = torch.cat([y, state.feed], dim=-1)
        if state.masks is None:  # the first step of a sequence in training draws them (None in eval)
            state = state._replace(masks=self.decoder.recurrent_masks(y.shape[0], y))
        out, hx = self.decoder.step(y, self._layer_state(state), state.masks)  # (B, H): the layers' cells
        state = self._with_layer_state(state, hx)
        attentional, alphas = self._attend(out.unsqueeze(1), state.memory, state.mask)  # (B, 1, H_out), (B, 1, S)
        logits = self.logits(self.dropout(attentional)).squeeze(1)
        return logits, state._replace(feed=attentional.squeeze(1)), alphas.squeeze(1)

    def logits(self, attentional: Tensor) -> Tensor:
        """The output layer: (..., H_out) -> (..., V); tied to the target embedding if asked."""
        if self.out is None:
            return F.linear(attentional, self.tgt_embedding.weight, self.out_bias)
        return self.out(attentional)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """The :mod:`seqlab.decode` contract: log-probabilities (N, V) and the new state."""
        logits, state, _ = self.decode_step(tokens, state)
        return F.log_softmax(logits, dim=-1), state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> tuple[Tensor, Tensor]:
        """src (B, S); src_lengths (B,); tgt_in (B, T) = <sos> y_1 .. y_{T-1}.

        With ``teacher_forcing`` 1 step t reads y_{t-1}; below 1, each row reads instead,
        with probability 1 - teacher_forcing, a token sampled from its own step t-1
        distribution. Returns logits (B, T, V) for y_1 .. y_T and alphas (B, T, S).
        """
        state = self.initial_state(self.encode(src, src_lengths))
        if not self.input_feeding and teacher_forcing >= 1.0:
            y = self.dropout(self.tgt_embedding(tgt_in))  # (B, T, E)
            out, _ = self._run_decoder(y, state)  # the whole target in one call
            attentional, alphas = self._attend(out, state.memory, state.mask)
            return self.logits(self.dropout(attentional)), alphas
        logits, alphas = [], []  # s̃_{t-1} feeds step t, or y_{t-1} is the model's own: step through
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            step_logits, state, step_alphas = self.decode_step(tokens, state)
            logits.append(step_logits)
            alphas.append(step_alphas)
            if t + 1 < tgt_in.shape[1]:
                tokens = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    own = torch.multinomial(F.softmax(step_logits.detach().float(), dim=-1), 1).squeeze(1)  # (B,)
                    keep = torch.rand(tokens.shape, device=tokens.device) < teacher_forcing
                    tokens = torch.where(keep, tokens, own)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)

# -- builders: the only place config becomes constructor calls -------------------------


def build_model(cfg: Config, data: Seq2SeqData) -> Seq2SeqModel:
    """The model ``model.arch`` names: :class:`Seq2Seq` (rnn) or a Transformer encoder–decoder."""
    m, t, e = cfg.model, cfg.train, cfg.eval
    if m.arch == "transformer":
        from seqlab.tasks.seq2seq_transformer import build_transformer  # it builds on this module

        return build_transformer(cfg, data)
    if m.encoder not in CELLS:
        hint = "; for a Transformer encoder-decoder set model.arch: transformer" if m.encoder == "transformer" else ""
        raise ConfigError(f"model.encoder: task 'seq2seq' takes {' or '.join(CELLS)}, got {m.encoder!r}{hint}")
    if m.bidirectional and m.hidden_size % 2:
        raise ConfigError(
            f"model.hidden_size: a bidirectional seq2seq encoder has hidden_size // 2 units per "
            f"direction, so an even number is expected, got {m.hidden_size}"
        )
    decay_steps = None
    if t.teacher_forcing_schedule == "linear":  # over all the run's updates, as the loop counts them
        # (a loaded bundle has no training examples: its schedule is over and never read)
        decay_steps = max(1, t.epochs * math.ceil(len(data.train) / t.batch_size))
    if data.scored_as_text:
        scores.require_sacrebleu()
    return Seq2Seq(
        len(data.src_vocab),
        len(data.tgt_vocab),
        cell=m.encoder,
        embedding_dim=m.embedding_dim,
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        bidirectional=m.bidirectional,
        attention=m.attention,
        input_feeding=m.input_feeding,
        dropout=m.dropout,
        recurrent_dropout=m.recurrent_dropout,
        tie_embeddings=m.tie_embeddings,
        label_smoothing=t.label_smoothing,
        teacher_forcing=TeacherForcing(t.teacher_forcing, decay_steps),
        search=Search(e.beam_size, e.length_penalty, e.max_len_a, e.max_len_b),
        target_text=data.target_text() if data.scored_as_text else None,
    )


def headline(cfg: Config) -> str:
    """Exact match for the generated toys; corpus BLEU for translation corpora (on
    lowercased text it equals bleu_lc)."""
    return "exact_match" if cfg.data.name is not None and cfg.data.name in GENERATORS else "bleu"


REPORT_EXAMPLES = 4  # held-out translations printed after training; the first 3 get a heat map
REPORT_PLOTS = 3


def report(model: Seq2SeqModel, data: Seq2SeqData, cfg: Config, run_dir: Path, device: torch.device) -> str:
    """A few test translations (source -> output, and the reference where it differs) and
    ``plots/attention-N.png`` heat maps of the attention while writing them."""
    from seqlab.viz import plot_attention

    batch = collate(data.test[:REPORT_EXAMPLES]).to(device)
    model.eval()
    with torch.no_grad():
        outputs = model.predict(batch)
        # Teacher-force the model's own output: the same attention rows it had while decoding.
        tgt_in, _, _ = pad([[SOS_ID, *ids] for ids in outputs], PAD_ID)
        _, alphas = model(batch.src, batch.src_lengths, tgt_in.to(device))  # (B, T, S)
    text = lambda vocab, ids: data.tokenizer.detokenize(vocab.decode(ids))
    lines = ["examples (test):"]
    for n, (example, ids) in enumerate(zip(data.test[:REPORT_EXAMPLES], outputs), start=1):
        source, output, reference = text(data.src_vocab, example.src), text(data.tgt_vocab, ids), ""
        if ids != example.tgt:
            reference = f"   (reference: {text(data.tgt_vocab, example.tgt)!r})"
        lines.append(f"  {source!r} -> {output!r}{reference}")
        if n <= REPORT_PLOTS:
            rows = [*data.tgt_vocab.decode(ids), "<eos>"]  # each row: attention while writing that token
            path = run_dir / "plots" / f"attention-{n}.png"
            plot_attention(
                alphas[n - 1, : len(rows), : len(example.src)],
                data.src_vocab.decode(example.src),
                rows,
                path,
                title=f"{source} -> {output}",
            )
            lines.append(f"    attention: {path}")
    return "\n".join(lines)
