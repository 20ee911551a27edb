"""Forecasting (many-to-one, direct multi-output): a window of readings -> the next steps.

The data side (windows, split, normalization) is :mod:`seqlab.tasks.forecast_data`; the
baselines, summary and plots are :mod:`seqlab.tasks.forecast_report`. The model maps a
z-normalized window x (B, L, C) to y_hat (B, H', T): every step 1..H at once (``forecast.output:
sequence``, H' = H) or only step H (``step``, H' = 1), for the T target columns.

``model.encoder``:

- ``linear``: one linear map from a channel's L steps to its H' steps, shared by every
  channel and applied to the target channels (channel-independent, as the linear models of
  Zeng et al. 2023 "Are Transformers Effective for Time Series Forecasting?"). With
  ``forecast.instance_norm: revin`` it is RLinear (Li et al. 2023, "Revisiting Long-term
  Time Series Forecasting: An Investigation on Linear Mapping").
- ``mlp``: the linear map plus a residual MLP over the same L steps of each channel,
  y_hat = W x + b + W_2 Dropout(ReLU(W_1 x + b_1)) + b_2 with ``model.hidden_size`` units,
  also shared by the channels (with instance norm, close to the RMLP of Li et al. 2023).
- ``lstm``, ``gru``, ``rnn``: seqlab.nn's layers read the C columns step by step; the top
  layer's final state (both directions) goes through dropout and a linear head to H' * T.
- ``conv``, ``transformer``, ``conv+lstm``, ``conv+gru``, ``conv+rnn``: the encoders of
  :mod:`seqlab.nn.encoders`; conv and transformer outputs are pooled over time
  (``model.pooling``: last position, mean or max), conv+RNN gives its RNN's final state.

Instance normalization (``forecast.instance_norm``; Kim et al. 2022, "Reversible Instance
Normalization for Accurate Time-Series Forecasting against Distribution Shift") works per
window and channel: with m the window's last value (``last``) or mean (``mean``/``revin``)
and s its std (``revin`` only, s = 1 otherwise),

    x' = (x - m) / s  (revin: x' * gamma + beta)      y_hat = f(x') (revin: (y_hat - beta) / gamma) * s + m

A learned cycle (``forecast.cycle`` = W rows; Lin et al. 2024, "CycleNet: Enhancing Time
Series Forecasting through Modeling Periodic Patterns") is a (W, C) table Q, trained with
the rest: the window's rows r_k lose Q[r_k mod W] before the model reads them, and the
forecast rows get Q[r mod W] back, so the model forecasts what the daily (or weekly) pattern
does not explain. Rows are counted from the series' first row.

Loss: mean squared error in the normalized space. Metrics: ``mse`` and ``mae`` there (as
the ETT papers report them, averaged over windows, steps and targets) and ``mae_orig`` in
the targets' own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqlab.config import Config
from seqlab.errors import ConfigError
from seqlab.nn import GRU, LSTM, RNN
from seqlab.nn.encoders import ConvEncoder, ConvRNNEncoder, TransformerEncoder, top_final_state
from seqlab.tasks.forecast_data import ForecastData, load_data  # noqa: F401  (load_data: the task table's)
from seqlab.tasks.forecast_report import report, summary  # noqa: F401  (the task table's)

RECURRENT = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
ENCODERS = ("linear", "mlp", *RECURRENT, "conv", "transformer", "conv+lstm", "conv+gru", "conv+rnn")
HEADLINE = "mse"
EPS = 1e-5  # RevIN's variance floor


@dataclass(frozen=True)
class ForecastBatch:
    """x (B, L, C) z-normalized inputs; y (B, H', T) z-normalized targets; start (B,) int64,
    each window's first row in the series."""

    x: Tensor
    y: Tensor
    start: Tensor

    def to(self, device: torch.device | str) -> ForecastBatch:
        return ForecastBatch(self.x.to(device), self.y.to(device), self.start.to(device))

    @property
    def num_tokens(self) -> int:  # the loop weighs batch losses by this: windows here
        return self.x.shape[0]


def collate(examples: Sequence[tuple[Tensor, Tensor, int]]) -> ForecastBatch:
    """Stack (x (L, C), y (H', T), first row) windows into one batch."""
    return ForecastBatch(torch.stack([x for x, _, _ in examples]), torch.stack([y for _, y, _ in examples]),
                         torch.tensor([s for _, _, s in examples], dtype=torch.long))


class InstanceNorm(nn.Module):
    """Per-window, per-channel shift (and scale) of the inputs, undone on the outputs; see
    the module docstring. ``mode``: none, last, mean or revin (with a learned affine)."""

    def __init__(self, mode: str, num_channels: int) -> None:
        super().__init__()
        self.mode = mode
        if mode == "revin":
            self.gamma = nn.Parameter(torch.ones(num_channels))
            self.beta = nn.Parameter(torch.zeros(num_channels))

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """x (B, L, C) -> (x' (B, L, C), m (B, 1, C) or None, s (B, 1, C) or None)."""
        if self.mode == "none":
            return x, None, None
        if self.mode == "last":
            m = x[:, -1:, :]
            return x - m, m, None
        m = x.mean(dim=1, keepdim=True)
        if self.mode == "mean":
            return x - m, m, None
        s = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + EPS)
        return (x - m) / s * self.gamma + self.beta, m, s

    def undo(self, y: Tensor, m: Tensor | None, s: Tensor | None, index: list[int]) -> Tensor:
        """y (B, H', T) for the channels ``index`` -> back in the window's level and scale."""
        if m is None:
            return y
        if s is not None:
            y = (y - self.beta[index]) / (self.gamma[index] + EPS) * s[..., index]
        return y + m[..., index]


class ForecastModel(nn.Module):
    """Window -> forecast: instance norm, an encoder, a head to H' * T; see the module docstring.

    Args: num_inputs C, target_index (the T target columns among the C), lookback L,
    out_steps H', encoder (a name of ``ENCODERS``), encoder_module (the built seqlab.nn encoder
    for the sequence encoders, else None), hidden (the encoder's summary width), pooling,
    dropout, instance_norm. A buffer ``target_std`` (T,) turns normalized errors into the
    targets' units (``mae_orig``); it is saved with the weights.
    """

    def __init__(self, num_inputs: int, target_index: list[int], lookback: int, out_steps: int, *,
                 encoder: str, encoder_module: nn.Module | None, hidden: int, pooling: str = "last",
                 dropout: float = 0.0, instance_norm: str = "none", cycle: int = 0, sampling_rate: int = 1,
                 horizon: int | None = None) -> None:
        super().__init__()
        self.cycle_rows, self.sampling_rate = cycle, sampling_rate
        horizon = out_steps if horizon is None else horizon
        steps = torch.arange(1, out_steps + 1) if out_steps == horizon else torch.tensor([horizon])
        # rows after a window's first row: its inputs (L,) and its forecasts (H',)
        self.register_buffer("input_rows", torch.arange(lookback) * sampling_rate, persistent=False)
        self.register_buffer("output_rows", (lookback - 1 + steps) * sampling_rate, persistent=False)
        self.cycle = nn.Parameter(torch.zeros(cycle, num_inputs)) if cycle else None  # (W, C), learned
        self.num_inputs, self.target_index = num_inputs, list(target_index)
        self.lookback, self.out_steps, self.encoder_name, self.pooling = lookback, out_steps, encoder, pooling
        self.num_targets = len(self.target_index)
        self.norm = InstanceNorm(instance_norm, num_inputs)
        self.register_buffer("target_std", torch.ones(self.num_targets))
        self.mlp = None
        if encoder in ("linear", "mlp"):
            self.encoder, self.head = None, nn.Linear(lookback, out_steps)
            if encoder == "mlp":
                self.mlp = nn.Sequential(nn.Linear(lookback, hidden), nn.ReLU(), nn.Dropout(dropout),
                                         nn.Linear(hidden, out_steps))
        else:
            self.encoder = encoder_module
            self.head = nn.Linear(hidden, out_steps * self.num_targets)
        self.dropout = nn.Dropout(dropout)

    def extra_repr(self) -> str:
        return (f"encoder={self.encoder_name!r}, lookback={self.lookback}, out_steps={self.out_steps}, "
                f"targets={self.target_index}, pooling={self.pooling!r}, cycle={self.cycle_rows}")

    def forward(self, x: Tensor, start: Tensor | None = None) -> Tensor:
        """x (B, L, C) z-normalized, start (B,) each window's first row (needed with a cycle)
        -> y_hat (B, H', T) z-normalized."""
        if self.cycle is not None:
            if start is None:
                raise ValueError("a model with a learned cycle needs each window's first row (start)")
            x = x - self.cycle[(start[:, None] + self.input_rows) % self.cycle_rows]  # (B, L, C)
        y = self._forecast(x)
        if self.cycle is not None:
            y = y + self.cycle[(start[:, None] + self.output_rows) % self.cycle_rows][..., self.target_index]
        return y

    def _forecast(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, H', T): instance norm, encoder and head, norm undone."""
        h, m, s = self.norm(x)
        if self.encoder is None:  # linear, mlp: each target channel's L steps -> its H' steps
            channels = h[..., self.target_index].transpose(1, 2)  # (B, T, L)
            y = self.head(channels) if self.mlp is None else self.head(channels) + self.mlp(channels)  # (B, T, H')
            y = y.transpose(1, 2)  # (B, H', T)
        else:
            y = self.head(self.dropout(self._summary(h))).view(-1, self.out_steps, self.num_targets)
        return self.norm.undo(y, m, s, self.target_index)

    def _summary(self, h: Tensor) -> Tensor:
        """(B, L, C) -> (B, hidden): final states, or the outputs pooled over time."""
        if self.encoder_name in RECURRENT:
            _, state = self.encoder(h)
            directions = 2 if self.encoder.bidirectional else 1
            return top_final_state(state, directions)
        lengths = torch.full((h.shape[0],), h.shape[1], dtype=torch.long)
        outputs, lengths, final = self.encoder(h, lengths)  # (B, T', D); all rows full length
        if final is not None:
            return final
        if self.pooling == "mean":
            return outputs.mean(dim=1)
        if self.pooling == "max":
            return outputs.max(dim=1).values
        return outputs[:, -1]

    def loss(self, batch: ForecastBatch) -> Tensor:
        return torch.mean((self(batch.x, batch.start) - batch.y) ** 2)

    @torch.no_grad()
    def metrics(self, batch: ForecastBatch) -> dict[str, tuple[float, int]]:
        error = self(batch.x, batch.start) - batch.y  # (B, H', T)
        count = error.numel()
        mse = float((error ** 2).sum())
        return {"loss": (mse, count), "mse": (mse, count), "mae": (float(error.abs().sum()), count),
                "mae_orig": (float((error.abs() * self.target_std).sum()), count)}

    @torch.no_grad()
    def predict(self, batch: ForecastBatch) -> Tensor:
        return self(batch.x, batch.start)

    @torch.no_grad()
    def predict_windows(self, x: Tensor, device: torch.device | None = None, start: Tensor | None = None,
                        batch_size: int = 256) -> Tensor:
        """x (n, L, C) z-normalized, start (n,) first rows or None -> y_hat (n, H', T) on the CPU, in eval mode."""
        self.eval()
        device = device or self.target_std.device
        pieces = []
        for lo in range(0, len(x), batch_size):
            first = None if start is None else start[lo:lo + batch_size].to(device)
            pieces.append(self(x[lo:lo + batch_size].to(device), first).cpu())
        return torch.cat(pieces)


def build_model(cfg: Config, data: ForecastData) -> ForecastModel:
    """The ForecastModel ``model.encoder`` names, for ``data``'s columns (a ForecastData, or
    anything with ``columns``, ``lookback`` and ``out_steps``, as a bundle rebuilds it)."""
    m, f = cfg.model, cfg.forecast
    _check_model_settings(cfg)
    columns = data.columns
    encoder, hidden = build_encoder(cfg, columns.num_inputs)
    model = ForecastModel(columns.num_inputs, columns.target_index, f.lookback,
                       f.horizon if f.output == "sequence" else 1, encoder=m.encoder, encoder_module=encoder,
                       hidden=hidden, pooling=m.pooling, dropout=m.dropout, instance_norm=f.instance_norm,
                       cycle=f.cycle, sampling_rate=f.sampling_rate, horizon=f.horizon)
    model.target_std.copy_(torch.tensor([columns.std[i] for i in columns.target_index]))
    return model


def build_encoder(cfg: Config, num_inputs: int) -> tuple[nn.Module | None, int]:
    """The seqlab.nn encoder reading C columns per step, and the width of its summary."""
    m = cfg.model
    if m.encoder in ("linear", "mlp"):
        return None, m.hidden_size
    directions = 2 if m.bidirectional else 1
    if m.encoder in RECURRENT:
        rnn = RECURRENT[m.encoder](num_inputs, m.hidden_size, num_layers=m.num_layers, batch_first=True,
                                   bidirectional=m.bidirectional, dropout=m.dropout if m.num_layers > 1 else 0.0,
                                   recurrent_dropout=m.recurrent_dropout)
        return rnn, m.hidden_size * directions
    if m.encoder == "transformer":
        return TransformerEncoder(num_inputs, m.hidden_size, m.num_layers, m.num_heads, ff_size=m.ff_size,
                                  dropout=m.dropout, norm_first=m.norm_first, positional=m.positional,
                                  max_positions=m.max_positions), m.hidden_size
    recurrent = m.encoder.removeprefix("conv+")
    conv = ConvEncoder(num_inputs, m.conv_channels, m.conv_kernel_size, m.conv_layers, dilation=m.conv_dilation,
                       padding=m.conv_padding, pool_size=m.conv_pool, pool_last=recurrent in RECURRENT,
                       dropout=m.dropout)
    if recurrent not in RECURRENT:
        return conv, m.conv_channels
    rnn = RECURRENT[recurrent](m.conv_channels, m.hidden_size, num_layers=m.num_layers, batch_first=True,
                               bidirectional=m.bidirectional, dropout=m.dropout if m.num_layers > 1 else 0.0,
                               recurrent_dropout=m.recurrent_dropout)
    return ConvRNNEncoder(conv, rnn), m.hidden_size * directions


def _check_model_settings(cfg: Config) -> None:
    """Model keys that make no sense for forecasting with this encoder are ConfigErrors."""
    m = cfg.model
    if m.encoder not in ENCODERS:
        raise ConfigError(f"model.encoder: task 'forecast' takes {', '.join(ENCODERS)}; got {m.encoder!r}")
    if m.pooling == "attention":
        raise ConfigError("model.pooling: task 'forecast' pools with last, mean or max; got 'attention'")
    if m.encoder not in RECURRENT and not m.encoder.startswith("conv+"):
        for key, default in (("bidirectional", "false"), ("recurrent_dropout", "0")):
            if getattr(m, key):
                raise ConfigError(f"model.{key}: only recurrent encoders use it, and model.encoder is "
                                  f"{m.encoder!r}; expected {default}, got {getattr(m, key)!r}")
    if m.encoder == "transformer" and m.positional == "learned" and cfg.forecast.lookback > m.max_positions:
        raise ConfigError(f"model.max_positions: learned positions for forecast.lookback {cfg.forecast.lookback} "
                          f"steps; expected >= {cfg.forecast.lookback}, got {m.max_positions}")
