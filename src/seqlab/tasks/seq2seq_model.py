"""What both seq2seq models share: the loss, search, metrics and predict of
:class:`Seq2SeqModel`, and the settings of decoding (:class:`Search`) and teacher forcing.

The RNN encoder–decoder (:mod:`seqlab.tasks.seq2seq`) and the Transformer
(:mod:`seqlab.tasks.seq2seq_transformer`) subclass :class:`Seq2SeqModel` and supply its
one-step function; see :mod:`seqlab.tasks.seq2seq` for the metrics and the training options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab import decode
from seqlab import metrics as scores
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seqlab.tasks.seq2seq_data import Seq2SeqBatch

# Corpus metrics kept as sufficient statistics: (metric, sacreBLEU lowercase) -> "name:i" keys.
TEXT_METRICS = (("bleu", False), ("bleu_lc", True), ("chrf", False))


@dataclass(frozen=True)
class Search:
    """How evaluation decodes: beam width (1: greedy), GNMT length penalty alpha, and at
    most ``max_len_a * S + max_len_b`` tokens for a source of S tokens (as in fairseq)."""

    beam_size: int = 1
    length_penalty: float = 0.0
    max_len_a: float = 2.0
    max_len_b: int = 10

    def max_len(self, src_lengths: Tensor) -> Tensor:
        """src_lengths (B,) -> the per-example limits (B,) int64."""
        return (self.max_len_a * src_lengths.double() + self.max_len_b).long()


@dataclass(frozen=True)
class TeacherForcing:
    """Chance of feeding the reference token: ``ratio`` throughout, or with
    ``decay_steps`` set a linear decay from 1 at the first update to ``ratio`` at update
    ``decay_steps`` (and ``ratio`` after)."""

    ratio: float = 1.0
    decay_steps: int | None = None

    def at(self, update: int) -> float:
        if self.decay_steps is None:
            return self.ratio
        return self.ratio + (1.0 - self.ratio) * max(0.0, 1.0 - update / self.decay_steps)


class Seq2SeqModel(nn.Module):
    """What every seq2seq architecture shares: the loss, search, metrics and predict that
    the training loop, ``seqlab eval``, bundles and ``seqlab translate`` call.

    A subclass (:class:`Seq2Seq`, the RNN; :class:`~seqlab.tasks.seq2seq_transformer.TransformerSeq2Seq`)
    gives ``encode(src, src_lengths)``, ``initial_state(encoded)`` (the decoder state before
    the first step), ``step(tokens, state)`` (the :mod:`seqlab.decode` contract) and
    ``forward(src, src_lengths, tgt_in, teacher_forcing=1.0) -> (logits (B, T, V), alphas
    (B, T, S))``, and sets ``label_smoothing``, ``teacher_forcing`` (:class:`TeacherForcing`),
    ``search_settings`` (:class:`Search`) and ``target_text``.
    """

    # -- what the training loop calls ----------------------------------------------------

    def loss(self, batch: Seq2SeqBatch) -> Tensor:
        """Mean (label-smoothed) cross-entropy over the real target positions (``y <eos>``;
        PAD ignored). In training mode a decaying teacher-forcing schedule counts one update."""
        ratio = 1.0
        if self.training:
            decaying = self.teacher_forcing.decay_steps is not None
            ratio = self.teacher_forcing.at(int(self.updates) if decaying else 0)
            if decaying:
                self.updates += 1
        logits, _ = self(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=ratio)  # (B, T, V)
        smoothing = self.label_smoothing if self.training else 0.0
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID,
                               label_smoothing=smoothing)

    def search(self, src: Tensor, src_lengths: Tensor, *, beam_size: int = 1, max_len: int | Tensor,
               length_penalty: float = 0.0) -> decode.Decoded:
        """Decode the sources: greedy for ``beam_size`` 1, else :func:`seqlab.decode.beam_search`.

        src (B, S); src_lengths (B,); max_len an int or (B,) per-example limits. Returns a
        :class:`~seqlab.decode.Decoded` whose tokens (B, T) end in eos (if produced), PAD after.
        """
        state = self.initial_state(self.encode(src, src_lengths))
        if beam_size == 1:
            return decode.greedy(self.step, state, src.shape[0], SOS_ID, EOS_ID, max_len, pad_id=PAD_ID)
        return decode.beam_search(self.step, state, src.shape[0], SOS_ID, EOS_ID, max_len, beam_size,
                                  length_penalty=length_penalty, pad_id=PAD_ID)

    def decode_batch(self, batch: Seq2SeqBatch) -> decode.Decoded:
        """:meth:`search` with this model's ``Search`` settings."""
        s = self.search_settings
        return self.search(batch.src, batch.src_lengths, beam_size=s.beam_size,
                           max_len=s.max_len(batch.src_lengths), length_penalty=s.length_penalty)

    @torch.no_grad()
    def metrics(self, batch: Seq2SeqBatch) -> dict[str, tuple[float, int]]:
        """Each metric as (sum, count) over the batch, so batches add up exactly.

        loss and token_accuracy: teacher forced, over real target positions (eos included);
        exact_match: whole sequences whose decoding, up to and including eos, is the
        reference (a decoding that never ends is wrong); with ``target_text``, the
        sufficient statistics of BLEU, lowercased BLEU and chrF as ``"bleu:i"`` etc.
        """
        mask = batch.tgt_out != PAD_ID  # (B, T)
        logits, _ = self(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
        loss_sum = F.cross_entropy(logits[mask].float(), batch.tgt_out[mask], reduction="sum")
        right = (logits.argmax(dim=-1) == batch.tgt_out) & mask
        tokens = int(mask.sum())
        decoded = self.decode_batch(batch)
        exact = exact_matches(decoded.tokens, batch.tgt_out)
        out = {
            "loss": (float(loss_sum), tokens),
            "token_accuracy": (float(right.sum()), tokens),
            "exact_match": (float(exact.sum()), len(exact)),
        }
        if self.target_text is not None:
            hypotheses = [self.target_text(ids) for ids in without_eos(decoded)]
            for name, lowercase in TEXT_METRICS:
                stats = (scores.chrf_statistics(hypotheses, batch.refs) if name == "chrf"
                         else scores.bleu_statistics(hypotheses, batch.refs, lowercase=lowercase))
                out.update({f"{name}:{i}": (float(value), len(exact)) for i, value in enumerate(stats)})
        return out

    def finalize_metrics(self, totals: Mapping[str, tuple[float, int]]) -> dict[str, float]:
        """Whole-split totals of :meth:`metrics` -> the means, perplexity (exp of the mean
        loss) and, where their statistics are present, corpus BLEU, BLEU_lc and chrF."""
        out = {name: value / count if count else float("nan")
               for name, (value, count) in totals.items() if ":" not in name}
        out["perplexity"] = scores.perplexity(out["loss"])
        for name, _ in TEXT_METRICS:
            stats = [totals[f"{name}:{i}"][0] for i in range(sum(key.startswith(f"{name}:") for key in totals))]
            if stats:
                out[name] = scores.chrf_from_statistics(stats) if name == "chrf" else scores.bleu_from_statistics(stats)
        return out

    @torch.no_grad()
    def predict(self, batch: Seq2SeqBatch) -> list[list[int]]:
        """The decoding of each source (this model's ``Search`` settings): target ids, without eos."""
        return without_eos(self.decode_batch(batch))


def without_eos(decoded: decode.Decoded) -> list[list[int]]:
    """Each decoded row's ids up to its length, the final eos (if any) dropped."""
    return [
        row[: length - int(length > 0 and row[length - 1] == EOS_ID)].tolist()
        for row, length in zip(decoded.tokens.cpu(), decoded.lengths.tolist())
    ]


def exact_matches(decoded: Tensor, reference: Tensor) -> Tensor:
    """decoded (B, T1), reference (B, T2): ids ending in eos (if any), PAD after. Returns
    (B,) bool, True where the two agree up to eos; a decoding without eos never does."""
    width = max(decoded.shape[1], reference.shape[1])
    decoded = F.pad(decoded, (0, width - decoded.shape[1]), value=PAD_ID)  # (B, W)
    reference = F.pad(reference, (0, width - reference.shape[1]), value=PAD_ID)  # (B, W)
    return (decoded == reference).all(dim=1)
