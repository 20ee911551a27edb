"""`seqlab data list | fetch | inspect`, called in-process."""

import importlib.util
import os
from pathlib import Path

import pytest

from seqlab.cli import data as data_cli
from seqlab.data import inspect

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")
needs_shared = pytest.mark.skipif(not (ROOT / "sst2").is_dir(), reason=f"{ROOT} is absent (set SEQLAB_DATA_DIR)")
# main() imports every subcommand module; other engineers' modules may not exist yet.
needs_all_commands = pytest.mark.skipif(
    any(importlib.util.find_spec(f"seqlab.cli.{m}") is None for m in ("train", "explain")),
    reason="seqlab.cli.main imports subcommand modules that are not written yet",
)


def run(*argv):
    """The data subcommand through its own parser, as main() would dispatch it."""
    import argparse

    parser = argparse.ArgumentParser(prog="seqlab")
    data_cli.add_parser(parser.add_subparsers(dest="command"))
    return data_cli.run(parser.parse_args(["data", *argv]))


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))


@needs_shared
def test_list_shows_every_dataset_and_its_cache_state(cache, capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    for name in ("tinyshakespeare", "imdb", "ud_english_ewt", "word2vec_lee", "text8", "jena_climate"):
        assert name in out
    assert "CC BY-SA 4.0" in out and "yes" in out and "no" in out


@needs_shared
def test_inspect_named_dataset(cache, capsys):
    assert run("inspect", "sst2", "--min-freq", "2", "--examples", "2") == 0
    out = capsys.readouterr().out
    assert "== train: 67349 examples" in out and "== dev: 872 examples" in out
    assert "vocabulary (train, min_freq=2)" in out and "unknown-token rate on dev" in out
    assert "label balance (train)" in out and "55.8%" in out  # 37,569 / 67,349 positive


@needs_shared
def test_inspect_tagging_and_time_series(cache, capsys):
    assert run("inspect", "ud_english_ewt", "--split", "dev") == 0
    assert "NOUN" in capsys.readouterr().out
    assert run("inspect", "ett_small", "--split", "ETTh1/test") == 0
    assert "features ['HUFL'" in capsys.readouterr().out


def test_inspect_file_with_format(tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood film,pos\nbad film,neg\ngood good,pos\n")
    assert run("inspect", str(path), "--format", "csv") == 0
    out = capsys.readouterr().out
    assert "== file: 3 examples" in out and "min 2, mean 2.0, max 2" in out
    assert "3 types of 3" in out and "66.7%" in out


def test_inspect_path_without_format_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"pass --format, one of \['text', 'csv'"):
        run("inspect", str(tmp_path / "x.csv"))


def test_fetch_refuses_unverified(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="no published sha256"):
        run("fetch", "text8")


def test_histogram_and_unknown_rate():
    text = inspect.length_histogram([1, 1, 2, 10], bins=2)
    assert text.splitlines()[0].split()[:2] == ["1-5", "3"] and "max 10" in text
    assert inspect.unknown_rate(["a b c d"], {"a", "b"}, str.split) == 0.5


@needs_all_commands
@needs_shared
def test_through_main(cache, capsys):
    from seqlab.cli.main import main

    assert main(["data", "list"]) == 0
    assert "tinyshakespeare" in capsys.readouterr().out
    assert main(["data", "inspect", "nope.csv"]) == 2
    assert "seqlab data: error:" in capsys.readouterr().err


@needs_shared
def test_main_dispatches_data(cache, capsys, monkeypatch):
    # main() with only this subcommand in the table, so it runs before the others exist.
    from seqlab.cli import main as main_module

    monkeypatch.setattr(main_module, "COMMANDS", {"data": "seqlab.cli.data"})
    assert main_module.main(["data", "list"]) == 0
    assert "word_analogy" in capsys.readouterr().out
    assert main_module.main(["data", "fetch", "imbd"]) == 2
    assert "seqlab data: error: unknown dataset 'imbd'" in capsys.readouterr().err
