"""Sequence to sequence (many-to-many, delayed): an RNN encoder–decoder with attention.

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

So far this module holds the model; the task's data, loss, metrics (BLEU, exact match)
and its entry in the task table come with the seq2seq issue.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.data.vocab import PAD_ID
from seqlab.nn import GRU, LSTM, AttentionalState, build_attention

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
    feed (B, H_out): the previous attentional state s̃_{t-1} (zeros at the start).
    """

    memory: Tensor
    mask: Tensor
    h: Tensor
    c: Tensor | None
    feed: Tensor


class Seq2Seq(nn.Module):
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
        self.out = nn.Linear(out_size, tgt_vocab)
        if tie_embeddings:
            self.out.weight = self.tgt_embedding.weight  # (V, E) shared

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
        """inputs (B, T, E_in) -> decoder outputs (B, T, H) and the state after T steps."""
        hx = state.h.transpose(0, 1).contiguous()  # (L, B, H)
        if state.c is not None:
            hx = (hx, state.c.transpose(0, 1).contiguous())
        out, hx = self.decoder(inputs, hx)
        h, c = hx if self.cell == "lstm" else (hx, None)
        return out, state._replace(h=h.transpose(0, 1), c=None if c is None else c.transpose(0, 1))

    def decode_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """One step. tokens (B,) the previous target token. Returns logits (B, V), the new
        state and alphas (B, S)."""
        y = self.dropout(self.tgt_embedding(tokens)).unsqueeze(1)  # (B, 1, E)
        if self.input_feeding:
            y = torch.cat([y, state.feed.unsqueeze(1)], dim=-1)
        out, state = self._run_decoder(y, state)  # (B, 1, H)
        attentional, alphas = self._attend(out, state.memory, state.mask)  # (B, 1, H_out), (B, 1, S)
        logits = self.out(self.dropout(attentional)).squeeze(1)
        return logits, state._replace(feed=attentional.squeeze(1)), alphas.squeeze(1)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """The :mod:`seqlab.decode` contract: log-probabilities (N, V) and the new state."""
        logits, state, _ = self.decode_step(tokens, state)
        return F.log_softmax(logits, dim=-1), state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing. src (B, S); src_lengths (B,); tgt_in (B, T) = <sos> y_1 .. y_{T-1}.

        Returns logits (B, T, V) for y_1 .. y_T and alphas (B, T, S).
        """
        state = self.initial_state(self.encode(src, src_lengths))
        if self.input_feeding:  # s̃_{t-1} feeds step t: step through the target
            logits, alphas = [], []
            for t in range(tgt_in.shape[1]):
                step_logits, state, step_alphas = self.decode_step(tgt_in[:, t], state)
                logits.append(step_logits)
                alphas.append(step_alphas)
            return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)
        y = self.dropout(self.tgt_embedding(tgt_in))  # (B, T, E)
        out, _ = self._run_decoder(y, state)  # the whole target in one call
        attentional, alphas = self._attend(out, state.memory, state.mask)
        return self.out(self.dropout(attentional)), alphas
