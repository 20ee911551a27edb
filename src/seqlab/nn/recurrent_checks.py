"""What seqlab.nn's RNN, LSTM and GRU decide before they run: which backend takes a call,
and whether the input, lengths and initial state are what the layer expects.

Mixed into the layers (:mod:`seqlab.nn.recurrent`), so the methods read the layer's own
settings (``mode``, ``backend``, ``recurrent_dropout``, ``layer_norm``, sizes). Kept apart
so the layer module is the math and the loop, and the rules of dispatch read in one place.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqlab.kernels import triton_common

PACKED_SLOW_STEPS = 40  # auto on the CPU, training: uneven batches longer than this leave torch's packed layer


class BackendChoice:
    """Which backend runs a call (see the backend list in :mod:`seqlab.nn.recurrent`)."""

    def _static_reference_features(self) -> list[str]:
        """Features torch's fused layer lacks, whatever the mode (train or eval)."""
        needs = ["layer_norm"] if self.layer_norm else []
        if self.recurrent_dropout:
            needs.append("recurrent_dropout")
        return needs

    def _fused_lacks(self, x: Tensor | None = None) -> list[str]:
        """Features our fused CPU loop lacks (for this input, if given)."""
        lacks = []
        if self.mode not in ("LSTM", "GRU"):
            lacks.append("the Elman RNN")
        if self.layer_norm:
            lacks.append("layer_norm")
        if getattr(self, "proj_size", 0):
            lacks.append("proj_size")
        if x is not None and x.device.type != "cpu":
            lacks.append(f"inputs on {x.device.type}")
        return lacks

    def _use_fused(self, x: Tensor) -> bool:
        """After native was ruled out: our fused loop, or the reference loop?"""
        if self.backend == "fused":
            lacks = self._fused_lacks(x)
            if lacks:
                raise ValueError(f"{type(self).__name__}: backend='fused' cannot run {', '.join(lacks)}")
            return True
        return self.backend == "auto" and not self._fused_lacks(x)

    def _triton_lacks(self, x: Tensor | None = None) -> list[str]:
        """Features and environment our Triton kernels lack (for this input, if given)."""
        lacks = []
        if self.mode not in ("LSTM", "GRU"):
            lacks.append("the Elman RNN")
        if getattr(self, "proj_size", 0):
            lacks.append("proj_size")
        if not getattr(self, "reset_after", True):
            lacks.append("reset_after=False")
        if x is not None:
            lacks += triton_common.device_lacks(x)
        elif not triton_common.available():
            lacks.append(triton_common.NOT_INSTALLED)
        return lacks

    def _triton_error(self, lacks: list[str]) -> str:
        return (
            f"{type(self).__name__}: backend='triton' (seqlab's Triton GPU kernels) cannot run "
            f"{', '.join(lacks)}; use backend='reference' or 'auto'"
        )

    def _use_triton(self, x: Tensor) -> bool:
        """Our Triton kernels, only when asked for by name.

        ``auto`` does not take them: they pass their tests under Triton's interpreter and
        compile for sm_90, but have not yet run or been timed on a GPU, and ``auto`` must
        never fail (or slow down) where ``reference`` works.
        """
        if self.backend != "triton":
            return False
        lacks = self._triton_lacks(x)
        if lacks:
            raise ValueError(self._triton_error(lacks))
        return True

    def _use_native(self, degenerate: bool) -> bool:
        if self.backend in ("reference", "fused", "triton"):
            return False
        needs = self._static_reference_features()
        if self.backend == "native":
            return not degenerate  # features were checked at construction
        # auto: recurrent dropout is off in eval mode, so the fused layer runs it exactly.
        if needs == ["recurrent_dropout"] and not self.training:
            needs = []
        return not needs and not degenerate

    def _packed_is_slow(self, x: Tensor, lengths: Tensor | None) -> bool:
        """auto: leave torch's layer for our fused loop on a CPU batch of uneven lengths?

        torch's CPU layer runs a packed sequence as a loop over steps whose backward fills a
        whole-sequence gradient at every step, so its time grows with T^2 (measured: a
        2-layer BiLSTM, B=64, H=128, T=300, one thread — 29.2 s a training step packed,
        1.7 s in the fused loop); the fused loop masks the padded steps in linear time.
        With no gradient to take (``torch.no_grad``: evaluation, prediction) there is no
        backward, and torch's packed forward is the faster one (benchmarks/cpu_inference.py),
        so it stays. Short batches stay packed too: up to ``PACKED_SLOW_STEPS`` steps the
        quadratic term is small and torch's layer wins (benchmarks/packed_lengths.py, a 2-layer
        BiLSTM training step, B=64, H=64, one thread: T=15 32 ms packed against 46 fused, T=30
        55 against 58, T=45 88 against 85, T=60 143 against 111). x: (T, B, I).
        """
        return (self.backend == "auto" and lengths is not None and x.device.type == "cpu"
                and torch.is_grad_enabled() and x.shape[0] > PACKED_SLOW_STEPS
                and int(lengths.min()) < x.shape[0] and not self._fused_lacks(x))


class BoundaryChecks:
    """Clear errors at the layer's boundary, naming the layer and what was expected."""

    def _check_input(self, input) -> bool:
        """Validate the input tensor; return True if it is unbatched."""
        name = type(self).__name__
        if not torch.is_tensor(input):
            raise TypeError(f"{name}: input must be a tensor or PackedSequence, got {type(input).__name__}")
        if not input.is_floating_point():
            raise TypeError(f"{name}: input must be floating point (embed token ids first), got dtype {input.dtype}")
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{name}: expected a 3-D input {layout} or an unbatched 2-D input (T, input_size), "
                f"got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input has {input.shape[-1]} features in its last dimension, but input_size={self.input_size} "
                f"(shape {tuple(input.shape)})"
            )
        return input.dim() == 2

    def _check_lengths(self, lengths, x: Tensor) -> Tensor | None:
        if lengths is None:
            return None
        name = type(self).__name__
        if isinstance(lengths, (list, tuple)):
            lengths = torch.tensor(lengths)
        if (
            not torch.is_tensor(lengths)
            or lengths.is_floating_point()
            or lengths.is_complex()
            or lengths.dtype == torch.bool
        ):
            raise TypeError(f"{name}: lengths must be a 1-D integer tensor or a list of ints, got {lengths!r:.80}")
        if lengths.device.type != "cpu" and lengths.device != x.device:
            raise ValueError(
                f"{name}: lengths are on {lengths.device}, but must be on the CPU or the input's device ({x.device})"
            )
        steps, batch = x.shape[0], x.shape[1]
        if lengths.dim() != 1 or lengths.shape[0] != batch:
            raise ValueError(
                f"{name}: lengths must have one entry per sequence ({batch}), got shape {tuple(lengths.shape)}"
            )
        if batch and int(lengths.min()) < 0:
            raise ValueError(f"{name}: lengths must be >= 0, got {lengths.tolist()}")
        if batch and int(lengths.max()) > steps:
            raise ValueError(f"{name}: a length of {int(lengths.max())} is longer than the sequence ({steps} steps)")
        return lengths.long()

    def _check_state(self, hx, x: Tensor, unbatched: bool):
        if hx is None:
            return None
        name = type(self).__name__
        rows = self.num_layers * len(self._suffixes())
        widths = [self._hidden_out(), self.hidden_size] if self.mode == "LSTM" else [self._hidden_out()]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: the initial state must be a tuple (h_0, c_0), got {type(hx).__name__}")
            states = list(hx)
        else:
            states = [hx]
        checked = []
        for state, width, what in zip(states, widths, ("h_0", "c_0")):
            expected = (rows, width) if unbatched else (rows, x.shape[1], width)
            if not torch.is_tensor(state):
                raise TypeError(f"{name}: {what} must be a tensor, got {type(state).__name__}")
            if tuple(state.shape) != expected:
                raise ValueError(
                    f"{name}: {what} must have shape {expected} (num_layers * num_directions, batch, {width}), "
                    f"got {tuple(state.shape)}"
                )
            if state.dtype != x.dtype or state.device != x.device:
                raise TypeError(
                    f"{name}: {what} is {state.dtype} on {state.device}, but the input is {x.dtype} on {x.device}"
                )
            checked.append(state.unsqueeze(1) if unbatched else state)
        return tuple(checked) if self.mode == "LSTM" else checked[0]
