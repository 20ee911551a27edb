"""`seqlab bench`: the table printed and saved, and flags that are wrong."""

import json

import pytest

from seqlab.cli.main import main

FAST = ["--repeats", "1", "--iters", "1", "--warmup", "0", "--device", "cpu"]


def test_bench_writes_json_and_markdown(tmp_path, capsys):
    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    argv = ["bench", "--cell", "lstm,gru", "--batch", "2", "--steps", "3", "--input-size", "4", "--hidden-size", "5"]
    argv += ["--contenders", "torch.nn,auto", "--json", str(out_json), "--markdown", str(out_md), *FAST]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed == out_md.read_text()
    report = json.loads(out_json.read_text())
    assert [(r["config"]["cell"], r["contender"]) for r in report["results"]] == [
        ("lstm", "torch.nn"),
        ("lstm", "auto"),
        ("gru", "torch.nn"),
        ("gru", "auto"),
    ]
    assert "| gru train B=2 T=3 I=4 H=5 fp32 | auto |" in printed


def test_bench_preset_with_a_flag_on_the_process_clock(capsys):
    argv = ["bench", "--preset", "tiny", "--steps", "2", "--contenders", "torch.nn", "--clock", "process", *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("T=2 ") == 2  # the tiny preset's two configs, shortened
    assert "CPU time, median of 1 interleaved rounds" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch", "32,x"], "--batch: expected comma-separated integers, got 'x' in '32,x'"),
        (["--bidirectional", "maybe"], "--bidirectional: expected comma-separated true/false, got 'maybe'"),
        (["--cell", "lstmm"], "cell must be one of lstm, gru, rnn; got 'lstmm'"),
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--contenders", "torch.nn,jax"], "contender must be one of"),
        (["--repeats", "0"], "repeats must be an integer >= 1"),
        (["--device", "tpu"], "device must be cpu or cuda, got 'tpu'"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--clock", "cycles"], "clock must be one of wall, process; got 'cycles'"),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqlab bench: error: ") and message in err


def test_preset_and_grid_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--preset", "tiny", "--grid", "g.yaml"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
