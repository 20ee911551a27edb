"""The `seqlab` command itself: --version, --help listing every subcommand, no command."""

import subprocess
import sys

import pytest

import seqlab
from seqlab.cli.main import COMMANDS, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"seqlab {seqlab.__version__}"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert {"train", "explain", "data"} <= set(COMMANDS)


def test_no_command_prints_help_and_succeeds(capsys):
    assert main([]) == 0
    assert "usage: seqlab" in capsys.readouterr().out


def test_console_script_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "seqlab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("seqlab ")


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # seqlab report RUN | head -1: the pipe closes while seqlab still writes
    script = ("import sys; from seqlab.cli import main, report\n"
              "report.run = lambda args: [print('x' * 99) for _ in range(100_000)] and 0\n"
              "sys.exit(main.main(['report', 'RUN']))")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"x" * 99 + b"\n"
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 1 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
