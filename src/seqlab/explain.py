"""Step-by-step traces of small models, printed as tables.

``EXAMPLES`` is the one table from an example's name to the function that prints it
(``seqlab explain NAME``): rnn-example (below), attention-example
(:mod:`seqlab.explain_attention`: one decoder step of dot-product attention),
lstm-example (:mod:`seqlab.explain_lstm`: the gates of one LSTM unit, word by word) and
gradient-flow (:mod:`seqlab.explain_gradients`: how much gradient reaches each input step of
an RNN, an LSTM and a GRU). ``OPTIONS`` says which keyword arguments each takes.

rnn-example
-----------
A tiny RNN, computed by hand in the study note (notes/003, "Many to many"), that should
map "I love you" to "난 널 사랑해". Inputs are one-hots over 4 words (I, love, you, her);
the 3 outputs are read as scores for 난, 널, 사랑해. With S_0 = 0, at each step t::

    O_t = tanh(W·x_t + U·S_{t-1} + B)        W: (3, 4)   U: (3, 3)   B: (3,)
    S_t = O_t                                 (the output is the next state)
    p_t = softmax(O_t);  word_t = argmax p_t  (over 난, 널, 사랑해)

The note's sheet feeds the one-hot of "I" at every step (its W·x column repeats) and,
with the weights below, gets (the note's three tables, its rounding)::

    step 1   S_0 = 0, 0, 0
             W·x       = 0.5344613383  0.005400196945  0.3359488417   (column "I" of W)
             W·x+U·S+B = 1.174211994   0.9534825       0.9800150977
             tanh (O)  = 0.8256177525  0.7413555946    0.7530724405
             softmax   = 0.3509740057  0.3226118845    0.3264141098   -> 난
    step 2   U·S_1     = 0.8393906351  1.306385235     1.243851871
             W·x+U·S+B = 2.013602629   2.259867735     2.223866968
             tanh (O)  = 0.9649761201  0.9784509017    0.9768607239
             softmax   = 0.3305215335  0.3350053806    0.3344730858   -> 널
    step 3   U·S_2     = 1.086107428   1.61490504      1.594248334
             W·x+U·S+B = 2.260319422   2.56838754      2.574263432
             tanh (O)  = 0.9784701503  0.988315444     0.9884511664
             softmax   = 0.3311340611  0.3344102744    0.3344556645   -> 사랑해

So the sheet's "난 널 사랑해" comes from feeding "I" three times. With the real inputs
I, love, you the same untrained net says 난, 사랑해, 널. ``train_rnn_example`` fits the
24 parameters (W, U, B) by backpropagation through time until it says 난 널 사랑해.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import torch

from seqlab.explain_attention import explain_attention_example
from seqlab.explain_gradients import explain_gradient_flow
from seqlab.explain_lstm import explain_lstm_example

INPUT_WORDS = ("I", "love", "you", "her")
OUTPUT_WORDS = ("난", "널", "사랑해")
REAL_INPUTS = ("I", "love", "you")
TARGETS = ("난", "널", "사랑해")
SHEET_INPUTS = ("I", "I", "I")  # what the note's sheet actually feeds
MARGIN = 0.1  # training stops once each target word wins by this much probability

# The note's weights, rows = output features, columns = input features.
NOTE_W = (
    (0.5344613383, 0.2340135574, 0.6833450257, 0.134806233),
    (0.005400196945, 0.3850176626, 0.9667685167, 0.7758002355),
    (0.3359488417, 0.7829360944, 0.1415861303, 0.423786741),
)
NOTE_U = (
    (0.1524336548, 0.8001560108, 0.159796803),
    (0.8479080448, 0.6059535281, 0.2086256969),
    (0.2940066967, 0.710345277, 0.6300805231),
)
NOTE_B = (0.6397506561, 0.948082303, 0.644066256)


@dataclass(frozen=True)
class RNNParams:
    """The 24 parameters: W (3, 4), U (3, 3), B (3,), float64."""

    W: torch.Tensor
    U: torch.Tensor
    B: torch.Tensor

    @classmethod
    def from_note(cls) -> RNNParams:
        f64 = torch.float64
        return cls(torch.tensor(NOTE_W, dtype=f64), torch.tensor(NOTE_U, dtype=f64), torch.tensor(NOTE_B, dtype=f64))


@dataclass(frozen=True)
class RNNStep:
    """One time step of the trace; every vector is a float64 tensor of shape (3,)."""

    word: str  # the input word; x_t = one_hot(word), shape (4,)
    state: torch.Tensor  # S_{t-1}
    wx: torch.Tensor  # W·x_t
    us: torch.Tensor  # U·S_{t-1}
    z: torch.Tensor  # W·x_t + U·S_{t-1} + B
    o: torch.Tensor  # O_t = tanh(z) = S_t
    probs: torch.Tensor  # softmax(O_t)
    argmax: str  # OUTPUT_WORDS[argmax probs]


def parse_words(words: str | Sequence[str]) -> tuple[str, ...]:
    """Split ``"I love you"`` (or take a list) and check every word is one of INPUT_WORDS."""
    tokens = tuple(words.split() if isinstance(words, str) else words)
    if not tokens:
        raise ValueError(f"no input words given; use some of {', '.join(INPUT_WORDS)}")
    unknown = [w for w in tokens if w not in INPUT_WORDS]
    if unknown:
        raise ValueError(
            f"unknown input word {unknown[0]!r}; the example knows only the 4 words {', '.join(INPUT_WORDS)}"
        )
    return tokens


def one_hot(word: str) -> torch.Tensor:
    """The one-hot vector of ``word`` over INPUT_WORDS, shape (4,)."""
    x = torch.zeros(len(INPUT_WORDS), dtype=torch.float64)
    x[INPUT_WORDS.index(word)] = 1.0
    return x


def rnn_example_trace(inputs: str | Sequence[str] = SHEET_INPUTS, params: RNNParams | None = None) -> list[RNNStep]:
    """Run the RNN over ``inputs`` from S_0 = 0 and keep every intermediate vector."""
    words = parse_words(inputs)
    p = RNNParams.from_note() if params is None else params
    state = torch.zeros(len(OUTPUT_WORDS), dtype=torch.float64)  # S_0, (3,)
    steps = []
    for word in words:
        wx = p.W @ one_hot(word)  # (3, 4) @ (4,) -> (3,)
        us = p.U @ state  # (3, 3) @ (3,) -> (3,)
        z = wx + us + p.B
        o = torch.tanh(z)
        probs = torch.softmax(o, dim=0)
        steps.append(RNNStep(word, state, wx, us, z, o, probs, OUTPUT_WORDS[int(probs.argmax())]))
        state = o  # S_t = O_t
    return steps


@dataclass(frozen=True)
class TrainResult:
    params: RNNParams
    history: list[tuple[int, float, tuple[str, ...]]]  # (step, loss, argmax words) per step
    reached: bool  # whether every target word wins by the margin at the end


def train_rnn_example(
    steps: int = 500,
    lr: float = 0.1,
    inputs: Sequence[str] = REAL_INPUTS,
    targets: Sequence[str] = TARGETS,
    margin: float = MARGIN,
) -> TrainResult:
    """Fit W, U, B from the note's values by plain gradient descent (BPTT, float64).

    L = -sum_t log softmax(O_t)[target_t];  theta <- theta - lr * dL/dtheta.
    Deterministic (no randomness: it starts from the note's weights). Stops as soon as
    at every step the target word's probability beats every other word's by ``margin``
    (so the argmax words are ``targets`` with room to spare), or after ``steps`` updates.
    ``history`` holds the loss and words before each update (step 0 = the note's weights).
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive number of updates, got {steps}")
    if not lr > 0:
        raise ValueError(f"lr must be a positive learning rate, got {lr}")
    words = parse_words(inputs)
    if len(targets) != len(words) or any(t not in OUTPUT_WORDS for t in targets):
        raise ValueError(f"targets must be {len(words)} of {', '.join(OUTPUT_WORDS)}, got {list(targets)}")
    target_ids = torch.tensor([OUTPUT_WORDS.index(t) for t in targets])
    start = RNNParams.from_note()
    W, U, B = (t.clone().requires_grad_(True) for t in (start.W, start.U, start.B))
    history = []
    for step in range(steps + 1):
        trace = rnn_example_trace(words, RNNParams(W, U, B))  # the graph is built here
        logits = torch.stack([s.o for s in trace])  # (T, 3)
        loss = torch.nn.functional.cross_entropy(logits, target_ids, reduction="sum")
        history.append((step, loss.item(), tuple(s.argmax for s in trace)))
        probs = torch.stack([s.probs for s in trace]).detach()  # (T, 3)
        target_p = probs.gather(1, target_ids[:, None])  # (T, 1)
        best_other = probs.scatter(1, target_ids[:, None], -1.0).max(dim=1).values
        reached = bool((target_p[:, 0] - best_other).min() >= margin)
        if reached or step == steps:
            break
        W.grad = U.grad = B.grad = None
        loss.backward()  # BPTT through all T steps
        with torch.no_grad():
            for theta in (W, U, B):
                theta -= lr * theta.grad
    final = RNNParams(W.detach().clone(), U.detach().clone(), B.detach().clone())
    return TrainResult(final, history, reached)


def format_trace(trace: Sequence[RNNStep], title: str) -> str:
    """The trace as plain-text aligned columns, 10 decimals, one block of 3 rows per step."""
    heads = ("state S", "W·x", "U·S", "W·x+U·S+B", "tanh (O)", "softmax(O)")
    lines = [title, ""]
    for t, s in enumerate(trace, start=1):
        lines.append(f"step {t}: input x = one-hot({s.word!r})  ->  argmax {s.argmax}")
        lines.append("  " + "".join(f"{h:>15}" for h in heads) + "   word")
        for i, out_word in enumerate(OUTPUT_WORDS):
            cols = (s.state, s.wx, s.us, s.z, s.o, s.probs)
            mark = "  <- argmax" if out_word == s.argmax else ""
            lines.append("  " + "".join(f"{c[i].item():15.10f}" for c in cols) + f"   {out_word}{mark}")
        lines.append("")
    lines.append(f"inputs:  {' '.join(s.word for s in trace)}")
    lines.append(f"outputs: {' '.join(s.argmax for s in trace)}")
    return "\n".join(lines)


SHEET_TITLE = "the note's sheet: the one-hot of 'I' fed at every step (as in the note's three tables)"


def explain_rnn_example(
    inputs: str | None = None,
    train: bool = False,
    steps: int | None = None,
    lr: float | None = None,
    out: TextIO | None = None,
) -> int:
    """Print the rnn-example trace (the note's sheet by default); return an exit code.

    ``inputs`` (e.g. "I love you") shows the real sequence instead. ``train`` first fits
    the weights on I love you -> 난 널 사랑해 and prints progress, then the final table.
    """
    out = sys.stdout if out is None else out
    if not train and (steps is not None or lr is not None):
        raise ValueError("--steps and --lr only apply with --train")
    if not train:
        if inputs is None:
            print(format_trace(rnn_example_trace(SHEET_INPUTS), SHEET_TITLE), file=out)
        else:
            words = parse_words(inputs)
            title = f"the real sequence: {' '.join(words)} (untrained, the note's weights)"
            print(format_trace(rnn_example_trace(words), title), file=out)
        return 0
    words = parse_words(inputs if inputs is not None else REAL_INPUTS)
    result = train_rnn_example(steps=500 if steps is None else steps, lr=0.1 if lr is None else lr)
    print(
        "training W, U, B by BPTT (plain gradient descent, float64) on "
        f"{' '.join(REAL_INPUTS)} -> {' '.join(TARGETS)}, until each target word "
        f"wins by {MARGIN} in probability",
        file=out,
    )
    last = len(result.history) - 1
    every = max(1, last // 5)
    for step, loss, predicted in result.history:
        if step % every == 0 or step == last:
            print(f"  step {step:4d}  loss {loss:.6f}  words {' '.join(predicted)}", file=out)
    if not result.reached:
        print(
            f"did not reach {' '.join(TARGETS)} (by a margin of {MARGIN}) in {last} steps; "
            "try more --steps or a larger --lr",
            file=out,
        )
    title = f"the real sequence: {' '.join(words)} (trained weights, after {last} steps)"
    print(file=out)
    print(format_trace(rnn_example_trace(words, result.params), title), file=out)
    return 0 if result.reached else 1


# The one table from example name to the function that prints it and the options (keyword
# arguments, `seqlab explain` flags) it takes.
EXAMPLES: dict[str, Callable[..., int]] = {
    "rnn-example": explain_rnn_example,
    "attention-example": explain_attention_example,  # seqlab.explain_attention
    "lstm-example": explain_lstm_example,  # seqlab.explain_lstm
    "gradient-flow": explain_gradient_flow,  # seqlab.explain_gradients
}
OPTIONS: dict[str, tuple[str, ...]] = {
    "rnn-example": ("inputs", "train", "steps", "lr"),
    "attention-example": (),
    "lstm-example": ("inputs",),
    "gradient-flow": ("length", "hidden", "seed", "forget_bias", "plot"),
}
