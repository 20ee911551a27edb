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

Data: a generated dataset of (source, target) string pairs (``seqlab.data.generate``;
``dates``: "Monday, November 23rd 2026" -> "2026-11-23"), one tokenizer (char or word) for
both sides and a source and a target vocabulary, built from the training split only.
Metrics: teacher-forced loss and token accuracy over real target positions (``y <eos>``),
and exact match of the greedy decoding (up to ``<eos>``) with the reference.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab import decode
from seqlab.config import Config, did_you_mean
from seqlab.data.batching import pad
from seqlab.data.generate import GENERATORS, generate
from seqlab.data.tokenize import Tokenizer, build_tokenizer
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seqlab.errors import ConfigError
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

    # -- what the training loop calls ----------------------------------------------------

    def loss(self, batch: Seq2SeqBatch) -> Tensor:
        """Mean cross-entropy over the real target positions (``y <eos>``; PAD ignored)."""
        logits, _ = self(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID)

    def greedy(self, batch: Seq2SeqBatch) -> decode.Decoded:
        """Greedy decoding of the batch's sources, at most 2 S_b + 10 tokens for a source of
        S_b tokens (room for targets longer than their source). tokens (B, T) PAD after eos."""
        state = self.initial_state(self.encode(batch.src, batch.src_lengths))
        max_len = 2 * batch.src_lengths + 10  # (B,)
        return decode.greedy(self.step, state, batch.src.shape[0], SOS_ID, EOS_ID, max_len, pad_id=PAD_ID)

    @torch.no_grad()
    def metrics(self, batch: Seq2SeqBatch) -> dict[str, tuple[float, int]]:
        """Each metric as (sum, count) over the batch, so batches add up exactly.

        loss and token_accuracy: teacher forced, over real target positions (eos included);
        exact_match: whole sequences whose greedy decoding, up to and including eos, is
        the reference (a decoding that never ends is wrong).
        """
        mask = batch.tgt_out != PAD_ID  # (B, T)
        logits, _ = self(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
        loss_sum = F.cross_entropy(logits[mask], batch.tgt_out[mask], reduction="sum")
        right = (logits.argmax(dim=-1) == batch.tgt_out) & mask
        tokens = int(mask.sum())
        exact = exact_matches(self.greedy(batch).tokens, batch.tgt_out)
        return {
            "loss": (float(loss_sum), tokens),
            "token_accuracy": (float(right.sum()), tokens),
            "exact_match": (float(exact.sum()), len(exact)),
        }

    @torch.no_grad()
    def predict(self, batch: Seq2SeqBatch) -> list[list[int]]:
        """The greedy decoding of each source: target ids, without eos."""
        decoded = self.greedy(batch)
        return [
            row[: length - int(row[length - 1] == EOS_ID)].tolist()
            for row, length in zip(decoded.tokens.cpu(), decoded.lengths.tolist())
        ]


def exact_matches(decoded: Tensor, reference: Tensor) -> Tensor:
    """decoded (B, T1), reference (B, T2): ids ending in eos (if any), PAD after. Returns
    (B,) bool, True where the two agree up to eos; a decoding without eos never does."""
    width = max(decoded.shape[1], reference.shape[1])
    decoded = F.pad(decoded, (0, width - decoded.shape[1]), value=PAD_ID)  # (B, W)
    reference = F.pad(reference, (0, width - reference.shape[1]), value=PAD_ID)  # (B, W)
    return (decoded == reference).all(dim=1)


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seq2SeqExample:
    """One pair: source token ids and target token ids (no sos/eos; collate adds them)."""

    src: list[int]
    tgt: list[int]


@dataclass(frozen=True)
class Seq2SeqData:
    """The three splits, encoded, and what they were encoded with."""

    train: list[Seq2SeqExample]
    valid: list[Seq2SeqExample]
    test: list[Seq2SeqExample]
    tokenizer: Tokenizer  # text -> tokens, the same for source and target
    src_vocab: Vocab  # source tokens -> ids, from the training split
    tgt_vocab: Vocab  # target tokens -> ids, from the training split

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json, src_vocab.json and tgt_vocab.json into the run dir."""
        self.tokenizer.save(run_dir / "tokenizer.json")
        self.src_vocab.save(run_dir / "src_vocab.json")
        self.tgt_vocab.save(run_dir / "tgt_vocab.json")


@dataclass(frozen=True)
class Seq2SeqBatch:
    """A padded batch. src (B, S), PAD past each length; src_lengths (B,) on the CPU;
    tgt_in (B, T) = <sos> y and tgt_out (B, T) = y <eos>, both PAD past each target."""

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor

    @property
    def num_tokens(self) -> int:
        """Real target positions (eos included): what the loss is averaged over."""
        return int((self.tgt_out != PAD_ID).sum())

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(self.src.to(device), self.src_lengths, self.tgt_in.to(device), self.tgt_out.to(device))


def collate(examples: Sequence[Seq2SeqExample]) -> Seq2SeqBatch:
    """Pad sources and shifted targets into one batch as wide as its longest of each."""
    src, src_lengths, _ = pad([example.src for example in examples], PAD_ID)
    tgt_in, _, _ = pad([[SOS_ID, *example.tgt] for example in examples], PAD_ID)
    tgt_out, _, _ = pad([[*example.tgt, EOS_ID] for example in examples], PAD_ID)
    return Seq2SeqBatch(src, src_lengths, tgt_in, tgt_out)


# -- builders: the only place config becomes constructor calls -------------------------

TOKENIZERS = ("char", "word")  # bpe would need one model for both sides: not yet


def load_data(cfg: Config) -> Seq2SeqData:
    """Generate the three splits named by ``cfg.data`` (each from its own seed), build the
    tokenizer and both vocabularies from train, and encode all three."""
    d = cfg.data
    if d.name not in GENERATORS:
        raise ConfigError(
            f"data.name: unknown dataset {d.name!r} for task 'seq2seq'"
            f"{did_you_mean(str(d.name), GENERATORS)}; known: {', '.join(GENERATORS)}"
        )
    if d.tokenizer not in TOKENIZERS:
        raise ConfigError(f"data.tokenizer: task 'seq2seq' takes {' or '.join(TOKENIZERS)}, got {d.tokenizer!r}")
    if d.lowercase and d.tokenizer != "word":
        raise ConfigError(f"data.lowercase: only the word tokenizer lower-cases; data.tokenizer is {d.tokenizer!r}")
    accepted = inspect.signature(GENERATORS[d.name]).parameters
    options = {key: getattr(d, key) for key in ("min_len", "max_len") if key in accepted}  # where the toy has them
    pairs = {
        split: generate(d.name, num, seed=f"{d.name}/{split}/{cfg.seed}", **options)
        for split, num in (("train", d.num_train), ("valid", d.num_valid), ("test", d.num_test))
    }
    tokenizer = build_tokenizer(d.tokenizer, **({"lowercase": d.lowercase} if d.tokenizer == "word" else {}))
    tokens = {
        split: [(tokenizer.tokenize(src), tokenizer.tokenize(tgt)) for src, tgt in pairs[split]] for split in pairs
    }
    src_vocab = Vocab.build([src for src, _ in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
    tgt_vocab = Vocab.build([tgt for _, tgt in tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)

    def encode(split: str) -> list[Seq2SeqExample]:
        src = src_vocab.encode_corpus([src for src, _ in tokens[split]])  # warns if tokens are unknown
        tgt = tgt_vocab.encode_corpus([tgt for _, tgt in tokens[split]])
        return [Seq2SeqExample(s, t) for s, t in zip(src, tgt)]

    return Seq2SeqData(encode("train"), encode("valid"), encode("test"), tokenizer, src_vocab, tgt_vocab)


def build_model(cfg: Config, data: Seq2SeqData) -> Seq2Seq:
    m = cfg.model
    if m.encoder not in CELLS:
        raise ConfigError(f"model.encoder: task 'seq2seq' takes {' or '.join(CELLS)}, got {m.encoder!r}")
    if m.bidirectional and m.hidden_size % 2:
        raise ConfigError(
            f"model.hidden_size: a bidirectional seq2seq encoder has hidden_size // 2 units per "
            f"direction, so an even number is expected, got {m.hidden_size}"
        )
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
    )


REPORT_EXAMPLES = 4  # held-out translations printed after training; the first 3 get a heat map
REPORT_PLOTS = 3


def report(model: Seq2Seq, data: Seq2SeqData, cfg: Config, run_dir: Path, device: torch.device) -> str:
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
    text = lambda vocab, ids: data.tokenizer.detokenize(vocab.decode(ids))  # noqa: E731
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
