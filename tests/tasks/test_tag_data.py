"""seqlab.tasks.tag data: UD English-EWT from the registry, the user's CoNLL-U files, and bad input."""

import json
import os
from pathlib import Path

import pytest

from seqlab import config
from seqlab.config import Config
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import tag

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SEQLAB_DATA_DIR") or REPO.parent / "shared" / "datasets")
needs_ewt = pytest.mark.skipif(not (ROOT / "ud_english_ewt").is_dir(), reason=f"{ROOT / 'ud_english_ewt'} is absent")
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]


def conllu(*sentences):
    """CoNLL-U text: each sentence a list of (form, upos, xpos); a multiword range line in the first."""
    blocks = []
    for n, words in enumerate(sentences):
        lines = [f"# sent_id = s{n}"] + (["1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_"] if n == 0 else [])
        lines += [f"{i}\t{form}\t{form.lower()}\t{upos}\t{xpos}\t_\t0\tdep\t_\t_"
                  for i, (form, upos, xpos) in enumerate(words, start=1)]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"


SENTENCES = [[("do", "AUX", "VBP"), ("n't", "PART", "RB"), ("go", "VERB", "VB")],
             [("Dogs", "NOUN", "NNS"), ("bark", "VERB", "VBP"), (".", "PUNCT", ".")],
             [("I", "PRON", "PRP"), ("run", "VERB", "VBP")]] * 4


def user_cfg(tmp_path, *overrides, files=("train", "valid", "test")):
    for name in files:
        (tmp_path / f"{name}.conllu").write_text(conllu(*SENTENCES), encoding="utf-8")
    paths = [f"data.{name}={tmp_path / f'{name}.conllu'}" for name in files]
    return config.apply_overrides(Config(), ["data.name=null", "data.format=conllu", "model.char_encoder=cnn",
                                             *paths, *overrides])


@pytest.fixture
def data_dir(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(ROOT))


@needs_ewt
def test_ud_english_ewt_official_splits_and_vocabularies(data_dir, tmp_path):
    cfg = config.apply_overrides(Config(), ["data.name=ud_english_ewt", "model.char_encoder=cnn"])
    data = tag.load_data(cfg)
    # Sentence counts from the treebank's own statistics (SOURCE.md): train 12,544 / dev 2,001 / test 2,077.
    assert (len(data.train), len(data.valid), len(data.test)) == (12544, 2001, 2077)
    assert sum(len(ex.tokens) for ex in data.test) == 25094  # words with an integer ID
    assert data.tags == UPOS
    assert all(len(ex.chars) == len(ex.tokens) for ex in data.train[:50])
    data.save(tmp_path)
    chars = json.loads((tmp_path / "chars.json").read_text())
    assert "e" in json.dumps(chars) and (tmp_path / "vocab.json").is_file()
    assert json.loads((tmp_path / "tags.json").read_text()) == UPOS


@needs_ewt
def test_ud_english_ewt_limits_are_seeded(data_dir):
    cfg = config.apply_overrides(Config(), ["data.name=ud_english_ewt", "data.limit_train=30", "data.limit_eval=10"])
    first, again = tag.load_data(cfg), tag.load_data(cfg)
    assert (len(first.train), len(first.valid), len(first.test)) == (30, 10, 10)
    assert first.train == again.train


@needs_ewt
def test_registry_treebank_gives_upos_only(data_dir):
    cfg = config.apply_overrides(Config(), ["data.name=ud_english_ewt", "data.tag_column=xpos"])
    with pytest.raises(ConfigError, match="data.tag_column: the registry dataset 'ud_english_ewt' gives UPOS"):
        tag.load_data(cfg)


def test_users_conllu_files_with_upos_and_xpos(tmp_path):
    data = tag.load_data(user_cfg(tmp_path))
    assert data.tags == ["AUX", "NOUN", "PART", "PRON", "PUNCT", "VERB"]
    assert len(data.train) == len(data.valid) == len(data.test) == 12
    first = data.train[0]  # the multiword range "don't" is skipped; its two words are kept
    assert [data.vocab.itos[i] for i in first.tokens] == ["do", "n't", "go"]
    assert ["".join(data.char_vocab.itos[c] for c in word) for word in first.chars] == ["do", "n't", "go"]
    xpos = tag.load_data(user_cfg(tmp_path, "data.tag_column=xpos"))
    assert xpos.tags == [".", "NNS", "PRP", "RB", "VB", "VBP"]


def test_missing_valid_and_test_are_carved_from_train(tmp_path):
    data = tag.load_data(user_cfg(tmp_path, "data.valid_fraction=0.25", "data.test_fraction=0.25", files=("train",)))
    assert (len(data.train), len(data.valid), len(data.test)) == (6, 3, 3)


def test_lowercase_applies_to_words_not_characters(tmp_path):
    data = tag.load_data(user_cfg(tmp_path, "data.lowercase=true"))
    assert "dogs" in data.vocab and "Dogs" not in data.vocab
    assert "D" in data.char_vocab


def test_malformed_conllu_line_names_file_and_line(tmp_path):
    cfg = user_cfg(tmp_path)
    lines = (tmp_path / "valid.conllu").read_text().splitlines()
    lines[4] = "2\tbroken\tNOUN"  # three fields instead of ten
    (tmp_path / "valid.conllu").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"valid.conllu:5: a CoNLL-U word line needs 10 tab-separated fields, got 3"):
        tag.load_data(cfg)


def test_tag_column_not_present(tmp_path):
    with pytest.raises(ConfigError, match="data.tag_column: expected one of upos, xpos, got 'xpso'; did you mean"):
        tag.load_data(user_cfg(tmp_path, "data.tag_column=xpso"))
    cfg = user_cfg(tmp_path, "data.tag_column=xpos")
    text = (tmp_path / "train.conllu").read_text()
    rows = [line.split("\t") for line in text.splitlines()]
    (tmp_path / "train.conllu").write_text("\n".join(
        "\t".join(row[:4] + ["_"] + row[5:]) if len(row) == 10 else "\t".join(row) for row in rows) + "\n")
    with pytest.raises(DataError, match=r"train.conllu: the xpos column is '_' \(empty\) on every word"):
        tag.load_data(cfg)


def test_user_files_need_the_conllu_format_and_a_train_file(tmp_path):
    with pytest.raises(ConfigError, match="data.format: the tag task reads CoNLL-U files, so expected 'conllu', "
                                          "got 'csv'"):
        tag.load_data(user_cfg(tmp_path, "data.format=csv"))
    with pytest.raises(ConfigError, match="data.train: expected a path to your training .conllu file"):
        tag.load_data(config.apply_overrides(Config(), ["data.name=null"]))
    with pytest.raises(ConfigError, match="data.train: set to .* while data.name is 'ud_english_ewt'"):
        tag.load_data(config.apply_overrides(Config(), ["data.name=ud_english_ewt", "data.train=x.conllu"]))


def test_unseen_test_tag_names_the_file(tmp_path):
    cfg = user_cfg(tmp_path)
    (tmp_path / "test.conllu").write_text(conllu([("Wow", "INTJ", "UH")]), encoding="utf-8")
    with pytest.raises(DataError, match=r"test.conllu: tags \['INTJ'\] do not occur in the training split"):
        tag.load_data(cfg)


def test_recipes_and_new_keys_are_checked():
    full = config.load("ud-pos-bilstm")
    assert (full.data.name, full.model.char_encoder, full.model.num_layers, full.model.bidirectional) == \
        ("ud_english_ewt", "lstm", 2, True)
    assert config.load("ud-pos-smoke").data.limit_train == 400
    with pytest.raises(ConfigError, match="model.char_kernel_size: expected an odd integer >= 1, got 4"):
        config.apply_overrides(Config(), ["model.char_kernel_size=4"])
    with pytest.raises(ConfigError, match=r"model.word_dropout: expected a number in \[0, 1\), got 1.0"):
        config.apply_overrides(Config(), ["model.word_dropout=1.0"])
    with pytest.raises(ConfigError, match="model.char_encoder: expected one of none, cnn, lstm, got 'rnn'"):
        config.apply_overrides(Config(), ["model.char_encoder=rnn"])
