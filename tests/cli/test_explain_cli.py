"""`seqlab explain rnn-example` run in-process through seqlab.cli.main.main."""

import pytest

from seqlab.cli import explain as explain_cli
from seqlab.cli.main import main
from seqlab.explain import EXAMPLES


def rows(out, step):
    """The 3 number rows of step ``step`` (1-based) as lists of floats, plus the words."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"step {step}:")) + 2
    parsed = []
    for line in lines[start : start + 3]:
        *numbers, word = line.split("<-")[0].split()
        parsed.append(([float(n) for n in numbers], word))
    return parsed


def test_names_agree_with_the_library_table():
    assert set(explain_cli.EXAMPLE_NAMES) == set(EXAMPLES)


def test_default_is_the_notes_sheet(capsys):
    assert main(["explain", "rnn-example"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("the note's sheet: the one-hot of 'I' fed at every step")
    assert out.count("one-hot('I')") == 3
    # From the note's sheet, step 1 and step 3 (state S, W·x, U·S, W·x+U·S+B, tanh, softmax);
    # the note rounds to 10 significant digits, the CLI prints 10 decimals.
    step1 = [
        ([0.0, 0.5344613383, 0.0, 1.174211994, 0.8256177525, 0.3509740057], "난"),
        ([0.0, 0.005400196945, 0.0, 0.9534825, 0.7413555946, 0.3226118845], "널"),
        ([0.0, 0.3359488417, 0.0, 0.9800150977, 0.7530724405, 0.3264141098], "사랑해"),
    ]
    step3 = [
        ([0.9649761201, 0.5344613383, 1.086107428, 2.260319422, 0.9784701503, 0.3311340611], "난"),
        ([0.9784509017, 0.005400196945, 1.61490504, 2.56838754, 0.988315444, 0.3344102744], "널"),
        ([0.9768607239, 0.3359488417, 1.594248334, 2.574263432, 0.9884511664, 0.3344556645], "사랑해"),
    ]
    for step, expected in ((1, step1), (3, step3)):
        for (got, got_word), (want, want_word) in zip(rows(out, step), expected):
            assert got_word == want_word
            assert got == pytest.approx(want, abs=1e-9)  # note's rounding + 10 decimals
    assert "0.9649761201" in out and "2.0136026294" in out  # the note's step 2
    assert "argmax 난" in out and "argmax 널" in out and "argmax 사랑해" in out
    assert out.rstrip().endswith("outputs: 난 널 사랑해")


def test_inputs_shows_the_real_sequence(capsys):
    assert main(["explain", "rnn-example", "--inputs", "I love you"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("the real sequence: I love you")
    assert "the note's sheet" not in out
    assert "one-hot('love')" in out and "one-hot('you')" in out
    # Step 2 with x = "love": W's column "love", and softmax worked out in float64 from
    # the note's W, U, B (see tests/test_explain.py, REAL_SEQUENCE).
    got = [numbers for numbers, _ in rows(out, 2)]
    assert [g[1] for g in got] == pytest.approx([0.2340135574, 0.3850176626, 0.7829360944], abs=1e-10)
    assert [g[5] for g in got] == pytest.approx([0.3216330514, 0.3390793617, 0.3392875869], abs=1e-10)
    assert out.rstrip().endswith("outputs: 난 사랑해 널")


def test_unknown_word_is_one_line_error_with_the_four_words(capsys):
    assert main(["explain", "rnn-example", "--inputs", "I love her cat"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "seqlab explain: error: unknown input word 'cat'; the example knows only the 4 words I, love, you, her"
    )


def test_train_reaches_nan_neol_saranghae(capsys):
    assert main(["explain", "rnn-example", "--train"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training W, U, B by BPTT")
    progress = [line.split() for line in out.splitlines() if line.startswith("  step ")]
    assert 3 <= len(progress) <= 8
    assert progress[0][:2] == ["step", "0"] and progress[0][5:] == ["난", "사랑해", "널"]
    assert progress[-1][5:] == ["난", "널", "사랑해"]
    assert "the real sequence: I love you (trained weights" in out
    assert out.rstrip().endswith("outputs: 난 널 사랑해")


def test_train_with_too_few_steps_says_so_and_fails(capsys):
    assert main(["explain", "rnn-example", "--train", "--steps", "2", "--lr", "0.1"]) == 1
    assert "did not reach 난 널 사랑해" in capsys.readouterr().out


def test_steps_without_train_is_an_error(capsys):
    assert main(["explain", "rnn-example", "--steps", "5"]) == 2
    assert "--steps and --lr only apply with --train" in capsys.readouterr().err


def test_unknown_example_name_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "gru-example"])
    assert exit_info.value.code == 2
    assert "rnn-example" in capsys.readouterr().err


def test_a_zero_on_the_command_line_is_a_value_not_an_absent_flag(capsys):
    assert main(["explain", "rnn-example", "--train", "--steps", "0"]) == 2
    assert "got 0" in capsys.readouterr().err
