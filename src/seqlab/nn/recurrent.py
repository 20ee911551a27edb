"""Sequence layers RNN, LSTM and GRU: stacked, bidirectional, variable lengths, dropout.

The layers are drop-ins for ``torch.nn.RNN / LSTM / GRU``: they subclass them, so the
constructor arguments, parameter names, shapes, gate order and initialization are
torch's, ``load_state_dict`` works both ways, and ``isinstance(layer, torch.nn.LSTM)``
holds. What they add:

- ``lengths=``: outputs at padded positions are zero, final states are taken at each
  sequence's own last step, and the backward direction starts at each sequence's end.
  A sequence of length 0 gives zero outputs and returns its initial state.
- ``recurrent_dropout``: variational dropout (Gal & Ghahramani 2016) on the state that
  enters the recurrent product, one mask per sequence reused at every step.
- ``layer_norm``: layer normalization of each gate's pre-activation (Ba et al. 2016),
  with its own gain ``ln_weight_l{k}`` and bias ``ln_bias_l{k}``.
- ``reset_after`` (GRU): ``False`` gives the original Cho et al. 2014 candidate.
- ``step(x_t, state, masks)``: one time step through every layer, for decoders and
  generators that feed each output back (torch's fused cell ops where they apply), with
  ``recurrent_masks()`` drawn once per sequence so stepping drops what ``forward`` would.
- ``backend``: ``"reference"`` runs the per-step loop over the cell equations in
  :mod:`seqlab.nn.cells` (the ground truth; the input projection of all steps is one
  matrix product); ``"native"`` runs torch's fused layer (cuDNN on GPU, oneDNN on CPU);
  ``"fused"`` runs our CPU loop with a hand-written backward (:mod:`seqlab.kernels.cpu`;
  LSTM and GRU, no layer norm or projection); ``"triton"`` runs our GPU kernels
  (:mod:`seqlab.kernels.triton_lstm`, :mod:`seqlab.kernels.triton_gru`; LSTM and GRU with
  recurrent dropout, layer norm and ``lengths=``; no projection, no
  ``reset_after=False``; opt-in: ``auto`` does not take it until the kernels have been
  checked and timed on a GPU, see README); ``"auto"`` picks native whenever the requested
  features allow it (but for a CPU batch of uneven ``lengths``, which torch runs packed,
  in time growing with T^2), else fused where it runs, else reference.
  All backends give the same numbers to float tolerance (the tests hold them to it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.kernels.cpu import gru_sequence, lstm_sequence
from seqlab.kernels.onednn import project
from seqlab.nn.cells import gru_step, lstm_step, rnn_step
from seqlab.nn.recurrent_checks import BackendChoice, BoundaryChecks

BACKENDS = ("auto", "reference", "native", "fused", "triton")
NATIVE_STEP_BATCH = 256  # step(): from this batch on, without gradients on the CPU, torch's layer is faster
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence within its own length; padded steps stay in place.

    x: (T, B, F); lengths: (B,) on x's device or None (then the whole time axis flips).
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
    ends = lengths.unsqueeze(0)  # (1, B)
    index = torch.where(steps < ends, ends - 1 - steps, steps)  # (T, B)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


class _Recurrent(BackendChoice, BoundaryChecks):
    """What RNN, LSTM and GRU share; mixed in before the torch.nn class it extends."""

    mode: str

    def _init_extras(self, recurrent_dropout: float, layer_norm: bool, backend: str) -> None:
        name = type(self).__name__
        if not 0.0 <= float(recurrent_dropout) < 1.0:
            raise ValueError(f"{name}: recurrent_dropout must be in [0, 1), got {recurrent_dropout!r}")
        if backend not in BACKENDS:
            raise ValueError(f"{name}: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.recurrent_dropout = float(recurrent_dropout)
        self.layer_norm = bool(layer_norm)
        self.backend = backend
        if layer_norm:
            width = _GATES[self.mode] * self.hidden_size
            for layer in range(self.num_layers):
                for suffix in self._suffixes():
                    weight = self.weight_ih_l0
                    self.register_parameter(
                        f"ln_weight_l{layer}{suffix}",
                        nn.Parameter(torch.ones(width, dtype=weight.dtype, device=weight.device)),
                    )
                    self.register_parameter(
                        f"ln_bias_l{layer}{suffix}",
                        nn.Parameter(torch.zeros(width, dtype=weight.dtype, device=weight.device)),
                    )
        if backend == "native" and self._static_reference_features():
            raise ValueError(
                f"{name}: backend='native' (torch's fused layer) cannot run "
                f"{', '.join(self._static_reference_features())}; use backend='reference' or 'auto'"
            )
        if backend == "fused" and self._fused_lacks():
            raise ValueError(
                f"{name}: backend='fused' (seqlab's CPU loop) cannot run "
                f"{', '.join(self._fused_lacks())}; use backend='reference' or 'auto'"
            )
        if backend == "triton" and self._triton_lacks():
            raise ValueError(self._triton_error(self._triton_lacks()))

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        super().reset_parameters()  # torch's uniform(-1/sqrt(H), 1/sqrt(H)) for every weight
        for name, param in self.named_parameters():
            if name.startswith("ln_"):
                with torch.no_grad():
                    param.fill_(1.0 if name.startswith("ln_weight") else 0.0)

    def extra_repr(self) -> str:
        extra = [super().extra_repr()]
        if self.recurrent_dropout:
            extra.append(f"recurrent_dropout={self.recurrent_dropout}")
        if self.layer_norm:
            extra.append("layer_norm=True")
        if self.backend != "auto":
            extra.append(f"backend={self.backend!r}")
        return ", ".join(extra)

    # -- the call --------------------------------------------------------------------

    def forward(self, input, hx=None, *, lengths=None):
        """Run the layer over a sequence.

        Args:
            input: (T, B, input_size), or (B, T, input_size) with ``batch_first``, or
                unbatched (T, input_size); or a PackedSequence as for torch.nn.
            hx: initial state, (num_layers * num_directions, B, H_out) — for LSTM a tuple
                (h_0, c_0) with c_0 of width hidden_size; zeros if None.
            lengths: optional (B,) integer lengths (tensor on CPU or the input's device, or
                a list); positions at or past a sequence's length are padding.

        Returns:
            output: (T, B, num_directions * H_out) (batch-first if ``batch_first``),
                zero at padded positions; and the final state in ``hx``'s form, taken at
                each sequence's own last step.
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    f"{type(self).__name__}: a PackedSequence carries its lengths; do not pass lengths= too"
                )
            return self._forward_packed(input, hx)
        unbatched = self._check_input(input)
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        # x: (T, B, I) from here on
        lengths = self._check_lengths(lengths, x)
        hx = self._check_state(hx, x, unbatched)
        degenerate = x.shape[0] == 0 or (lengths is not None and int(lengths.min()) == 0)
        if self._use_native(degenerate) and not self._packed_is_slow(x, lengths):
            output, state = self._native(x, hx, lengths)
        else:
            triton = self._use_triton(x)
            output, state = self._reference(x, hx, lengths, fused=not triton and self._use_fused(x), triton=triton)
        if unbatched:
            output = output.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) else state.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, state

    def _forward_packed(self, packed: PackedSequence, hx):
        if self._use_native(degenerate=False):
            return super().forward(packed, hx)
        padded, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        output, state = self.forward(padded, hx, lengths=lengths)
        return pack_padded_sequence(output, lengths, batch_first=self.batch_first, enforce_sorted=False), state

    def _native(self, x: Tensor, hx, lengths: Tensor | None):
        """torch's fused layer; x (T, B, I). Lengths go through a packed sequence."""
        if self.batch_first:  # torch's forward expects the user's layout
            x = x.transpose(0, 1)
        if lengths is None or int(lengths.min()) == (x.shape[1] if self.batch_first else x.shape[0]):
            output, state = super().forward(x, hx)  # no padding: packing would only slow it down
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
            output, state = super().forward(packed, hx)
            output, _ = pad_packed_sequence(
                output, batch_first=self.batch_first, total_length=x.shape[1 if self.batch_first else 0]
            )
        return (output.transpose(0, 1) if self.batch_first else output), state

    # -- one step at a time ----------------------------------------------------------

    def recurrent_masks(self, batch: int, like: Tensor) -> tuple[Tensor, ...] | None:
        """Variational dropout masks for a sequence that :meth:`step` runs one call per step:
        one (B, H_out) mask per layer, drawn once, to be passed to every step of that
        sequence (so the same units are dropped throughout, as ``forward`` does). None when
        nothing is dropped (eval mode, or recurrent_dropout 0). ``like``: dtype and device."""
        if not (self.recurrent_dropout and self.training):
            return None
        h = like.new_empty(batch, self._hidden_out())
        return tuple(self._recurrent_mask(h) for _ in range(self.num_layers))

    def step(self, x: Tensor, hx=None, masks: tuple[Tensor, ...] | None = None):
        """One time step through every layer, for a decoder or a generator that feeds each
        output back in: what ``forward`` does on a one-step sequence, without the sequence
        machinery. x (B, input_size); hx as for ``forward`` ((L, B, H_out), for LSTM with c
        (L, B, H)), or None for zeros; masks: :meth:`recurrent_masks` of the sequence.
        Returns (output (B, H_out), state in hx's form). Unidirectional layers only.

        torch's fused cell ops (``torch.lstm_cell`` and the like) run the step unless the
        layer asks for the reference backend or for features they lack (layer norm,
        recurrent dropout masks, projection, the GRU's reset_after=False); then the cell
        equations of :mod:`seqlab.nn.cells` do. On the CPU (one thread, torch 2.13,
        ``benchmarks/decoder_step.py``) 20 steps of a 2-layer LSTM, B=64, I=768, H=512, train
        in 542 ms this way against 851 ms as one-step calls of torch.nn.LSTM, most of the
        difference torch's layer backward; at batch 1 (3 layers, 50 steps, no gradients) it
        is 120 against 865 ms. Without gradients and from batch
        ``NATIVE_STEP_BATCH`` on, torch's oneDNN layer is the faster one on the CPU (20 steps at
        B=256, I=160, H=128: 20.5 against 24.9 ms, ``benchmarks/decoder_step.py --cell-ops``),
        so ``auto`` gives it the step there.
        """
        name = type(self).__name__
        if self.bidirectional:
            raise ValueError(f"{name}.step: a bidirectional layer reads the whole sequence; step needs a "
                             "unidirectional one")
        if not torch.is_tensor(x) or x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}.step: x must be (B, input_size={self.input_size}), "
                             f"got {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        hx = self._check_state(hx, x.unsqueeze(0), unbatched=False)
        if hx is None:
            h0, c0 = self._zero_state(x.unsqueeze(0))
        else:
            h0, c0 = hx if self.mode == "LSTM" else (hx, None)
        if masks is None and self.recurrent_dropout and self.training:
            raise ValueError(f"{name}.step: this layer drops recurrent units in training "
                             f"(recurrent_dropout={self.recurrent_dropout}); draw masks = recurrent_masks(B, x) "
                             "once per sequence and pass them to every step")
        if masks is not None and len(masks) != self.num_layers:
            raise ValueError(f"{name}.step: {len(masks)} recurrent dropout masks for {self.num_layers} layers; "
                             "draw them with recurrent_masks()")
        fast = (self.backend != "reference" and masks is None and not self.layer_norm
                and not getattr(self, "proj_size", 0) and getattr(self, "reset_after", True))
        if (fast and self.backend in ("auto", "native") and not torch.is_grad_enabled() and x.device.type == "cpu"
                and x.shape[0] >= NATIVE_STEP_BATCH):
            out, state = self._native(x.unsqueeze(0), hx, None)  # a one-step sequence through oneDNN
            return out[0], state
        inp, h_n, c_n = x, [], []
        for layer in range(self.num_layers):
            params = {key: getattr(self, f"{key}_l{layer}") for key in self._weight_names()}
            h, c = h0[layer], None if c0 is None else c0[layer]
            if fast:
                h, c = self._torch_cell(inp, h, c, params)
            else:
                ln = ((getattr(self, f"ln_weight_l{layer}"), getattr(self, f"ln_bias_l{layer}"))
                      if self.layer_norm else None)
                gx = F.linear(inp, params["weight_ih"], params.get("bias_ih"))
                h, c = self._cell_step(gx, h, c, params, None if masks is None else masks[layer], ln)
            h_n.append(h)
            c_n.append(c)
            inp = h
            if self.dropout and self.training and layer < self.num_layers - 1:
                inp = F.dropout(inp, self.dropout, training=True)
        state = torch.stack(h_n)
        return h, ((state, torch.stack(c_n)) if self.mode == "LSTM" else state)

    def _torch_cell(self, x: Tensor, h: Tensor, c: Tensor | None, params) -> tuple[Tensor, Tensor | None]:
        weights = (params["weight_ih"], params["weight_hh"], params.get("bias_ih"), params.get("bias_hh"))
        if self.mode == "LSTM":
            return torch.lstm_cell(x, (h, c), *weights)
        if self.mode == "GRU":
            return torch.gru_cell(x, h, *weights), None
        cell = torch.rnn_tanh_cell if self.mode == "RNN_TANH" else torch.rnn_relu_cell
        return cell(x, h, *weights), None

    # -- the reference loop ------------------------------------------------------------

    def _reference(self, x: Tensor, hx, lengths: Tensor | None, fused: bool = False, triton: bool = False):
        """Our loop over layers and directions; x (T, B, I), returns time-major output.

        Each direction runs the per-step loop over the cell equations, or with ``fused``
        the same equations in :mod:`seqlab.kernels.cpu`, or with ``triton`` our Triton
        kernels (one launch per layer and direction).
        """
        if lengths is not None:
            lengths = lengths.to(x.device)
        h0, c0 = (hx if self.mode == "LSTM" else (hx, None)) if hx is not None else self._zero_state(x)
        layer_input, h_n, c_n = x, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                k = layer * len(self._suffixes()) + direction
                c_k = None if c0 is None else c0[k]
                out, h, c = self._run_direction(layer_input, layer, suffix, h0[k], c_k, lengths, fused, triton)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=-1)  # (T, B, D * H_out)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        state = torch.stack(h_n)
        if self.mode == "LSTM":
            state = (state, torch.stack(c_n))
        return layer_input, state

    def _run_direction(
        self,
        x: Tensor,
        layer: int,
        suffix: str,
        h: Tensor,
        c: Tensor | None,
        lengths: Tensor | None,
        fused: bool = False,
        triton: bool = False,
    ):
        """One layer, one direction. x (T, B, I_layer); h (B, H_out); returns (T, B, H_out), h, c."""
        params = {name: getattr(self, f"{name}_l{layer}{suffix}") for name in self._weight_names()}
        linear = project if fused else F.linear  # project: the same product, through oneDNN in float32
        gx = linear(x, params["weight_ih"], params.get("bias_ih"))  # (T, B, G*H): all steps at once
        reverse = suffix == "_reverse"
        if reverse:
            gx = _reverse_padded(gx, lengths)
        mask = self._recurrent_mask(h)
        ln = (
            (getattr(self, f"ln_weight_l{layer}{suffix}"), getattr(self, f"ln_bias_l{layer}{suffix}"))
            if self.layer_norm
            else None
        )
        steps = gx.shape[0]
        valid = None if lengths is None else torch.arange(steps, device=x.device).unsqueeze(1) < lengths  # (T, B)
        if triton:
            out, h, c = self._triton_sequence(gx, h, c, params, mask, ln, valid)
            return (_reverse_padded(out, lengths) if reverse else out), h, c
        if fused:
            out, h, c = self._fused_sequence(gx, h, c, params, mask, valid)
            return (_reverse_padded(out, lengths) if reverse else out), h, c
        outputs = []
        for t in range(steps):
            h_new, c_new = self._cell_step(gx[t], h, c, params, mask, ln)
            if valid is None:
                h, c = h_new, c_new
            else:  # a finished sequence keeps its state
                keep = valid[t].unsqueeze(1)  # (B, 1)
                h = torch.where(keep, h_new, h)
                c = None if c is None else torch.where(keep, c_new, c)
            outputs.append(h_new)
        out = torch.stack(outputs) if outputs else x.new_zeros(0, h.shape[0], h.shape[1])
        if valid is not None:
            out = out * valid.unsqueeze(-1).to(out.dtype)  # zero at padded positions
        if reverse:
            out = _reverse_padded(out, lengths)
        return out, h, c

    def _weight_names(self) -> list[str]:
        names = ["weight_ih", "weight_hh"]
        if self.bias:
            names += ["bias_ih", "bias_hh"]
        if getattr(self, "proj_size", 0):
            names.append("weight_hr")
        return names

    def _recurrent_mask(self, h: Tensor) -> Tensor | None:
        """Variational dropout mask (B, H_out), drawn once per sequence and reused at every step."""
        p = self.recurrent_dropout
        if not (p and self.training):
            return None
        return torch.bernoulli(torch.full_like(h, 1.0 - p)) / (1.0 - p)

    def _zero_state(self, x: Tensor):
        rows = self.num_layers * len(self._suffixes())
        h0 = x.new_zeros(rows, x.shape[1], self._hidden_out())
        c0 = x.new_zeros(rows, x.shape[1], self.hidden_size) if self.mode == "LSTM" else None
        return h0, c0

    def _hidden_out(self) -> int:
        return getattr(self, "proj_size", 0) or self.hidden_size

class RNN(_Recurrent, nn.RNN):
    """Elman RNN layer, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu).

    A drop-in for ``torch.nn.RNN``; see the module docstring for the extra arguments.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        backend: str = "auto",
    ) -> None:
        nn.RNN.__init__(
            self,
            input_size,
            hidden_size,
            num_layers=num_layers,
            nonlinearity=nonlinearity,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            device=device,
            dtype=dtype,
        )
        self._init_extras(recurrent_dropout, layer_norm, backend)

    def _cell_step(self, gx, h, c, params, mask, ln):
        return rnn_step(gx, h, params["weight_hh"], params.get("bias_hh"), self.nonlinearity, mask, ln), None


class LSTM(_Recurrent, nn.LSTM):
    """LSTM layer (Hochreiter & Schmidhuber 1997); equations in :func:`seqlab.nn.cells.lstm_step`.

    A drop-in for ``torch.nn.LSTM`` (``proj_size`` included); see the module docstring for
    the extra arguments.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        backend: str = "auto",
    ) -> None:
        nn.LSTM.__init__(
            self,
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            proj_size=proj_size,
            device=device,
            dtype=dtype,
        )
        self._init_extras(recurrent_dropout, layer_norm, backend)

    def _cell_step(self, gx, h, c, params, mask, ln):
        return lstm_step(gx, h, c, params["weight_hh"], params.get("bias_hh"), params.get("weight_hr"), mask, ln)

    def _fused_sequence(self, gx, h, c, params, mask, valid):
        return lstm_sequence(gx, h, c, params["weight_hh"], params.get("bias_hh"), mask, valid)

    def _triton_sequence(self, gx, h, c, params, mask, ln, valid):
        from seqlab.kernels import triton_lstm  # imports triton: only when this backend runs

        return triton_lstm.lstm_sequence(gx, h, c, params["weight_hh"], params.get("bias_hh"), mask, ln, valid)


class GRU(_Recurrent, nn.GRU):
    """GRU layer (Cho et al. 2014); equations in :func:`seqlab.nn.cells.gru_step`.

    A drop-in for ``torch.nn.GRU``. ``reset_after=False`` gives the original candidate
    ``tanh(W_ig x + W_hg (r ⊙ h) + b)``, which torch's fused layer cannot run (the
    reference backend does). See the module docstring for the other extra arguments.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        recurrent_dropout: float = 0.0,
        layer_norm: bool = False,
        reset_after: bool = True,
        backend: str = "auto",
    ) -> None:
        nn.GRU.__init__(
            self,
            input_size,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            device=device,
            dtype=dtype,
        )
        self.reset_after = bool(reset_after)
        self._init_extras(recurrent_dropout, layer_norm, backend)

    def _static_reference_features(self) -> list[str]:
        return super()._static_reference_features() + ([] if self.reset_after else ["reset_after=False"])

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")

    def _cell_step(self, gx, h, c, params, mask, ln):
        return gru_step(gx, h, params["weight_hh"], params.get("bias_hh"), self.reset_after, mask, ln), None

    def _fused_sequence(self, gx, h, c, params, mask, valid):
        out, h = gru_sequence(gx, h, params["weight_hh"], params.get("bias_hh"), self.reset_after, mask, valid)
        return out, h, None

    def _triton_sequence(self, gx, h, c, params, mask, ln, valid):
        from seqlab.kernels import triton_gru  # imports triton: only when this backend runs

        out, h = triton_gru.gru_sequence(gx, h, params["weight_hh"], params.get("bias_hh"), mask, ln, valid)
        return out, h, None
