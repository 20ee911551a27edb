"""Language models: predict the next token (self-supervised), optionally given a class (one-to-many).

The model is embedding -> recurrent layers (seqlab.nn; stacked, dropout between layers,
recurrent dropout) -> dropout -> output layer, trained with cross-entropy on the next token::

    x_t = E[y_{t-1}]                        (B, T, E); with model.condition=input also [E[y_{t-1}]; C[k]]
    h_t = RNN(x_t, h_{t-1})                 (B, T, H); with model.condition=init h_0 = tanh(W C[k] + b)
    p(y_t | y_<t) = softmax(W_out h_t + b)  (B, T, V); tied: W_out = E, through a projection H -> E if H != E

Tying the output layer to the embedding follows Press & Wolf 2017 and Inan et al. 2017.

``model.encoder: transformer`` puts a causal Transformer (decoder-only, GPT-style:
:class:`seqlab.nn.transformer.CausalTransformer`, d_model = ``model.hidden_size``) where the
recurrent layers are. It has no state: each window is read on its own, position t seeing
positions <= t of its window (so nothing is carried from one window to the next, in
training or evaluation), and generation re-reads the last ``data.bptt`` tokens (the
window it was trained on) for every new token. ``model.condition: input`` works with it;
``init`` (a class sets the initial state) does not, there being no state to set.

Two kinds of data:

- A token stream (``tinyshakespeare``, or the user's plain-text files ``data.train`` /
  ``valid`` / ``test`` with ``data.format: text``): one long sequence of char, word or BPE
  tokens, trained with truncated backpropagation through time. ``train.batch_size``
  parallel streams are read in consecutive ``data.bptt``-token windows; the hidden state
  of one window starts the next, detached, so gradients stop at window boundaries but
  context does not (the model is stateful). Each epoch starts at a random offset below
  ``data.bptt`` (drawn from the loop's seeded generator), so window boundaries move from
  epoch to epoch; the epoch keeps the same number of windows whatever the offset.
  Evaluation cuts the split into ``eval.batch_size`` contiguous rows, padded at the
  end, so every token after the first is scored exactly once, with all the context
  before it in its row. tinyshakespeare uses nanoGPT's split: the first 90% of the
  characters train, the last 10% validate; it has no test split, so test = validation.
  A user's text file without a valid or test file gets the last ``data.valid_fraction``
  (then ``data.test_fraction``) of the training text's characters carved off its end.
  For streams ``data.limit_train`` / ``limit_eval`` keep the first N tokens.
- Sequences, one per example (``names``: each surname as ``<sos> chars <eos>``, its language
  as the class), in padded, shuffled batches; every sequence starts from the initial state,
  which with ``model.condition`` comes from its class. Seeded 80/10/10 split as in classify.

Metrics, each as (sum, count) over the predicted tokens so batches add up exactly: ``loss``
(nats per token), ``bpc`` (bits per character, ``loss / ln 2``, for char tokenizers) and
``perplexity`` (``exp(loss)``, from the whole split's loss).

:meth:`LanguageModel.generate` writes new tokens one at a time (greedy, or sampled with
temperature, top-k and top-p through :func:`seqlab.decode.filter_logits`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources
from seqlab.data.batching import lm_windows, pad
from seqlab.data.tokenize import Tokenizer, build_tokenizer
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab
from seqlab.decode import filter_logits
from seqlab.errors import ConfigError, DataError
from seqlab.nn import GRU, LSTM, RNN
from seqlab.nn.transformer import CausalTransformer

ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "transformer": CausalTransformer}
CONDITIONS = ("none", "init", "input")
DATASETS = ("tinyshakespeare", "names")  # registry datasets this task reads
State = Tensor | tuple[Tensor, Tensor]  # h (L, B, H), or (h, c) for an LSTM


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStream:
    """One split as one long token sequence. tokens (N,) int64; ``source`` names it in errors."""

    tokens: Tensor
    source: str
    bptt: int  # training window length (data.bptt)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class LMExample:
    """One sequence ``<sos> tokens <eos>`` and its class id (0 when the data has no classes)."""

    tokens: list[int]
    condition: int


@dataclass(frozen=True)
class LMBatch:
    """inputs and targets (B, T) int64, targets = the next tokens, PAD_ID where nothing is
    predicted; ``carry``: start from the state the previous batch left (stream windows after
    a pass's first); lengths (B,) on the CPU for padded sequences (None for stream windows);
    conditions (B,) class ids or None; num_tokens: the predicted tokens (not PAD_ID)."""

    inputs: Tensor
    targets: Tensor
    carry: bool
    num_tokens: int
    lengths: Tensor | None = None
    conditions: Tensor | None = None

    def to(self, device: torch.device | str) -> LMBatch:
        conditions = None if self.conditions is None else self.conditions.to(device)
        return LMBatch(self.inputs.to(device), self.targets.to(device), self.carry, self.num_tokens, self.lengths,
                       conditions)

    def __len__(self) -> int:
        """B, the rows (parallel streams or sequences)."""
        return self.inputs.shape[0]

    def rows(self, start: int, stop: int) -> LMBatch:
        """Rows ``start`` to ``stop - 1``: one process's share under DDP, whose stream rows
        stay its own from window to window (see :mod:`seqlab.training.distributed`)."""
        targets = self.targets[start:stop]  # (stop - start, T)
        return LMBatch(self.inputs[start:stop], targets, self.carry, int((targets != PAD_ID).sum()),
                       None if self.lengths is None else self.lengths[start:stop],
                       None if self.conditions is None else self.conditions[start:stop])


def collate(examples: Sequence[LMExample]) -> LMBatch:
    """Pad whole sequences into one batch: inputs drop each sequence's last token, targets its first."""
    ids, lengths, _ = pad([example.tokens for example in examples], PAD_ID)  # (B, T + 1)
    conditions = torch.tensor([example.condition for example in examples], dtype=torch.long)
    return LMBatch(ids[:, :-1], ids[:, 1:], False, int(lengths.sum()) - len(examples), lengths - 1, conditions)


def min_train_tokens(batch_size: int, bptt: int) -> int:
    """Tokens a training stream needs: ``batch_size`` rows of at least one full window (bptt + 1
    tokens), whatever the epoch's offset (< bptt)."""
    return batch_size * (bptt + 1) + bptt - 1


def check_stream(stream: TokenStream, batch_size: int | None) -> None:
    """A DataError naming the source unless the stream can be trained on (``batch_size``) or scored (None)."""
    need = 2 if batch_size is None else min_train_tokens(batch_size, stream.bptt)
    if len(stream) < need:
        if batch_size is None:
            raise DataError(f"{stream.source}: {len(stream)} tokens; scoring needs at least 2 (an input and a target)")
        raise DataError(f"{stream.source}: {len(stream)} tokens are too few for train.batch_size={batch_size} "
                        f"parallel streams of data.bptt={stream.bptt}-token windows: training needs at least {need} "
                        f"(batch_size x (bptt + 1) + bptt - 1); give more text or lower train.batch_size or data.bptt")


def train_windows(stream: TokenStream, batch_size: int, generator: torch.Generator) -> list[LMBatch]:
    """One training epoch: consecutive windows of ``batch_size`` parallel streams from a
    random offset in [0, bptt). Each row holds L = (N - bptt + 1) // B tokens whatever the
    offset, so every epoch has the same number of windows."""
    check_stream(stream, batch_size)
    per_row = (len(stream) - stream.bptt + 1) // batch_size  # L
    offset = int(torch.randint(stream.bptt, (1,), generator=generator))
    windows = lm_windows(stream.tokens[:offset + per_row * batch_size], batch_size, stream.bptt, offset)
    return [LMBatch(x, y, k > 0, y.numel()) for k, (x, y) in enumerate(windows)]


def eval_windows(stream: TokenStream, batch_size: int) -> list[LMBatch]:
    """Every target token once: the N - 1 (input, target) pairs cut into R = min(batch_size,
    N - 1) contiguous rows of L = ceil((N - 1) / R), padded at the end, read in bptt windows."""
    check_stream(stream, None)
    n = len(stream) - 1
    rows = min(batch_size, n)
    per_row = math.ceil(n / rows)  # L
    extra = rows * per_row - n  # padding at the end of the last row(s)
    inputs = F.pad(stream.tokens[:-1], (0, extra), value=PAD_ID).view(rows, per_row)  # (R, L)
    targets = F.pad(stream.tokens[1:], (0, extra), value=PAD_ID).view(rows, per_row)
    out = []
    for start in range(0, per_row, stream.bptt):
        y = targets[:, start:start + stream.bptt]
        out.append(LMBatch(inputs[:, start:start + stream.bptt], y, start > 0, int((y != PAD_ID).sum())))
    return out


def epoch_batches(examples: TokenStream | Sequence[LMExample], batch_size: int,
                  generator: torch.Generator | None) -> list[LMBatch]:
    """The task's batches of one pass (see :mod:`seqlab.tasks`): stream windows, or shuffled
    padded sequences (in order when ``generator`` is None, i.e. for evaluation)."""
    if isinstance(examples, TokenStream):
        return eval_windows(examples, batch_size) if generator is None else train_windows(examples, batch_size,
                                                                                           generator)
    order = range(len(examples)) if generator is None else torch.randperm(len(examples), generator=generator).tolist()
    order = list(order)
    return [collate([examples[i] for i in order[first:first + batch_size]])
            for first in range(0, len(order), batch_size)]


# -- the model -------------------------------------------------------------------------


class LanguageModel(nn.Module):
    """Embedding -> recurrent layers -> dropout -> [projection] -> output layer (see the module docstring).

    Args:
        vocab_size: number of token ids (the specials included).
        encoder: "lstm", "gru" or "rnn" (the seqlab.nn layers), or "transformer" (a causal
            Transformer; see the module docstring).
        embedding_dim, hidden_size, num_layers, recurrent_dropout: as for the seqlab.nn layers.
        dropout: between stacked layers and on the outputs before the output layer.
        embedding_dropout: on the token embeddings.
        tie_embeddings: the output layer uses the embedding matrix (with a linear projection
            hidden_size -> embedding_dim first when they differ) and has its own bias only.
        condition: "none", "init" (a class embedding sets the initial state through a linear
            map and tanh; for an LSTM also the cell state, without tanh) or "input" (the class
            embedding joins the token embedding at every step).
        conditions: the class names, in id order (needed unless condition is "none").
        bits_per_char: also report ``bpc`` (for char tokenizers).
        transformer: the transformer's settings (num_heads, ff_size, positional,
            max_positions, norm_first) and ``context``, the tokens generation re-reads;
            required with encoder "transformer", not taken otherwise.

    A recurrent model is stateful on token streams: each stream window's final state is
    kept (detached) and starts the next window of the pass; see :meth:`carried_state`.
    A transformer (``stateful`` False) reads every window on its own.
    """

    def __init__(self, vocab_size: int, *, encoder: str = "lstm", embedding_dim: int = 64, hidden_size: int = 256,
                 num_layers: int = 1, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 embedding_dropout: float = 0.0, tie_embeddings: bool = False, condition: str = "none",
                 conditions: Sequence[str] = (), bits_per_char: bool = False,
                 transformer: TransformerSettings | None = None) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"LanguageModel: encoder must be one of {', '.join(ENCODERS)}; got {encoder!r}")
        if condition not in CONDITIONS:
            raise ValueError(f"LanguageModel: condition must be one of {', '.join(CONDITIONS)}; got {condition!r}")
        if condition != "none" and not conditions:
            raise ValueError(f"LanguageModel: condition={condition!r} needs the class names (conditions), got none")
        if (encoder == "transformer") != (transformer is not None):
            raise ValueError("LanguageModel: encoder 'transformer' needs its settings (transformer=...), "
                             f"and no other encoder takes them; got encoder={encoder!r}, transformer={transformer!r}")
        if encoder == "transformer" and condition == "init":
            raise ValueError("LanguageModel: a transformer has no initial state for condition='init'; use 'input'")
        self.stateful = encoder != "transformer"  # a recurrent state carries context across windows and steps
        self.context = None if transformer is None else transformer.context
        self.condition = condition
        self.conditions = tuple(conditions)
        self.bits_per_char = bits_per_char
        self.is_lstm = encoder == "lstm"
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        if condition != "none":
            self.condition_embedding = nn.Embedding(len(self.conditions), embedding_dim)
        if condition == "init":  # C[k] -> h_0 (and c_0) of every layer
            self.bridge = nn.Linear(embedding_dim, num_layers * hidden_size * (2 if self.is_lstm else 1))
        input_size = embedding_dim * (2 if condition == "input" else 1)
        if transformer is not None:
            self.encoder = CausalTransformer(input_size, hidden_size, num_layers, transformer.num_heads,
                                             ff_size=transformer.ff_size, dropout=dropout,
                                             norm_first=transformer.norm_first, positional=transformer.positional,
                                             max_positions=transformer.max_positions)
        else:
            self.encoder = ENCODERS[encoder](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                             dropout=dropout if num_layers > 1 else 0.0,  # between layers only
                                             recurrent_dropout=recurrent_dropout)
        self.dropout = nn.Dropout(dropout)
        self.tie_embeddings = tie_embeddings
        if tie_embeddings:  # logits = proj(h) E^T + b: no second (V, E) matrix
            self.projection = nn.Linear(hidden_size, embedding_dim) if hidden_size != embedding_dim else None
            self.head_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.head = nn.Linear(hidden_size, vocab_size)
        self._carried: State | None = None  # the last stream window's final state, detached

    def extra_repr(self) -> str:
        extra = [f"condition={self.condition!r}"] if self.condition != "none" else []
        return ", ".join(extra + (["tie_embeddings=True"] if self.tie_embeddings else []))

    def initial_state(self, conditions: Tensor | None, batch_size: int) -> State | None:
        """The state before the first token: None (zeros) unless condition is "init"; then
        from conditions (B,) class ids -> h (L, B, H) (and c for an LSTM)."""
        if self.condition != "init":
            return None
        parts = self.bridge(self.condition_embedding(conditions))  # (B, k * L * H)
        parts = parts.view(batch_size, -1, self.num_layers, self.hidden_size).permute(1, 2, 0, 3)  # (k, L, B, H)
        h = torch.tanh(parts[0]).contiguous()
        return (h, parts[1].contiguous()) if self.is_lstm else h

    def forward(self, tokens: Tensor, state: State | None = None, *, conditions: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """tokens (B, T) int64; state: the state to continue from (None: the initial state);
        conditions (B,) class ids (needed unless condition is "none"); lengths (B,) on the
        CPU for padded sequences. Returns logits (B, T, V) and the state after the last real step."""
        if self.condition != "none" and conditions is None:
            raise ValueError(f"this model is conditioned ({self.condition}); pass conditions (B,)")
        x = self.embedding_dropout(self.embedding(tokens))  # (B, T, E)
        if self.condition == "input":
            c = self.condition_embedding(conditions).unsqueeze(1).expand(-1, tokens.shape[1], -1)  # (B, T, E)
            x = torch.cat([x, c], dim=-1)  # (B, T, 2E)
        if state is None:
            state = self.initial_state(conditions, tokens.shape[0])
        h, state = self.encoder(x, state, lengths=lengths)  # (B, T, H)
        h = self.dropout(h)
        if not self.tie_embeddings:
            return self.head(h), state
        if self.projection is not None:
            h = self.projection(h)  # (B, T, E)
        return F.linear(h, self.embedding.weight, self.head_bias), state  # (B, T, V)

    # -- the loop's contract ---------------------------------------------------------------

    def _logits(self, batch: LMBatch) -> Tensor:
        """Logits (B, T, V) of a batch; stream windows continue from (and leave) the carried state."""
        state = None
        if batch.carry and self.stateful:
            assert self._carried is not None, "a window marked carry came without a previous window"
            state = self._carried
        logits, state = self(batch.inputs, state, conditions=batch.conditions, lengths=batch.lengths)
        self._carried = None if batch.lengths is not None or not self.stateful else _detach(state)
        return logits

    def loss(self, batch: LMBatch) -> Tensor:
        """Mean cross-entropy (nats) over the predicted tokens (a scalar)."""
        logits = self._logits(batch)
        return F.cross_entropy(logits.flatten(0, 1).float(), batch.targets.flatten(), ignore_index=PAD_ID)

    @torch.no_grad()
    def metrics(self, batch: LMBatch) -> dict[str, tuple[float, int]]:
        """loss (nats per token) and, for char models, bpc, as (sum, count) over predicted tokens."""
        logits = self._logits(batch)
        total = float(F.cross_entropy(logits.flatten(0, 1).float(), batch.targets.flatten(), ignore_index=PAD_ID,
                                      reduction="sum"))
        out = {"loss": (total, batch.num_tokens)}
        if self.bits_per_char:
            out["bpc"] = (total / math.log(2), batch.num_tokens)
        return out

    def finalize_metrics(self, totals: Mapping[str, tuple[float, int]]) -> dict[str, float]:
        """Whole-split totals -> the means, and perplexity = exp(mean loss)."""
        out = {name: value / count if count else float("nan") for name, (value, count) in totals.items()}
        out["perplexity"] = math.exp(min(out["loss"], 700.0))  # exp overflows a float past ~709
        return out

    @torch.no_grad()
    def predict(self, batch: LMBatch) -> list[list[int]]:
        """The most likely next token at every position, per row (up to each length)."""
        ids = self._logits(batch).argmax(dim=-1).cpu()  # (B, T)
        lengths = [ids.shape[1]] * ids.shape[0] if batch.lengths is None else batch.lengths.tolist()
        return [row[:n] for row, n in zip(ids.tolist(), lengths)]

    def carried_state(self) -> dict[str, Tensor]:
        """The state carried to the next stream window, for a checkpoint ({} when none)."""
        if self._carried is None:
            return {}
        return {"h": self._carried[0], "c": self._carried[1]} if self.is_lstm else {"h": self._carried}

    def load_carried_state(self, tensors: Mapping[str, Tensor]) -> None:
        """Restore what :meth:`carried_state` returned (on the model's device)."""
        device = self.embedding.weight.device
        h = tensors["h"].to(device)
        self._carried = (h, tensors["c"].to(device)) if self.is_lstm else h

    # -- generation ------------------------------------------------------------------------

    def condition_ids(self, condition: str | None) -> Tensor | None:
        """The class name as a (1,) id tensor; a ValueError names the known ones."""
        if self.condition == "none":
            if condition is not None:
                raise ValueError(f"condition {condition!r}: this model was trained without a condition "
                                 "(model.condition: none)")
            return None
        if condition is None:
            raise ValueError(f"this model is conditioned (model.condition: {self.condition}); give a condition, "
                             f"one of: {', '.join(self.conditions)}")
        if condition not in self.conditions:
            raise ValueError(f"condition {condition!r} is not one this model was trained with"
                             f"{did_you_mean(str(condition), self.conditions)}; known: {', '.join(self.conditions)}")
        return torch.tensor([self.conditions.index(condition)], device=self.embedding.weight.device)

    def generate(self, prompt_ids: Sequence[int] | Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
                 condition: str | None = None) -> Iterator[int]:
        """Yield up to ``max_new_tokens`` new token ids, one at a time, after ``prompt_ids``.

        The prompt (at least one id; ``[SOS_ID]`` for models trained on sequences) is read in
        one forward pass; then each new token costs one step (a transformer instead re-reads
        the last ``context`` tokens for each new token). temperature 0 is greedy; else
        ``y ~ softmax(filter(logits / temperature))`` with top_k (None: off) and top_p (None:
        off) from :func:`seqlab.decode.filter_logits`; ``generator`` (a CPU generator) seeds the
        draws. Generation stops early at ``<eos>`` (not yielded). ``condition``: the class
        name for a conditioned model. Arguments are checked here, before the first token;
        the model is put in eval mode.
        """
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ValueError(f"temperature must be a number >= 0 (0: greedy), got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be an integer >= 1, or None for no top-k filter; got {top_k!r}")
        if top_p is not None and (not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0):
            raise ValueError(f"top_p must be a number in (0, 1], or None for no nucleus filter; got {top_p!r}")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        prompt = torch.as_tensor(prompt_ids, dtype=torch.long).flatten()
        vocab_size = self.embedding.num_embeddings
        if prompt.numel() == 0:
            raise ValueError("the prompt is empty; give at least one token id (e.g. SOS_ID for a model of sequences)")
        if int(prompt.min()) < 0 or int(prompt.max()) >= vocab_size:
            raise ValueError(f"prompt ids must be in 0..{vocab_size - 1}, got {prompt.tolist()[:20]!r}")
        conditions = self.condition_ids(condition)
        self.eval()
        return self._generate(prompt.to(self.embedding.weight.device), max_new_tokens, float(temperature),
                              top_k or 0, 1.0 if top_p is None else float(top_p), generator, conditions)

    @torch.no_grad()
    def _generate(self, prompt: Tensor, max_new_tokens: int, temperature: float, top_k: int, top_p: float,
                  generator: torch.Generator | None, conditions: Tensor | None) -> Iterator[int]:
        if not self.stateful:
            yield from self._generate_by_rereading(prompt, max_new_tokens, temperature, top_k, top_p, generator,
                                                   conditions)
            return
        logits, state = self(prompt.unsqueeze(0), conditions=conditions)  # the whole prompt: (1, P, V)
        for n in range(max_new_tokens):
            token = self._choose(logits[0, -1], temperature, top_k, top_p, generator)
            if token == EOS_ID:
                return
            yield token
            if n + 1 < max_new_tokens:
                step = torch.tensor([[token]], device=prompt.device)  # (1, 1)
                logits, state = self(step, state, conditions=conditions)

    def _generate_by_rereading(self, prompt: Tensor, max_new_tokens: int, temperature: float, top_k: int,
                               top_p: float, generator: torch.Generator | None,
                               conditions: Tensor | None) -> Iterator[int]:
        """Generation without a state (the transformer): each token re-reads the last
        ``context`` tokens (a sliding window of the length it was trained on)."""
        ids = prompt.unsqueeze(0)  # (1, P)
        for _ in range(max_new_tokens):
            logits, _ = self(ids[:, -self.context:], conditions=conditions)  # (1, <= context, V)
            token = self._choose(logits[0, -1], temperature, top_k, top_p, generator)
            if token == EOS_ID:
                return
            yield token
            ids = torch.cat([ids, ids.new_tensor([[token]])], dim=1)

    @staticmethod
    def _choose(logits: Tensor, temperature: float, top_k: int, top_p: float,
                generator: torch.Generator | None) -> int:
        """The next token from logits (V,): <pad> and <sos> are never chosen (they are never targets)."""
        logits = logits.float().cpu()
        logits[[PAD_ID, SOS_ID]] = float("-inf")
        if temperature == 0:
            return int(logits.argmax())
        filtered = filter_logits((logits / temperature).unsqueeze(0), top_k, top_p)  # (1, V)
        return int(torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator))


@dataclass(frozen=True)
class TransformerSettings:
    """The causal transformer's keys (model.num_heads etc.; see seqlab.config) and the
    context generation re-reads (data.bptt, the training window)."""

    num_heads: int
    ff_size: int | None
    positional: str
    max_positions: int
    norm_first: bool
    context: int


def _detach(state: State) -> State:
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


# -- builders: the only place config becomes constructor calls -------------------------


@dataclass(frozen=True)
class LMData:
    """The three splits (streams, or lists of sequences) and what they were encoded with."""

    train: TokenStream | list[LMExample]
    valid: TokenStream | list[LMExample]
    test: TokenStream | list[LMExample]
    tokenizer: Tokenizer  # text -> tokens, built from the training split
    vocab: Vocab  # tokens -> ids, from the training split
    conditions: list[str]  # class id -> name, from the training split; [] for streams
    split: dict[str, list[int]] | None  # sequences: split -> row numbers in the source
    about: dict[str, object]  # where the splits come from

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def save(self, run_dir: Path) -> None:
        """Write tokenizer.json and vocab.json; conditions.json and split.json when there are classes."""
        self.tokenizer.save(run_dir / "tokenizer.json")
        self.vocab.save(run_dir / "vocab.json")
        if self.conditions:
            (run_dir / "conditions.json").write_text(json.dumps(self.conditions, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")
        if self.split is not None:
            sources.save_split(self.split, run_dir / "split.json", **self.about)

    def text(self, ids: Sequence[int]) -> str:
        """Token ids back to text (specials dropped)."""
        return self.tokenizer.detokenize(self.vocab.decode(list(ids)))


def reads_sequences(cfg: Config) -> bool:
    """Does this recipe's model read whole sequences (``<sos> ... <eos>``, one name each)
    rather than one token stream? Generation then starts from ``<sos>``."""
    return cfg.data.name == "names"


def load_data(cfg: Config) -> LMData:
    """Read the splits named by ``cfg.data``; tokenizer and vocabulary come from train only."""
    d = cfg.data
    settings = _tokenizer_settings(cfg)  # checked before any file is read
    if d.name is not None and d.name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {d.name!r} for task 'lm'{did_you_mean(d.name, DATASETS)}; "
                          f"known: {', '.join(DATASETS)} (or data.name=null with data.train=your text file)")
    if reads_sequences(cfg):
        return _load_names(cfg, settings)
    texts, described = _read_texts(cfg)
    tokenizer = build_tokenizer(d.tokenizer, texts["train"].splitlines(keepends=True), **settings)
    tokens = {name: tokenizer.tokenize(text) for name, text in texts.items()}
    vocab = Vocab.build([tokens["train"]], min_freq=d.min_freq, max_size=d.max_vocab)
    streams = {}
    for name, limit in (("train", d.limit_train), ("valid", d.limit_eval), ("test", d.limit_eval)):
        ids = vocab.encode_corpus([tokens[name][:limit]])[0]
        streams[name] = TokenStream(torch.tensor(ids, dtype=torch.long), described[name], d.bptt)
        check_stream(streams[name], cfg.train.batch_size if name == "train" else None)
    return LMData(streams["train"], streams["valid"], streams["test"], tokenizer, vocab, [], None,
                  {"sources": described})


def _read_texts(cfg: Config) -> tuple[dict[str, str], dict[str, str]]:
    """Each split's text and a description of where it came from (for errors and the run)."""
    d = cfg.data
    if d.name == "tinyshakespeare":
        train, valid = registry.load(d.name, "train")[0], registry.load(d.name, "valid")[0]
        described = {"train": "tinyshakespeare/train (first 90%)", "valid": "tinyshakespeare/valid (last 10%)"}
        return {"train": train, "valid": valid, "test": valid}, {**described, "test": described["valid"]}
    if d.train is None:
        raise ConfigError("data.train: expected a path to your training text (data.name is null), got null")
    if d.format != "text":
        raise ConfigError(f"data.format: task 'lm' reads plain text files; expected text, got {d.format!r}")
    paths = {"train": d.train, "valid": d.valid, "test": d.test}
    texts = {name: _read_file(path) for name, path in paths.items() if path is not None}
    described = {name: str(path) for name, path in paths.items() if path is not None}
    carved = [name for name in ("test", "valid") if name not in texts]  # test is the very end; valid before it
    whole = len(texts["train"])
    for name in carved:
        fraction = d.test_fraction if name == "test" else d.valid_fraction
        cut = len(texts["train"]) - int(whole * fraction)
        texts["train"], texts[name] = texts["train"][:cut], texts["train"][cut:]
        described[name] = f"{d.train} (a block of {fraction:.0%} of its characters carved off the end)"
    described["train"] = d.train if not carved else f"{d.train} (with {' and '.join(carved)} carved off its end)"
    return texts, described


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None


def _load_names(cfg: Config, settings: dict[str, object]) -> LMData:
    """names reversed: language -> surname, each surname one sequence <sos> tokens <eos>."""
    d = cfg.data
    rows = list(registry.load("names", "all"))  # (surname, language)
    split = sources.seeded_split(len(rows), [1.0 - d.valid_fraction - d.test_fraction, d.valid_fraction,
                                             d.test_fraction], seed=cfg.seed)
    for i, name in enumerate(("train", "valid", "test")):
        limit = d.limit_train if name == "train" else d.limit_eval
        if limit is not None and limit < len(split[name]):  # the first N of a seeded shuffle, kept in file order
            order = np.random.default_rng([cfg.seed, i]).permutation(len(split[name]))[:limit]
            split[name] = [split[name][j] for j in sorted(order.tolist())]
    texts = [rows[j][0] for j in split["train"]]
    tokenizer = build_tokenizer(d.tokenizer, texts, **settings)
    vocab = Vocab.build([tokenizer.tokenize(text) for text in texts], min_freq=d.min_freq, max_size=d.max_vocab)
    conditions = sorted({rows[j][1] for j in split["train"]})
    ids = {language: i for i, language in enumerate(conditions)}

    def encode(name: str) -> list[LMExample]:
        sources.check_split_labels(conditions, (rows[j][1] for j in split[name]), name)
        return [LMExample(vocab.encode(tokenizer.tokenize(rows[j][0]), add_sos=True, add_eos=True), ids[rows[j][1]])
                for j in split[name]]

    about = {"sources": {name: "names/all" for name in split}, "seed": cfg.seed,
             "fractions": [1.0 - d.valid_fraction - d.test_fraction, d.valid_fraction, d.test_fraction],
             "limit_train": d.limit_train, "limit_eval": d.limit_eval}
    return LMData(encode("train"), encode("valid"), encode("test"), tokenizer, vocab, conditions, split, about)


def _tokenizer_settings(cfg: Config) -> dict[str, object]:
    d = cfg.data
    if d.lowercase and d.tokenizer != "word":
        raise ConfigError(f"data.lowercase: only the word tokenizer lower-cases; data.tokenizer is {d.tokenizer!r}")
    if d.tokenizer == "word":
        return {"lowercase": d.lowercase}
    if d.tokenizer == "bpe":
        return {"vocab_size": d.bpe_vocab_size}
    return {}


def build_model(cfg: Config, data: LMData) -> LanguageModel:
    m = cfg.model
    if m.encoder not in ENCODERS:
        raise ConfigError(f"model.encoder: task 'lm' takes {', '.join(ENCODERS)}; got {m.encoder!r}")
    transformer = None
    if m.encoder == "transformer":
        if m.condition == "init":
            raise ConfigError("model.condition: a transformer language model has no initial state to set; "
                              "expected none or input, got 'init'")
        if m.recurrent_dropout > 0:
            raise ConfigError(f"model.recurrent_dropout: a transformer has no recurrence; expected 0, "
                              f"got {m.recurrent_dropout}")
        if m.positional == "learned" and cfg.data.bptt > m.max_positions:
            raise ConfigError(f"model.max_positions: learned positions must cover a data.bptt window "
                              f"({cfg.data.bptt} tokens); expected >= {cfg.data.bptt}, got {m.max_positions}")
        transformer = TransformerSettings(m.num_heads, m.ff_size, m.positional, m.max_positions, m.norm_first,
                                          cfg.data.bptt)
    if m.bidirectional:
        raise ConfigError("model.bidirectional: a language model reads left to right only; expected false, got true")
    if m.condition != "none" and not data.conditions:
        raise ConfigError(f"model.condition: {m.condition!r} needs data with classes (names); "
                          f"{cfg.data.name or cfg.data.train} has none, so expected none")
    return LanguageModel(data.vocab_size, encoder=m.encoder, embedding_dim=m.embedding_dim,
                         hidden_size=m.hidden_size, num_layers=m.num_layers, dropout=m.dropout,
                         recurrent_dropout=m.recurrent_dropout, embedding_dropout=m.embedding_dropout,
                         tie_embeddings=m.tie_embeddings, condition=m.condition, conditions=data.conditions,
                         bits_per_char=cfg.data.tokenizer == "char", transformer=transformer)


# -- the report: samples after training --------------------------------------------------

SAMPLE_TOKENS = 300  # tokens in the stream sample the report prints
SAMPLE_TEMPERATURE = 0.8
NAMES_PER_CLASS = 3


def report(model: LanguageModel, data: LMData, cfg: Config, run_dir: Path, device: torch.device) -> str:
    """Seeded samples (temperature 0.8), written to samples.txt: for a stream, 300 tokens after
    the test split's first token; for sequences, a few per class (or ten without classes)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    settings = {"temperature": SAMPLE_TEMPERATURE, "generator": generator}
    if isinstance(data.test, TokenStream):
        prompt = data.test.tokens[:1].tolist()
        ids = list(model.generate(prompt, SAMPLE_TOKENS, **settings))
        text = f"sample ({SAMPLE_TOKENS} tokens, temperature {SAMPLE_TEMPERATURE}, seed {cfg.seed}):\n" \
               + data.text(prompt + ids)
    else:
        lines = [f"samples (temperature {SAMPLE_TEMPERATURE}, seed {cfg.seed}):"]
        for condition in data.conditions if model.condition != "none" else [None]:
            count = NAMES_PER_CLASS if condition is not None else 10
            names = [data.text(model.generate([SOS_ID], 30, condition=condition, **settings)) for _ in range(count)]
            lines.append(f"  {condition + ': ' if condition else ''}{', '.join(names)}")
        text = "\n".join(lines)
    (run_dir / "samples.txt").write_text(text + "\n", encoding="utf-8")
    return text
