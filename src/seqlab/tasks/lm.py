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
  For streams ``data.limit_train`` / ``limit_eval`` keep the first N tokens. With
  ``data.token_dir`` the splits are tokenized once into int32 files and read memory-mapped,
  a window at a time (:mod:`seqlab.tasks.lm_tokens`): a corpus need not fit in memory.
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

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.config import Config, did_you_mean
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seqlab.decode import filter_logits
from seqlab.errors import ConfigError
from seqlab.nn import GRU, LSTM, RNN
from seqlab.nn.transformer import CausalTransformer
from seqlab.tasks.lm_data import (
    DATASETS,
    LMBatch,
    LMData,
    LMExample,
    TokenStream,
    check_stream,
    collate,
    epoch_batches,
    eval_windows,
    load_data,
    min_train_tokens,
    reads_sequences,
    train_windows,
)

ENCODERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "transformer": CausalTransformer}
CONDITIONS = ("none", "init", "input")
State = Tensor | tuple[Tensor, Tensor]  # h (L, B, H), or (h, c) for an LSTM

__all__ = ["DATASETS", "LMBatch", "LMData", "LMExample", "LanguageModel", "TokenStream", "build_model", "check_stream",
           "collate", "epoch_batches", "eval_windows", "load_data", "min_train_tokens", "reads_sequences", "report",
           "train_windows"]


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
        return self.output(self.dropout(h)), state

    def output(self, h: Tensor) -> Tensor:
        """The output layer: (..., H) -> logits (..., V); tied to the embedding if asked."""
        if not self.tie_embeddings:
            return self.head(h)
        if self.projection is not None:
            h = self.projection(h)  # (..., E)
        return F.linear(h, self.embedding.weight, self.head_bias)  # (..., V)

    def step(self, token: Tensor, state: State | None, conditions: Tensor | None = None) -> tuple[Tensor, State]:
        """One new token of a recurrent model: token (B,) ids -> logits (B, V) and the state
        after it. What ``forward`` gives on a one-token sequence (in eval mode; a layer with
        recurrent dropout wants its masks in training, see ``step`` there), through the
        layers' ``step`` (torch's cell ops), several times cheaper than a sequence call at
        batch 1 on the CPU (generating with a 3 x 512 char LSTM, one thread: 3.6 against
        9.5 ms a token; ``benchmarks/decoder_step.py --generate``)."""
        x = self.embedding_dropout(self.embedding(token))  # (B, E)
        if self.condition == "input":
            x = torch.cat([x, self.condition_embedding(conditions)], dim=-1)  # (B, 2E)
        if state is None:
            state = self.initial_state(conditions, token.shape[0])
        h, state = self.encoder.step(x, state)  # (B, H)
        return self.output(self.dropout(h)), state

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
                step_logits, state = self.step(torch.tensor([token], device=prompt.device), state, conditions)
                logits = step_logits.unsqueeze(0)  # (1, 1, V), as after the prompt

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
