"""attention-example: seqlab's dot-product attention step against the same step in plain
Python arithmetic (math.exp, sums of products), and the note's 85/3/5/7% distribution."""

from __future__ import annotations

import math

import pytest

from seqlab.cli.main import main
from seqlab.explain_attention import (
    ANSWER_WORDS,
    DECODER_STATE,
    ENCODER_STATES,
    OUTPUT_WEIGHTS,
    attention_example_step,
)


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def softmax(xs):
    exps = [math.exp(x) for x in xs]
    return [e / sum(exps) for e in exps]


def by_hand():
    """The step written out: scores, softmax, context, tanh((a_k + s_k) / 2), output softmax."""
    s = DECODER_STATE
    scores = [dot(s, h) for h in ENCODER_STATES]
    alphas = softmax(scores)
    context = [sum(alpha * h[k] for alpha, h in zip(alphas, ENCODER_STATES)) for k in range(4)]
    attentional = [math.tanh((context[k] + s[k]) / 2) for k in range(4)]  # W_c = [½I ½I]
    probs = softmax([dot(row, attentional) for row in OUTPUT_WEIGHTS])
    return scores, alphas, context, attentional, probs


def test_the_step_matches_plain_arithmetic():
    step = attention_example_step()
    scores, alphas, context, attentional, probs = by_hand()
    for got, want in ((step.scores, scores), (step.alphas, alphas), (step.context, context),
                      (step.attentional, attentional), (step.probs, probs)):
        assert got.tolist() == pytest.approx(want, abs=1e-12)
    assert step.v.tolist() == pytest.approx(context + list(DECODER_STATE), abs=1e-12)
    assert step.word == ANSWER_WORDS[probs.index(max(probs))] == "Yes"


def test_scores_and_distribution_are_the_notes_example():
    step = attention_example_step()
    # e_1 = 1.0·1.5 + 0.5·1.5 + (-0.5)·(-0.5) + 0.0·0.3 = 2.5, and so on for the other words
    assert step.scores.tolist() == pytest.approx([2.5, -0.84, -0.33, 0.0], abs=1e-12)
    # the note's distribution, 85%, 3%, 5%, 7%, to the percent
    assert [round(100 * a) for a in step.alphas.tolist()] == [85, 3, 5, 7]
    assert float(step.alphas.sum()) == pytest.approx(1.0, abs=1e-15)


def test_cli_prints_every_number(capsys):
    assert main(["explain", "attention-example"]) == 0
    out = capsys.readouterr().out
    assert "  Are        2.5000  = 1·1.5 + 0.5·1.5 + (-0.5)·(-0.5) + 0·0.3" in out
    assert "  tomorrow   0.0000" in out  # a rounding error below zero is not printed as -0.0000
    assert "  Are        0.8500  (85.0%)" in out and "  you        0.0301  ( 3.0%)" in out
    assert "<- argmax" in next(line for line in out.splitlines() if line.startswith("  Yes"))
    assert out.rstrip().endswith("the decoder writes 'Yes' first; its state then queries h_1..h_4 again for the next word")


def test_cli_names_a_refused_option(capsys):
    assert main(["explain", "attention-example", "--steps", "3"]) == 2
    assert "--steps: attention-example takes no options" in capsys.readouterr().err
