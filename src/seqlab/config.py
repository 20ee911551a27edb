"""Recipes: frozen nested dataclasses, loaded from YAML, overridden by ``a.b=c``, validated.

Every key has exactly one default, here, and a one-line comment saying what it means.
A recipe file (or an embedded recipe under ``seqlab/recipes/NAME.yaml``) states only
what differs; overrides from ``--set`` are converted to the field's declared type.
Mistakes fail with a :class:`~seqlab.errors.ConfigError` that names the full dotted key:

    >>> apply_overrides(Config(), ["model.hiden_size=3"])
    ConfigError: unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?

This module imports no torch, so the command line can read recipes quickly.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from seqlab.config_values import check_value, leaf_types, parse_text, require
from seqlab.errors import ConfigError, did_you_mean

DEFAULT_RECIPE = "dates"  # what `seqlab train` runs when no recipe is named
RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class DataConfig:
    """Where examples come from: a generated toy, a registry dataset, or the user's own files."""

    name: str | None = "odd-count-mod3"  # generated toy (tag) or registry dataset (tag, classify); null: data.train files
    num_train: int = 2000  # training examples to generate
    num_valid: int = 200  # validation examples (scored after every epoch)
    num_test: int = 500  # test examples (scored once, at the end)
    min_len: int = 5  # shortest generated sequence, in tokens
    max_len: int = 20  # longest generated sequence, in tokens
    train: str | None = None  # the user's training file (with data.name null)
    valid: str | None = None  # the user's validation file; null: carve data.valid_fraction from train
    test: str | None = None  # the user's test file; null: carve data.test_fraction from train
    format: Literal["csv", "tsv", "jsonl", "parallel", "text", "conllu", "sequences-jsonl",
                    "timeseries-csv"] = "csv"  # the user's files; see below
    # (parallel: source<TAB>target lines for seq2seq; text: one stream for lm; conllu: tag; timeseries-csv: forecast;
    #  sequences-jsonl: classify numeric feature sequences, {"features": [[...], ...], "label": ...} per line)
    tag_column: str = "upos"  # conllu (tag): the column holding the tags, upos or xpos
    text_column: str = "text"  # column (csv/tsv) or key (jsonl) holding the text
    label_column: str = "label"  # column (csv/tsv) or key (jsonl) holding the label
    features_column: str = "features"  # sequences-jsonl: the key holding each sequence's steps (T lists of F numbers)
    tokenizer: Literal["char", "word", "bpe"] = "word"  # how text becomes tokens; see seqlab.data.tokenize
    lowercase: bool = False  # lower-case text before word tokenization
    bpe_vocab_size: int = 8000  # pieces a bpe tokenizer learns (from the training split)
    min_freq: int = 1  # keep tokens seen at least this often in the training split
    max_vocab: int | None = None  # most vocabulary entries, the 4 specials included; null: no cap
    max_tokens_per_example: int | None = None  # keep only the first N tokens of each text; null: all
    valid_fraction: float = 0.1  # share of train carved out (seeded) as validation when there is no valid split
    test_fraction: float = 0.1  # share of train carved out (seeded) as test when there is no test split
    limit_train: int | None = None  # use only the first N training examples after a seeded shuffle; null: all
    limit_eval: int | None = None  # likewise for validation and test (smoke runs); null: all
    # seeds the data alone: carved splits, limit_* shuffles and generated examples; null: the recipe's seed. Runs
    # that differ only in their seed (an ensemble's members) keep one validation split by sharing data.seed
    seed: int | None = None
    direction: str | None = None  # seq2seq on a registry corpus: e.g. de-en or en-de (multi30k); null: its own order
    bptt: int = 128  # lm on a token stream: window length of truncated backpropagation through time
    # lm on a token stream: tokenize each split once into int32 files in this folder and train from them
    # memory-mapped, so a corpus need not fit in memory (reused while the text and data keys stay the same); null:
    # token ids held in memory
    token_dir: str | None = None
    # word2vec on imdb: the review text of every split (all), or of the training split only (train: the text a
    # classifier scored on the test split may pre-train on)
    text_from: Literal["all", "train"] = "all"

    def __post_init__(self) -> None:
        for key in ("num_train", "num_valid", "num_test", "min_len", "bpe_vocab_size", "min_freq", "bptt"):
            require(getattr(self, key) >= 1, f"data.{key}", getattr(self, key), "an integer >= 1")
        require(self.max_len >= self.min_len, "data.max_len", self.max_len,
                 f"an integer >= data.min_len ({self.min_len})")
        for key in ("max_tokens_per_example", "limit_train", "limit_eval"):
            require(getattr(self, key) is None or getattr(self, key) >= 1, f"data.{key}", getattr(self, key),
                     "an integer >= 1, or null")
        require(self.max_vocab is None or self.max_vocab >= 4, "data.max_vocab", self.max_vocab,
                 "an integer >= 4 (the specials), or null")
        for key in ("valid_fraction", "test_fraction"):
            require(0.0 < getattr(self, key) < 1.0, f"data.{key}", getattr(self, key), "a number in (0, 1)")
        require(self.valid_fraction + self.test_fraction < 1.0, "data.test_fraction", self.test_fraction,
                 f"a number < 1 - data.valid_fraction ({self.valid_fraction}), so training keeps examples")


@dataclass(frozen=True)
class EmbeddingConfig:
    """Pretrained word vectors for the token embedding (classify, tag, lm); see seqlab.initialize."""

    pretrained: str | None = None  # word2vec text file (binary if .bin) or seqlab word2vec run: vectors to start from
    freeze: bool = False  # keep the token embedding fixed during training (with model.embedding.pretrained)
    extend_vocab: bool = False  # classify, tag: the pretrained words the training split lacks join the vocabulary


@dataclass(frozen=True)
class ModelConfig:
    """The network: embedding, encoder (recurrent, convolutional or Transformer), output layer."""

    # Recurrent layer from seqlab.nn; classify also takes conv (1D convolutions), transformer (self-attention)
    # and conv+lstm / conv+gru / conv+rnn (convolutions shorten the sequence, then the recurrent layer reads it);
    # lm also takes transformer (a causal stack). seq2seq picks its Transformer with model.arch instead.
    # forecast also takes linear (one map from the window to the horizon, shared by every channel; with
    # forecast.instance_norm: revin it is RLinear, Li et al. 2023) and mlp (that map plus a residual MLP).
    encoder: Literal["lstm", "gru", "rnn", "conv", "transformer", "conv+lstm", "conv+gru", "conv+rnn",
                     "linear", "mlp"] = "lstm"
    # seq2seq: rnn (recurrent encoder-decoder with attention) or transformer (Vaswani et al. 2017: self-attention
    # encoder, causal self-attention + cross-attention decoder, d_model = model.hidden_size, transformer keys below).
    arch: Literal["rnn", "transformer"] = "rnn"
    embedding_dim: int = 16  # width of each token's embedding
    hidden_size: int = 64  # units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # also read each sequence right to left
    dropout: float = 0.0  # dropout between stacked layers and before the output layer
    recurrent_dropout: float = 0.0  # variational dropout on the recurrent state (Gal & Ghahramani 2016)
    embedding_dropout: float = 0.0  # dropout on the token embeddings (classify, lm; tag: on word + char features)
    word_dropout: float = 0.0  # tag, classify: in training, replace each token by <unk> with this probability
    char_encoder: Literal["none", "cnn", "lstm"] = "none"  # tag: character features of each word (Ma & Hovy; Lample)
    char_embedding_dim: int = 30  # tag: width of each character embedding
    char_hidden_size: int = 50  # tag: char cnn filters, or char lstm units per direction
    char_kernel_size: int = 3  # tag: characters each char cnn filter sees (odd)
    embedding_init_std: float | None = None  # classify: std of the embeddings' normal init; null: torch's N(0, 1)
    pooling: Literal["last", "mean", "max", "max+mean", "attention"] = "last"  # sequence -> one vector (classify)
    attention: Literal["dot", "general", "additive"] = "dot"  # seq2seq: how the decoder scores encoder states
    input_feeding: bool = False  # seq2seq: feed the last attentional state to the decoder (Luong et al. 2015; slower)
    tie_embeddings: bool = False  # seq2seq, lm: the output layer shares the (target) embedding matrix
    condition: Literal["none", "init", "input"] = "none"  # lm: a class sets the initial state, or joins every input
    conv_channels: int = 128  # conv, conv+*: filters per convolution layer (the width a conv encoder outputs)
    conv_kernel_size: int = 5  # conv, conv+*: positions each filter sees
    conv_layers: int = 2  # conv, conv+*: stacked convolution layers
    conv_dilation: int = 1  # conv, conv+*: layer l dilates by conv_dilation ** l (1, d, d^2, ...); 1: none
    conv_padding: Literal["same", "valid"] = "same"  # conv, conv+*: same keeps lengths; valid drops edges (Keras)
    conv_pool: int | None = None  # conv: max-pool window between conv layers (conv+*: and before the RNN); null: none
    num_heads: int = 4  # transformer: attention heads; model.hidden_size (d_model) must be divisible by it
    ff_size: int | None = None  # transformer: feed-forward inner width; null: 4 * model.hidden_size
    positional: Literal["sinusoidal", "learned", "none"] = "sinusoidal"  # transformer: how positions are encoded
    max_positions: int = 512  # transformer with learned positions: the longest sequence it can read
    norm_first: bool = False  # transformer: pre-LN (LayerNorm before each sublayer) instead of the paper's post-LN
    init_from: str | None = None  # classify: an lm run dir whose embedding, recurrent layers and vocab start the model
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)  # pretrained vectors for the token embedding

    def __post_init__(self) -> None:
        for key in ("embedding_dim", "hidden_size", "num_layers", "char_embedding_dim", "char_hidden_size",
                    "conv_channels", "conv_kernel_size", "conv_layers", "conv_dilation", "num_heads", "max_positions"):
            require(getattr(self, key) >= 1, f"model.{key}", getattr(self, key), "an integer >= 1")
        require(self.char_kernel_size >= 1 and self.char_kernel_size % 2 == 1, "model.char_kernel_size",
                 self.char_kernel_size, "an odd integer >= 1")
        for key in ("conv_pool", "ff_size"):
            require(getattr(self, key) is None or getattr(self, key) >= 1, f"model.{key}", getattr(self, key),
                     "an integer >= 1, or null")
        require((self.encoder != "transformer" and self.arch != "transformer")
                 or self.hidden_size % self.num_heads == 0, "model.hidden_size",
                 self.hidden_size, f"a multiple of model.num_heads ({self.num_heads}) for the transformer")
        for key in ("dropout", "recurrent_dropout", "embedding_dropout", "word_dropout"):
            require(0.0 <= getattr(self, key) < 1.0, f"model.{key}", getattr(self, key), "a number in [0, 1)")
        require(self.embedding_init_std is None or self.embedding_init_std > 0, "model.embedding_init_std",
                 self.embedding_init_std, "a number > 0, or null")


@dataclass(frozen=True)
class TrainConfig:
    """The optimizer and the loop."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 32  # sequences per update
    lr: float = 0.01  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    clip_norm: float | None = 1.0  # clip the global gradient norm to this; null: no clipping
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda if available, else cpu
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on a cuda device that has it, else fp32
    schedule: Literal["constant", "warmup_cosine", "plateau"] = "constant"  # how the learning rate moves
    warmup_steps: int = 0  # warmup_cosine: steps of linear warmup from 0 to train.lr
    warmup_fraction: float = 0.0  # warmup_cosine: warmup as a share of all steps (instead of warmup_steps)
    min_lr_ratio: float = 0.0  # lowest lr, as a share of train.lr (end of the cosine; floor of plateau)
    plateau_factor: float = 0.5  # plateau: multiply the lr by this when train.monitor stops improving
    plateau_patience: int = 2  # plateau: epochs without improvement tolerated; the next one drops the lr
    monitor: str | None = None  # validation metric that picks the best epoch, e.g. valid_loss; null: the task's headline
    mode: Literal["auto", "max", "min"] = "auto"  # is a higher train.monitor better? auto: min for loss-like names
    patience: int | None = None  # stop after this many epochs without a better train.monitor; null: never stop early
    # stop once training and validation have taken this many minutes of wall time (across resumes): the epoch under
    # way ends at once and is validated, then the best epoch is tested as usual (warmup_cosine, and word2vec's linear
    # decay, follow the time spent when it is ahead of the steps); null: no limit
    max_minutes: float | None = None
    bucket: bool = False  # batch examples of similar length (shuffled windows of 50 batches sorted by length)
    max_tokens: int | None = None  # train.bucket: also cap a batch at this many padded tokens (B x longest); null: none
    checkpoint_every: int | None = 500  # also checkpoint every N steps (mid-epoch resume); null: only after each epoch
    # Validate and keep an exponential moving average of the weights, updated after every step
    # (Polyak averaging; Keras' use_ema): avg = decay * avg + (1 - decay) * w. e.g. 0.999; null: off
    ema_decay: float | None = None
    label_smoothing: float = 0.0  # seq2seq: share of each target's probability mass spread over the vocabulary
    teacher_forcing: float = 1.0  # seq2seq: chance the decoder is fed the reference token (else its own sample)
    teacher_forcing_schedule: Literal["constant", "linear"] = "constant"  # linear: decay from 1 to teacher_forcing
    log_every: int = 10  # write a step record (loss, lr, tokens/s) to metrics.jsonl every N steps
    tensorboard: bool = False  # also log to RUN_DIR/tensorboard (needs the tensorboard package)

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "log_every", "plateau_patience"):
            require(getattr(self, key) >= 1, f"train.{key}", getattr(self, key), "an integer >= 1")
        require(self.lr > 0, "train.lr", self.lr, "a number > 0")
        require(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "a number >= 0")
        require(self.clip_norm is None or self.clip_norm > 0, "train.clip_norm", self.clip_norm,
                 "a number > 0, or null for no clipping")
        require(self.warmup_steps >= 0, "train.warmup_steps", self.warmup_steps, "an integer >= 0")
        require(0.0 <= self.warmup_fraction < 1.0, "train.warmup_fraction", self.warmup_fraction,
                 "a number in [0, 1)")
        require(not (self.warmup_steps and self.warmup_fraction), "train.warmup_fraction", self.warmup_fraction,
                 f"0 when train.warmup_steps is set ({self.warmup_steps}); give one of the two")
        require(self.schedule == "warmup_cosine" or not (self.warmup_steps or self.warmup_fraction),
                 "train.schedule", self.schedule, "warmup_cosine when train.warmup_steps or warmup_fraction is set")
        require(0.0 <= self.min_lr_ratio <= 1.0, "train.min_lr_ratio", self.min_lr_ratio, "a number in [0, 1]")
        require(0.0 < self.plateau_factor < 1.0, "train.plateau_factor", self.plateau_factor, "a number in (0, 1)")
        require(0.0 <= self.label_smoothing < 1.0, "train.label_smoothing", self.label_smoothing,
                 "a number in [0, 1)")
        require(0.0 <= self.teacher_forcing <= 1.0, "train.teacher_forcing", self.teacher_forcing,
                 "a number in [0, 1]")
        require(self.max_tokens is None or (self.max_tokens >= 1 and self.bucket), "train.max_tokens",
                 self.max_tokens, "an integer >= 1 with train.bucket true, or null")
        require(self.max_minutes is None or self.max_minutes > 0, "train.max_minutes", self.max_minutes,
                 "a number of minutes > 0, or null for no limit")
        require(self.ema_decay is None or 0.0 < self.ema_decay < 1.0, "train.ema_decay", self.ema_decay,
                 "a number in (0, 1), or null for no averaging")
        for key in ("patience", "checkpoint_every"):
            require(getattr(self, key) is None or getattr(self, key) >= 1, f"train.{key}", getattr(self, key),
                     "an integer >= 1, or null")


@dataclass(frozen=True)
class EvalConfig:
    """Scoring on the validation and test sets."""

    batch_size: int = 256  # sequences per batch when scoring
    beam_size: int = 1  # seq2seq: beam search width when decoding valid/test; 1: greedy
    length_penalty: float = 0.0  # seq2seq: GNMT alpha ranking finished beams; 0: total log-probability
    max_len_a: float = 2.0  # seq2seq: decode at most max_len_a * source length + max_len_b tokens
    max_len_b: int = 10  # seq2seq: see max_len_a
    # classify: cut validation and test texts (and seqlab predict's) at data.max_tokens_per_example, as training
    # does; false: score whole texts (the cut then only makes training faster)
    truncate: bool = True

    def __post_init__(self) -> None:
        for key in ("batch_size", "beam_size", "max_len_b"):
            require(getattr(self, key) >= 1, f"eval.{key}", getattr(self, key), "an integer >= 1")
        for key in ("length_penalty", "max_len_a"):
            require(getattr(self, key) >= 0, f"eval.{key}", getattr(self, key), "a number >= 0")


@dataclass(frozen=True)
class Word2VecConfig:
    """word2vec (task word2vec): skip-gram or CBOW with negative sampling, plain SGD as in Mikolov et al. 2013.

    The vector width is model.embedding_dim, the vocabulary cut data.min_freq (word2vec's
    min_count) and data.max_vocab, the passes train.epochs; train.lr and the AdamW keys do not apply.
    """

    architecture: Literal["skipgram", "cbow"] = "skipgram"  # skipgram: a word predicts its context; cbow: the reverse
    window: int = 5  # most context words on each side (each center draws its own reduced window in [1, window])
    negative: int = 5  # noise words per prediction, drawn from the unigram distribution to the power 0.75
    sample: float = 1e-3  # subsampling threshold for frequent words; 0: keep every word
    alpha: float = 0.025  # starting SGD learning rate, decayed linearly over all words of all epochs
    min_alpha: float = 0.0001  # learning rate at the very end
    shared_negatives: bool = True  # skipgram: one draw of noise words per center, shared by its context words
    shared_draws: int = 2  # shared_negatives: each center draws shared_draws x negative noise words, weighted 1/that
    batch_words: int = 1000  # corpus words whose updates are summed into one SGD step (larger: faster, less stable)
    workers: int = 1  # CPU threads training at once on shared tables (Hogwild, as gensim); 1: exactly repeatable
    analogies: str | None = "word_analogy"  # questions-words file (registry name or path) scored at the end; null: none
    restrict_vocab: int = 30000  # analogies: only questions whose words are among this many most frequent

    def __post_init__(self) -> None:
        for key in ("window", "negative", "shared_draws", "batch_words", "workers", "restrict_vocab"):
            require(getattr(self, key) >= 1, f"word2vec.{key}", getattr(self, key), "an integer >= 1")
        require(self.sample >= 0, "word2vec.sample", self.sample, "a number >= 0")
        require(self.alpha > 0, "word2vec.alpha", self.alpha, "a number > 0")
        require(0 <= self.min_alpha <= self.alpha, "word2vec.min_alpha", self.min_alpha,
                 f"a number in [0, word2vec.alpha ({self.alpha})]")


@dataclass(frozen=True)
class ForecastConfig:
    """Forecasting (task forecast): windows over a table of readings, split in time order, z-normalized.

    Windows follow Keras's ``timeseries_dataset_from_array``: a window starting at row s reads
    rows s, s + r, ..., s + (lookback - 1) r (r = sampling_rate) and forecasts the rows r, 2r, ...,
    horizon * r after its last one. The split shares are data.valid_fraction and data.test_fraction.
    """

    table: str | None = None  # a registry dataset's table (ett_small: ETTh1 or ETTh2); null: its only one
    time_column: str = "date"  # the timestamp column of the user's timeseries-csv file (data.train)
    features: str | None = None  # comma-separated input columns; null: every column but the timestamp
    targets: str = "OT"  # comma-separated columns to forecast (among the inputs); all: every input column
    lookback: int = 96  # steps the model reads
    horizon: int = 96  # steps ahead it forecasts
    output: Literal["sequence", "step"] = "sequence"  # sequence: steps 1..horizon at once; step: step horizon only
    stride: int = 1  # rows between the first rows of consecutive windows (Keras sequence_stride)
    sampling_rate: int = 1  # rows per step (6 reads hourly steps from 10-minute rows)
    split: Literal["fractions", "ett"] = "fractions"  # ett: Informer's 12/4/4 months of hourly rows; see forecast.py
    missing: Literal["error", "ffill"] = "error"  # empty/NaN cells of data.train: refuse, or forward-fill each column
    period: int = 24  # seasonal-naive baseline: steps per season (24 hourly steps: a day); <= lookback
    ridge: float = 1.0  # linear baseline: L2 penalty of its closed-form ridge fit on the training windows
    instance_norm: Literal["none", "last", "mean", "revin"] = "none"  # per-window shift of the input, added back
    # to the output: last value, window mean, or RevIN (mean and std with a learned affine; Kim et al. 2022)
    cycle: int = 0  # rows per period of a learned pattern removed before and restored after (CycleNet); 0: none

    def __post_init__(self) -> None:
        for key in ("lookback", "horizon", "stride", "sampling_rate", "period"):
            require(getattr(self, key) >= 1, f"forecast.{key}", getattr(self, key), "an integer >= 1")
        require(self.period <= self.lookback, "forecast.period", self.period,
                 f"an integer <= forecast.lookback ({self.lookback}), so a season of history is in every window")
        require(self.ridge >= 0, "forecast.ridge", self.ridge, "a number >= 0")
        require(self.cycle >= 0, "forecast.cycle", self.cycle, "an integer >= 0 (0: no learned cycle)")


@dataclass(frozen=True)
class Config:
    """A whole recipe, resolved: every key has its value."""

    task: str = "tag"  # what to learn; see seqlab.tasks.TASKS
    seed: int = 0  # seeds data generation, initialization, dropout and shuffling
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    word2vec: Word2VecConfig = field(default_factory=Word2VecConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)

    @property
    def data_seed(self) -> int:
        """What seeds the data: ``data.seed``, or the recipe's ``seed`` when that is null."""
        return self.seed if self.data.seed is None else self.data.seed

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            return  # seqlab.tasks.get names the unknown task
        for section, table in (("data", TASK_ONLY_DATA_KEYS), ("model", TASK_ONLY_MODEL_KEYS),
                               ("eval", TASK_ONLY_EVAL_KEYS)):
            for key, readers in table.items():
                value, default = getattr(getattr(self, section), key), _TASK_ONLY_DEFAULTS[section][key]
                if self.task not in readers and value != default:
                    shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else default
                    raise ConfigError(f"{section}.{key}: task {self.task!r} does not use it (read only by "
                                      f"{', '.join(readers)}), so {value!r} would change nothing; remove it or set "
                                      f"it to {shown}")


TASK_NAMES = ("classify", "tag", "seq2seq", "lm", "forecast", "word2vec")
# Model keys that only some tasks read. Set to anything but the default under another task, they
# would silently change nothing, so Config refuses them (the key and the tasks that read it named).
TASK_ONLY_MODEL_KEYS = {
    "word_dropout": ("classify", "tag"),
    "embedding_dropout": ("classify", "lm", "tag"),
    "char_encoder": ("tag",),
    "char_embedding_dim": ("tag",),
    "char_hidden_size": ("tag",),
    "char_kernel_size": ("tag",),
    "embedding_init_std": ("classify",),
    "pooling": ("classify", "forecast"),
    "arch": ("seq2seq",),
    "attention": ("seq2seq",),
    "input_feeding": ("seq2seq",),
    "condition": ("lm",),
    "init_from": ("classify",),
}
TASK_ONLY_DATA_KEYS = {"token_dir": ("lm",)}  # likewise for data and eval keys
TASK_ONLY_EVAL_KEYS = {"truncate": ("classify",)}
_TASK_ONLY_DEFAULTS = {section: {f.name: f.default for f in dataclasses.fields(cls) if f.name in table}
                       for section, cls, table in (("data", DataConfig, TASK_ONLY_DATA_KEYS),
                                                   ("model", ModelConfig, TASK_ONLY_MODEL_KEYS),
                                                   ("eval", EvalConfig, TASK_ONLY_EVAL_KEYS))}


# -- loading and saving ----------------------------------------------------------------


def load(recipe: str | Path) -> Config:
    """Load a recipe: a path to a YAML file, or the name of an embedded recipe."""
    if _is_path(recipe):
        path = Path(recipe)
        if not path.is_file():
            raise FileNotFoundError(f"recipe file not found: {path}")
        return from_yaml(path.read_text(encoding="utf-8"), source=str(path))
    available = embedded_recipes()
    if recipe not in available:
        raise ConfigError(f"unknown recipe {recipe!r}{did_you_mean(str(recipe), available)}; "
                          f"embedded recipes: {', '.join(available)} (or give a path to a .yaml file)")
    text = resources.files("seqlab").joinpath("recipes", f"{recipe}.yaml").read_text(encoding="utf-8")
    return from_yaml(text, source=f"embedded recipe {recipe!r}")


def embedded_recipes() -> list[str]:
    """Names of the recipes shipped in ``seqlab/recipes/``, sorted."""
    folder = resources.files("seqlab").joinpath("recipes")
    return sorted(entry.name.rsplit(".", 1)[0] for entry in folder.iterdir()
                  if entry.name.endswith(RECIPE_SUFFIXES))


def recipe_name(recipe: str | Path) -> str:
    """The short name a run dir is named after: the embedded name or the file's stem."""
    return Path(recipe).stem if _is_path(recipe) else str(recipe)


def from_yaml(text: str, source: str = "recipe") -> Config:
    """Parse YAML text into a validated Config; ``source`` names it in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a recipe must be a mapping of keys, got {type(raw).__name__}")
    return from_dict(raw)


def from_dict(raw: Mapping[str, Any]) -> Config:
    """Build a Config from nested plain data (as YAML gives it), checking every key and type."""
    return _build(Config, raw, prefix="")


def to_dict(cfg: Config) -> dict[str, Any]:
    """The config as nested plain data, in declaration order."""
    return dataclasses.asdict(cfg)


def save(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML; ``load(path)`` gives it back unchanged."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def resolve(recipe: str | Path, overrides: Mapping[str, Any] | Iterable[str] = ()) -> Config:
    """Load a recipe and apply overrides: the config a run actually uses."""
    return apply_overrides(load(recipe), overrides)


# -- overrides -------------------------------------------------------------------------


def apply_overrides(cfg: Config, overrides: Mapping[str, Any] | Iterable[str]) -> Config:
    """Return ``cfg`` with each ``key=value`` applied.

    ``overrides`` is a mapping ``{"model.hidden_size": 32}`` or strings ``"a.b=c"``. Text
    values are converted to the field's type (``"3"`` -> 3, ``"true"`` -> True,
    ``"null"`` -> None where allowed); other values are checked as YAML values are.
    """
    raw = to_dict(cfg)
    for key, value in _pairs(overrides):
        hint = _leaf_type(key)
        *sections, leaf = key.split(".")
        target = raw
        for section in sections:
            target = target[section]
        target[leaf] = parse_text(value, hint, key) if isinstance(value, str) else value
    return from_dict(raw)


def _pairs(overrides: Mapping[str, Any] | Iterable[str]) -> list[tuple[str, Any]]:
    if isinstance(overrides, Mapping):
        return [(str(key), value) for key, value in overrides.items()]
    if isinstance(overrides, str):
        raise TypeError(f"overrides must be a mapping or a list of 'KEY=VALUE' strings, got the string {overrides!r}")
    pairs = []
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _leaf_type(key: str) -> Any:
    """The declared type of a dotted key, or a ConfigError naming it."""
    leaves = leaf_types(Config)
    if key in leaves:
        return leaves[key]
    sections = {name.rsplit(".", 1)[0] for name in leaves if "." in name}
    if key in sections:
        keys = ", ".join(name for name in leaves if name.startswith(key + "."))
        raise ConfigError(f"{key!r} is a section; set one of its keys: {keys}")
    raise ConfigError(f"unknown key {key!r}{did_you_mean(key, list(leaves))}")


# -- building and checking -------------------------------------------------------------


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping; ``prefix`` ("model.") names keys in errors."""
    if not isinstance(raw, Mapping):
        section = prefix.rstrip(".")
        raise ConfigError(f"{section}: expected a mapping of keys, got {raw!r:.80}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = f"{prefix}{name}"
        if name not in hints:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, _all_keys())}")
        hint = hints[name]
        values[name] = _build(hint, value, f"{key}.") if dataclasses.is_dataclass(hint) else check_value(value, hint, key)
    return cls(**values)


def _all_keys() -> list[str]:
    leaves = list(leaf_types(Config))
    return leaves + sorted({name.rsplit(".", 1)[0] for name in leaves if "." in name})


def _is_path(recipe: str | Path) -> bool:
    if isinstance(recipe, Path):
        return True
    return recipe.endswith(RECIPE_SUFFIXES) or "/" in recipe or "\\" in recipe
