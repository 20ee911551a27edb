"""seqlab.explain: the rnn-example trace against the study note's hand-computed sheet."""

import pytest
import torch

from seqlab.explain import (
    EXAMPLES,
    REAL_INPUTS,
    SHEET_INPUTS,
    SHEET_TITLE,
    TARGETS,
    RNNParams,
    explain_rnn_example,
    format_trace,
    rnn_example_trace,
    train_rnn_example,
)

TOL = 1e-9

# From the note's sheet (notes/003, "첫번째/두번째/세번째 루프"), the one-hot of "I" fed at
# every step; the note writes 10 significant digits, so each number is within 1e-9.
NOTE_SHEET = [
    dict(
        state=[0.0, 0.0, 0.0],
        wx=[0.5344613383, 0.005400196945, 0.3359488417],
        us=[0.0, 0.0, 0.0],
        z=[1.174211994, 0.9534825, 0.9800150977],
        o=[0.8256177525, 0.7413555946, 0.7530724405],
        probs=[0.3509740057, 0.3226118845, 0.3264141098],
        argmax="난",
    ),
    dict(
        state=[0.8256177525, 0.7413555946, 0.7530724405],
        wx=[0.5344613383, 0.005400196945, 0.3359488417],
        us=[0.8393906351, 1.306385235, 1.243851871],
        z=[2.013602629, 2.259867735, 2.223866968],
        o=[0.9649761201, 0.9784509017, 0.9768607239],
        probs=[0.3305215335, 0.3350053806, 0.3344730858],
        argmax="널",
    ),
    dict(
        state=[0.9649761201, 0.9784509017, 0.9768607239],
        wx=[0.5344613383, 0.005400196945, 0.3359488417],
        us=[1.086107428, 1.61490504, 1.594248334],
        z=[2.260319422, 2.56838754, 2.574263432],
        o=[0.9784701503, 0.988315444, 0.9884511664],
        probs=[0.3311340611, 0.3344102744, 0.3344556645],
        argmax="사랑해",
    ),
]

# The real sequence I, love, you with the note's weights. Not in the note's tables: worked
# out in float64 from its W, U, B with the same equations and checked against its pieces:
# step 1 is the sheet's step 1, step 2 reuses its S_1 and U·S_1 (0.8393906351, ...), and
# W·x is W's column "love", then "you". The untrained net says 난 사랑해 널.
REAL_SEQUENCE = [
    NOTE_SHEET[0],
    dict(
        state=[0.8256177525, 0.7413555946, 0.7530724405],
        wx=[0.2340135574, 0.3850176626, 0.7829360944],  # column "love" of W
        us=[0.8393906350, 1.3063852351, 1.2438518705],
        z=[1.7131548485, 2.6394852007, 2.6708542209],
        o=[0.9370334743, 0.9898563557, 0.9904702569],
        probs=[0.3216330514, 0.3390793617, 0.3392875869],
        argmax="사랑해",
    ),
    dict(
        state=[0.9370334743, 0.9898563557, 0.9904702569],
        wx=[0.6833450257, 0.9667685167, 0.1415861303],  # column "you" of W
        us=[1.0931489305, 1.6009627197, 1.6027099213],
        z=[2.4162446123, 3.5158135394, 2.3883623076],
        o=[0.9841926008, 0.9982345735, 0.9832936384],
        probs=[0.3318684146, 0.3365613739, 0.3315702114],
        argmax="널",
    ),
]


def check_trace(trace, expected):
    assert len(trace) == len(expected)
    for t, (step, want) in enumerate(zip(trace, expected), start=1):
        for field in ("state", "wx", "us", "z", "o", "probs"):
            got = getattr(step, field)
            assert got.dtype == torch.float64 and got.shape == (3,)
            torch.testing.assert_close(
                got, torch.tensor(want[field], dtype=torch.float64), rtol=0, atol=TOL, msg=f"step {t} {field}"
            )
        assert step.argmax == want["argmax"], f"step {t}"


def test_note_sheet_matches_every_number_in_the_note():
    trace = rnn_example_trace(SHEET_INPUTS)
    check_trace(trace, NOTE_SHEET)
    assert [s.word for s in trace] == ["I", "I", "I"]
    assert [s.argmax for s in trace] == ["난", "널", "사랑해"]


def test_real_sequence_says_nan_saranghae_neol_untrained():
    trace = rnn_example_trace("I love you")
    check_trace(trace, REAL_SEQUENCE)
    assert [s.argmax for s in trace] == ["난", "사랑해", "널"]


def test_trace_invariants():
    trace = rnn_example_trace(["her", "you", "love", "I"])
    p = RNNParams.from_note()
    for prev, step in zip([None, *trace], trace):
        torch.testing.assert_close(step.wx + step.us + p.B, step.z, rtol=0, atol=1e-15)
        torch.testing.assert_close(torch.tanh(step.z), step.o, rtol=0, atol=0)
        assert abs(step.probs.sum().item() - 1.0) < 1e-15
        if prev is not None:  # the state is the previous output
            assert torch.equal(step.state, prev.o)
    assert torch.equal(trace[0].wx, p.W[:, 3])  # "her" picks W's 4th column


@pytest.mark.parametrize("words, bad", [("I love him", "him"), ("i love you", "i")])
def test_unknown_word_is_quoted_and_the_four_words_listed(words, bad):
    with pytest.raises(ValueError, match="the 4 words I, love, you, her") as err:
        rnn_example_trace(words)
    assert repr(bad) in str(err.value)


def test_no_words_is_an_error():
    with pytest.raises(ValueError, match="no input words"):
        rnn_example_trace("  ")


def test_train_reaches_nan_neol_saranghae_quickly_and_deterministically():
    result = train_rnn_example()
    assert result.reached
    trace = rnn_example_trace(REAL_INPUTS, result.params)
    assert tuple(s.argmax for s in trace) == TARGETS
    for step, target in zip(trace, range(3)):  # each target wins by the 0.1 margin
        others = [p for i, p in enumerate(step.probs.tolist()) if i != target]
        assert step.probs[target].item() - max(others) >= 0.1
    steps, losses = [h[0] for h in result.history], [h[1] for h in result.history]
    assert steps == list(range(len(steps))) and 1 < len(steps) < 200
    assert losses[-1] < losses[0]
    assert losses[0] == pytest.approx(
        -sum(torch.log(torch.tensor([0.3509740057, 0.3390793617, 0.3315702114], dtype=torch.float64)).tolist()),
        abs=1e-8,
    )
    # no randomness anywhere: a second run gives the same weights bit for bit
    again = train_rnn_example()
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            (result.params.W, result.params.U, result.params.B), (again.params.W, again.params.U, again.params.B)
        )
    )


def test_train_gives_up_after_steps():
    result = train_rnn_example(steps=3)
    assert not result.reached and len(result.history) == 4


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(lr=0.0), dict(lr=-1.0)])
def test_train_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="got"):
        train_rnn_example(**kwargs)


def test_format_trace_has_ten_decimals_and_marks_argmax():
    text = format_trace(rnn_example_trace(SHEET_INPUTS), SHEET_TITLE)
    lines = text.splitlines()
    assert lines[0] == SHEET_TITLE
    assert "0.8256177525" in text and "0.3344556645" in text
    assert sum("<- argmax" in line for line in lines) == 3
    assert lines[-1] == "outputs: 난 널 사랑해"


def test_explain_prints_and_returns_exit_code(capsys):
    assert EXAMPLES["rnn-example"] is explain_rnn_example
    assert explain_rnn_example(inputs="I love you") == 0
    out = capsys.readouterr().out
    assert out.startswith("the real sequence: I love you")
    assert "outputs: 난 사랑해 널" in out
    with pytest.raises(ValueError, match="--train"):
        explain_rnn_example(steps=10)
