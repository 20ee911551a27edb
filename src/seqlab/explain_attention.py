"""attention-example: one decoder step of dot-product attention, every number printed.

The study notes' chatbot (notes/000 and 001): the encoder has read "Are you free tomorrow"
into four hidden states h_1..h_4, the decoder has read ``<sos>`` into its state s_1, and
attention decides how much of each source word the first output word looks at. Hidden size
4, so the vector fed to the output layer has 8 numbers, as in the note. Luong et al.'s
path, the one seqlab's seq2seq decoders take::

    e_i = s_1ᵀ h_i                      scores: one dot product per source word
    α   = softmax(e)                     the attention distribution (sums to 1)
    a_1 = Σ_i α_i h_i                    the attention value (context vector)
    v_1 = [a_1; s_1]                     8 numbers
    s̃_1 = tanh(W_c v_1)                 W_c (4, 8) = [½I ½I]: s̃_k = tanh((a_k + s_k) / 2)
    p   = softmax(W_y s̃_1)              over the answer's words; the first one is "Yes"

The states are made up (one or two decimals) so that the scores come out 2.5, -0.84, -0.33
and 0, whose softmax is the note's example distribution, 85%, 3%, 5%, 7%:
e.g. e_1 = 1.0·1.5 + 0.5·1.5 + (-0.5)·(-0.5) + 0.0·0.3 = 2.5, and
softmax(e)_1 = 1 / (1 + e^-3.34 + e^-2.83 + e^-2.5) = 0.850. The step runs through
:class:`seqlab.nn.attention.DotAttention` and :class:`~seqlab.nn.attention.AttentionalState`
in float64; the tests redo it with plain arithmetic.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import torch

SOURCE = ("Are", "you", "free", "tomorrow")
ANSWER_WORDS = ("Yes", "what's", "up", "?", "<eos>")  # the output layer's vocabulary here
ENCODER_STATES = (  # h_1..h_4, one row per source word
    (1.5, 1.5, -0.5, 0.3),
    (-0.5, -0.4, 0.28, 0.9),
    (0.2, -0.6, 0.46, -0.7),
    (0.3, -0.2, 0.4, 0.6),
)
DECODER_STATE = (1.0, 0.5, -0.5, 0.0)  # s_1, after reading <sos>
OUTPUT_WEIGHTS = (  # W_y: one row per answer word
    (1.0, 1.0, -0.5, 0.0),
    (0.0, 0.5, 0.5, 1.0),
    (-0.5, 0.0, 1.0, 0.5),
    (0.0, -1.0, 0.0, 0.5),
    (-1.0, 0.0, 0.0, 0.0),
)


@dataclass(frozen=True)
class AttentionStep:
    """Every number of the step (float64): keys (4, 4), query (4,), scores and alphas (4,),
    context (4,), v (8,), attentional (4,), logits and probs (5,), and the chosen word."""

    keys: torch.Tensor
    query: torch.Tensor
    scores: torch.Tensor
    alphas: torch.Tensor
    context: torch.Tensor
    v: torch.Tensor
    attentional: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor
    word: str


def attention_example_step() -> AttentionStep:
    """The step above, through seqlab's attention modules."""
    from seqlab.nn.attention import AttentionalState, DotAttention

    f64 = torch.float64
    keys, query = torch.tensor(ENCODER_STATES, dtype=f64), torch.tensor(DECODER_STATE, dtype=f64)
    context, alphas = DotAttention()(query[None], keys[None])  # unbatched query: (1, 4) and (1, 4)
    scores = (keys @ query)  # what DotAttention scored, shown as such
    combine = AttentionalState(4, 4, 4, bias=False).to(f64)
    with torch.no_grad():
        half = 0.5 * torch.eye(4, dtype=f64)
        combine.W_c.weight.copy_(torch.cat([half, half], dim=1))  # [½I ½I]
        attentional = combine(context, query[None])[0]
    logits = torch.tensor(OUTPUT_WEIGHTS, dtype=f64) @ attentional
    probs = torch.softmax(logits, dim=0)
    return AttentionStep(keys, query, scores, alphas[0].detach(), context[0].detach(),
                         torch.cat([context[0], query]).detach(), attentional.detach(), logits, probs,
                         ANSWER_WORDS[int(probs.argmax())])


def _number(x: float | torch.Tensor, digits: int = 4) -> str:
    return f"{round(float(x), 12) + 0.0:.{digits}f}"  # + 0.0: no "-0.0000" for a rounding error below zero


def _factor(x: float | torch.Tensor) -> str:
    return f"({float(x):g})" if float(x) < 0 else f"{float(x):g}"


def _vector(values: torch.Tensor, digits: int = 4) -> str:
    return "(" + ", ".join(_number(x, digits) for x in values) + ")"


def format_attention_step(step: AttentionStep) -> str:
    """The step as plain text: one block per equation, 4 decimals."""
    s = step.query
    lines = ["attention-example: the first decoder step of the chatbot, dot-product attention",
             f"source: {' '.join(SOURCE)}   decoder input: <sos>   hidden size 4", "",
             "encoder states h_i (rows) and the decoder state s_1:"]
    for i, (word, h) in enumerate(zip(SOURCE, step.keys), start=1):
        lines.append(f"  h_{i}  {word:<9} = {_vector(h, 2)}")
    lines.append(f"  s_1  {'<sos>':<9} = {_vector(s, 2)}")
    lines += ["", "1. scores e_i = s_1ᵀ h_i"]
    for word, h, e in zip(SOURCE, step.keys, step.scores):
        terms = " + ".join(f"{_factor(a)}·{_factor(b)}" for a, b in zip(s, h))
        lines.append(f"  {word:<8} {_number(e):>8}  = {terms}")
    lines += ["", "2. attention distribution α = softmax(e)"]
    for word, alpha in zip(SOURCE, step.alphas):
        lines.append(f"  {word:<8} {_number(alpha):>8}  ({100 * float(alpha):4.1f}%)")
    lines.append(f"  sum      {_number(step.alphas.sum()):>8}")
    lines += ["", "3. attention value a_1 = Σ α_i h_i", f"  a_1 = {_vector(step.context)}",
              "", "4. v_1 = [a_1; s_1] (8 numbers)", f"  v_1 = {_vector(step.v)}",
              "", "5. s̃_1 = tanh(W_c v_1), W_c = [½I ½I]: s̃_k = tanh((a_k + s_k) / 2)",
              f"  s̃_1 = {_vector(step.attentional)}",
              "", "6. output p = softmax(W_y s̃_1)"]
    for word, row, logit, p in zip(ANSWER_WORDS, OUTPUT_WEIGHTS, step.logits, step.probs):
        mark = "  <- argmax" if word == step.word else ""
        lines.append(f"  {word:<7} W_y row {_vector(torch.tensor(row), 1):<24} score {_number(logit):>7}  "
                     f"p {_number(p)}{mark}")
    lines += ["", f"the decoder writes {step.word!r} first; its state then queries h_1..h_4 again for the next word"]
    return "\n".join(lines)


def explain_attention_example(out: TextIO | None = None) -> int:
    """Print the attention-example step (the example has no options)."""
    print(format_attention_step(attention_example_step()), file=sys.stdout if out is None else out)
    return 0
