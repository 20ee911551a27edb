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
