"""data.token_dir (seqlab.tasks.lm_tokens): streams tokenized once into files and read
memory-mapped give what the in-memory path gives; the files are reused, remade or refused
as they should be; the lazy windows cut the stream as before."""

import itertools
import json
import os
import warnings

import pytest
import torch

from seqlab import config
from seqlab.data import registry
from seqlab.data.batching import lm_windows
from seqlab.data.vocab import PAD_ID, UnknownTokenWarning
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import lm, lm_tokens
from seqlab.training import loop
from seqlab.training.records import without_timings

# blank lines, lines opening with spaces, a form feed and a Unicode line separator: the places
# where a piece could end and what str.splitlines takes for a line end
ODD = "First line\n\n\n  indented\n\tTabbed\nx\x0cy\u2028z\r\nwindows end\n \nlast words, no newline"


@pytest.fixture(scope="module")
def text():
    """40,000 characters of Tiny Shakespeare (speakers, blank lines) with odd line ends among them."""
    shakespeare = registry.load("tinyshakespeare", "train")[0][:40_000]
    return shakespeare[:20_000] + ODD + shakespeare[20_000:]


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(lm_tokens, "CHUNK", 997)  # many pieces, their ends falling anywhere


def recipe(tmp_path, path, **data):
    return config.from_dict({"task": "lm", "data": {"name": None, "format": "text", "train": str(path), **data},
                             "train": {"batch_size": 4}})


def assert_same_data(got, expected):
    assert got.vocab.itos == expected.vocab.itos
    assert got.tokenizer.tokenize("ROMEO:\n  is here") == expected.tokenizer.tokenize("ROMEO:\n  is here")
    for name in ("train", "valid", "test"):
        mine, theirs = getattr(got, name), getattr(expected, name)
        assert mine.tokens.dtype == torch.int32 and theirs.tokens.dtype == torch.long
        assert torch.equal(mine.tokens.long(), theirs.tokens), name
        assert mine.source == theirs.source


@pytest.mark.parametrize("tokenizer, extra", [("char", {}), ("word", {"lowercase": True, "min_freq": 2}),
                                              ("bpe", {"bpe_vocab_size": 400})])
def test_token_files_hold_what_the_in_memory_path_makes(tmp_path, text, tokenizer, extra):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    cfg = recipe(tmp_path, path, tokenizer=tokenizer, **extra)  # valid and test carved off the end
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        expected = lm.load_data(cfg)
        got = lm.load_data(config.apply_overrides(cfg, {"data.token_dir": str(tmp_path / "tokens")}))
    # min_freq 2 leaves words out: both paths say so, for train, valid and test alike
    said = [str(w.message) for w in warned if issubclass(w.category, UnknownTokenWarning)]
    assert said[:3] == said[3:] and len(said) == (6 if tokenizer == "word" else 0)
    assert_same_data(got, expected)
    sizes = {name: os.path.getsize(tmp_path / "tokens" / f"{name}.bin") for name in ("train", "valid", "test")}
    assert sizes == {name: 4 * len(getattr(got, name)) for name in sizes}  # int32 on disk, nothing else
    assert json.loads((tmp_path / "tokens" / "meta.json").read_text())["tokens"] == {
        name: len(getattr(got, name)) for name in sizes}


def test_given_valid_and_test_files_and_limits(tmp_path, text):
    for name, part in (("train", text[:30_000]), ("valid", text[30_000:35_000]), ("test", text[35_000:])):
        (tmp_path / f"{name}.txt").write_text(part, encoding="utf-8")
    cfg = recipe(tmp_path, tmp_path / "train.txt", valid=str(tmp_path / "valid.txt"), test=str(tmp_path / "test.txt"),
                 tokenizer="char", limit_train=12_345, limit_eval=999)
    got = lm.load_data(config.apply_overrides(cfg, {"data.token_dir": str(tmp_path / "tokens")}))
    assert_same_data(got, lm.load_data(cfg))
    assert (len(got.train), len(got.valid), len(got.test)) == (12_345, 999, 999)


def test_tinyshakespeare_through_token_files(tmp_path):
    overrides = {"data.limit_train": 5000, "data.limit_eval": 2000}
    expected = lm.load_data(config.resolve("shakespeare-smoke", overrides))
    got = lm.load_data(config.resolve("shakespeare-smoke", {**overrides, "data.token_dir": str(tmp_path / "t")}))
    assert_same_data(got, expected)


def test_pieces_end_only_before_a_line_that_starts_with_a_non_space(tmp_path, text):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(lm_tokens.Span(str(path)).chunks())
    assert len(pieces) > 20 and "".join(pieces) == text.replace("\r\n", "\n")  # read with universal newlines
    assert all(piece.endswith("\n") and not following[0].isspace() for piece, following in itertools.pairwise(pieces))
    assert list(lm_tokens.Span(str(path)).lines()) == text.replace("\r\n", "\n").splitlines(keepends=True)
    assert lm_tokens.Span(str(path)).count() == len(text) - 1
    middle = lm_tokens.Span(str(path), 1000, 25_000)  # a span: the characters [1000, 25000)
    assert "".join(middle.chunks()) == text.replace("\r\n", "\n")[1000:25_000]


def test_boundary():
    assert lm_tokens._boundary("ab\ncd\n  ef") == 3  # after the first newline: "cd" starts a line
    assert lm_tokens._boundary("ab\n\ncd") == 4
    assert lm_tokens._boundary("ab\n \n\tcd") == 0  # no line there starts with a non-space, no single space
    assert lm_tokens._boundary("ab\n") == 0  # what follows the newline is not read yet
    assert lm_tokens._boundary("one two  three") == 3  # no newline: before the last single space (not the double)
    assert lm_tokens._boundary("one  two ") == 0  # a double space, a space at the end: neither


@pytest.mark.parametrize("tokenizer, extra", [("char", {}), ("word", {"lowercase": True}),
                                              ("bpe", {"bpe_vocab_size": 400})])
def test_a_text_on_one_line_is_cut_before_single_spaces(tmp_path, text, tokenizer, extra):
    one_line = text.replace("\r\n", " ").replace("\n", " ")  # as text8 is: no line ends at all
    path = tmp_path / "one-line.txt"
    path.write_text(one_line, encoding="utf-8")
    pieces = list(lm_tokens.Span(str(path)).chunks())
    assert len(pieces) > 20 and "".join(pieces) == one_line
    assert list(lm_tokens.Span(str(path)).lines()) == one_line.splitlines(keepends=True)
    cfg = recipe(tmp_path, path, tokenizer=tokenizer, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownTokenWarning)
        assert_same_data(lm.load_data(config.apply_overrides(cfg, {"data.token_dir": str(tmp_path / "t")})),
                         lm.load_data(cfg))


def test_files_are_reused_while_text_and_keys_stay_and_made_anew_otherwise(tmp_path, text, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    cfg = config.apply_overrides(recipe(tmp_path, path, tokenizer="char"), {"data.token_dir": str(tmp_path / "tokens")})
    first = lm.load_data(cfg)
    built = []
    real_build = lm_tokens.build_tokenizer
    monkeypatch.setattr(lm_tokens, "build_tokenizer", lambda *a, **k: built.append(1) or real_build(*a, **k))
    again = lm.load_data(cfg)  # same text, same keys: mapped, not tokenized
    assert built == [] and torch.equal(again.train.tokens, first.train.tokens)
    lm.load_data(config.apply_overrides(cfg, {"data.limit_train": 1000}))  # another key: made anew
    assert built == [1]
    path.write_text(text.upper(), encoding="utf-8")  # the text changed (size or modification time)
    changed = lm.load_data(cfg)
    assert built == [1, 1] and "a" not in changed.vocab.itos
    (tmp_path / "tokens" / "meta.json").unlink()  # as a run killed while writing leaves it
    lm.load_data(cfg)
    assert built == [1, 1, 1]
    with open(tmp_path / "tokens" / "valid.bin", "r+b") as f:  # a token file cut since it was made
        f.truncate(8)
    assert len(lm.load_data(cfg).valid) == len(changed.valid) and built == [1, 1, 1, 1]


def test_a_folder_with_files_of_the_users_is_refused_and_left_alone(tmp_path, text):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match=r"data.token_dir: .*mine holds files that are not seqlab's token files "
                                        r"\(notes.txt\); give an empty or new folder"):
        lm.load_data(config.apply_overrides(recipe(tmp_path, path, tokenizer="char"), {"data.token_dir": str(folder)}))
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"] and (folder / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataError, match=r"corpus.txt is a file; expected a folder"):
        lm.load_data(config.apply_overrides(recipe(tmp_path, path, tokenizer="char"), {"data.token_dir": str(path)}))


def test_bad_text_files_are_named(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    with pytest.raises(DataError, match=r"latin1.txt: not UTF-8 text"):
        lm.load_data(config.apply_overrides(recipe(tmp_path, bad, tokenizer="char"), {"data.token_dir": str(tmp_path / "t")}))
    with pytest.raises(DataError, match=r"missing.txt: no such file"):
        lm.load_data(config.apply_overrides(recipe(tmp_path, tmp_path / "missing.txt", tokenizer="char"),
                                    {"data.token_dir": str(tmp_path / "t")}))


def test_token_dir_is_refused_where_it_would_change_nothing(tmp_path):
    with pytest.raises(ConfigError, match=r"data.token_dir: task 'classify' does not use it \(read only by lm\)"):
        config.resolve("sst2-smoke", {"data.token_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"data.token_dir: names is read as sequences, one per example, not as one "
                                          r"token stream; expected null"):
        lm.load_data(config.resolve("names-generate-smoke", {"data.token_dir": str(tmp_path)}))


@pytest.mark.slow
def test_training_from_token_files_matches_training_from_memory(tmp_path):
    overrides = {"data.limit_train": 20_000, "data.limit_eval": 4000, "train.epochs": 2, "model.hidden_size": 32,
                 "train.device": "cpu"}
    plain = loop.train("shakespeare-smoke", overrides, out=tmp_path / "plain")
    mapped = loop.train("shakespeare-smoke", {**overrides, "data.token_dir": str(tmp_path / "tokens")},
                        out=tmp_path / "mapped")
    records = [without_timings(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())
               for run in (plain, mapped)]
    assert records[0] == records[1]
    summaries = [json.loads((run / "summary.json").read_text()) for run in (plain, mapped)]
    assert summaries[0]["test"] == summaries[1]["test"]


# -- the lazy windows cut the stream as the list-making code did ----------------------------


@pytest.mark.parametrize("dtype", [torch.long, torch.int32])
def test_train_windows_are_lm_windows(dtype):
    tokens = torch.randint(4, 30, (997,), generator=torch.Generator().manual_seed(1))
    s = lm.TokenStream(tokens.to(dtype), "s", 16)
    windows = lm.train_windows(s, 6, torch.Generator().manual_seed(3))
    offset = int(torch.randint(16, (1,), generator=torch.Generator().manual_seed(3)))
    per_row = (997 - 16 + 1) // 6
    expected = lm_windows(tokens[:offset + per_row * 6], 6, 16, offset)
    assert len(windows) == len(expected) and len(list(windows)) == len(expected)
    for window, (x, y) in zip(windows, expected):
        assert window.inputs.dtype == torch.long and torch.equal(window.inputs, x) and torch.equal(window.targets, y)
    assert torch.equal(windows[-1].inputs, expected[-1][0])
    with pytest.raises(IndexError):
        windows[len(expected)]
    share = windows.rows(2, 4)  # one process's rows under DDP
    assert all(torch.equal(a.inputs, b.inputs[2:4]) for a, b in zip(share, windows))


@pytest.mark.parametrize("n, rows", [(101, 4), (100, 7), (9, 4), (5, 16), (50, 49)])
def test_eval_windows_are_the_padded_grid(n, rows):
    tokens = torch.randint(4, 30, (n,), generator=torch.Generator().manual_seed(n))
    windows = lm.eval_windows(lm.TokenStream(tokens.to(torch.int32), "s", 3), rows)
    # the grid as the list-making code built it: the pairs padded at the end into R rows of L
    r = min(rows, n - 1)
    per_row = -(-(n - 1) // r)
    pad = r * per_row - (n - 1)
    inputs = torch.nn.functional.pad(tokens[:-1], (0, pad), value=PAD_ID).view(r, per_row)
    targets = torch.nn.functional.pad(tokens[1:], (0, pad), value=PAD_ID).view(r, per_row)
    assert torch.equal(torch.cat([w.inputs for w in windows], 1), inputs)
    assert torch.equal(torch.cat([w.targets for w in windows], 1), targets)
    assert [w.num_tokens for w in windows] == [int((targets[:, s:s + 3] != PAD_ID).sum())
                                               for s in range(0, per_row, 3)]


def test_reusing_the_files_reads_no_text(tmp_path, text, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    cfg = config.apply_overrides(recipe(tmp_path, path, tokenizer="char"), {"data.token_dir": str(tmp_path / "t")})
    first = lm.load_data(cfg)  # valid and test carved off the end: the characters counted, the text read
    with monkeypatch.context() as patched:
        patched.setattr(lm_tokens.Span, "_pieces", lambda self: pytest.fail("the text was read again"))
        again = lm.load_data(cfg)
    assert all(torch.equal(getattr(again, name).tokens, getattr(first, name).tokens) for name in ("train", "valid", "test"))
    lm.load_data(config.apply_overrides(cfg, {"data.valid_fraction": 0.2}))  # another carve: made anew
