"""model.init_from (an lm run starts a classifier) and model.embedding.pretrained (word vectors)."""

import csv

import pytest
import torch
from safetensors.torch import load_file

import seqlab
from seqlab import config
from seqlab.embeddings import WordVectors
from seqlab.errors import ConfigError, DataError
from seqlab.initialize import initialize
from seqlab.tasks import classify, tag

from conftest import FILLER, write_reviews

LM = {"data.name": None, "data.format": "text", "data.tokenizer": "word", "data.bptt": 8, "model.embedding_dim": 8,
      "model.hidden_size": 16, "train.epochs": 1, "train.batch_size": 4, "train.device": "cpu"}
CLASSIFY = {"model.embedding_dim": 8, "model.hidden_size": 16, "model.num_layers": 1, "model.bidirectional": False,
            "train.epochs": 1, "train.device": "cpu", "train.checkpoint_every": None}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reviews")
    write_reviews(folder / "reviews.csv", n=200)
    with open(folder / "reviews.csv", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    (folder / "reviews.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def lm_run(reviews):
    """A word-level LSTM language model of the review texts."""
    return seqlab.train("shakespeare-smoke", {**LM, "data.train": str(reviews / "reviews.txt")},
                        out=reviews / "lm")


def classify_cfg(reviews, **overrides):
    return config.resolve("classify-csv", {**CLASSIFY, "data.train": str(reviews / "reviews.csv"), **overrides})


@pytest.mark.filterwarnings("ignore::seqlab.data.vocab.UnknownTokenWarning")  # the lm's carved valid split
def test_lm_run_initializes_the_classifier(reviews, lm_run):
    cfg = classify_cfg(reviews, **{"model.init_from": str(lm_run)})
    data = classify.load_data(cfg)
    assert data.vocab == seqlab.load(lm_run).saved.vocab  # the classifier reads the lm's token ids
    model = classify.build_model(cfg, data)
    notes = initialize(cfg, model, data, fresh=True)
    assert notes[0].startswith("model.init_from: embedding and 1-layer lstm encoder (")
    lm_weights = load_file(lm_run / "model.safetensors")
    state = model.state_dict()
    copied = [name for name in lm_weights if name.startswith(("embedding.", "encoder."))]
    assert len(copied) == 5  # embedding.weight; encoder.weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0
    for name in copied:
        assert torch.equal(state[name], lm_weights[name]), name
    # A whole run: the run dir carries the lm's vocabulary, and its bundle predicts.
    run = seqlab.train("classify-csv", {**CLASSIFY, "data.train": str(reviews / "reviews.csv"),
                                        "model.init_from": str(lm_run)}, out=reviews / "classify")
    assert (run / "vocab.json").read_text() == (lm_run / "vocab.json").read_text()
    assert seqlab.load(run).predict(["the film was good"])[0][0] in ("pos", "neg")


@pytest.mark.parametrize("overrides, message", [
    ({"model.hidden_size": 32}, "model.hidden_size is 16 there and 32 here"),
    ({"model.encoder": "gru", "model.embedding_dim": 4}, "model.encoder is 'lstm' there and 'gru' here; "
                                                         "model.embedding_dim is 8 there and 4 here"),
    ({"model.bidirectional": True}, "model.bidirectional is true here, and the language model reads left to right"),
    ({"data.tokenizer": "char", "data.lowercase": False}, "data.tokenizer is 'word' there and 'char' here"),
])
def test_an_lm_of_another_shape_is_refused(reviews, lm_run, overrides, message):
    cfg = classify_cfg(reviews, **{"model.init_from": str(lm_run)}, **overrides)
    with pytest.raises(ConfigError, match=f"model.init_from: {lm_run} does not fit this model: .*{message}"):
        classify.load_data(cfg)


def test_init_from_needs_an_lm_run(reviews, tag_run):
    with pytest.raises(ConfigError, match=f"model.init_from: {tag_run} is a tag run; expected an lm run"):
        classify.load_data(classify_cfg(reviews, **{"model.init_from": str(tag_run)}))
    with pytest.raises(ConfigError, match=f"model.init_from: {reviews / 'nowhere'}: not a run dir"):
        classify.load_data(classify_cfg(reviews, **{"model.init_from": str(reviews / "nowhere")}))


def vectors_file(path, words, dim, binary=False, seed=0):
    vectors = WordVectors(list(words), torch.randn(len(words), dim, generator=torch.Generator().manual_seed(seed)))
    vectors.save_word2vec_format(path, binary=binary)
    return vectors


@pytest.mark.parametrize("binary", [False, True])
def test_pretrained_vectors_start_the_embedding(reviews, tmp_path, binary):
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    vectors = vectors_file(path, [*FILLER, "absent"], 8, binary=binary)
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(path)})
    data = classify.load_data(cfg)
    torch.manual_seed(0)
    model = classify.build_model(cfg, data)
    before = model.embedding.weight.detach().clone()
    (note,) = initialize(cfg, model, data, fresh=True)
    # Every review is 3 filler words and 1 sentiment word (tests/conftest.py), so the 6 filler words,
    # all in the file, cover 3/4 of the training tokens; the vocabulary is those 6 and the 10 sentiment words.
    assert note == (f"model.embedding.pretrained: 6 of 16 vocabulary words found in {path} (6 as spelled, "
                    f"0 lower-cased; 37.5%); they cover 75.0% of the {4 * len(data.train):,} training tokens")
    weight = model.embedding.weight.detach()
    for word in FILLER:
        assert torch.equal(weight[data.vocab[word]], vectors[word])
    others = [i for i in range(1, len(data.vocab)) if data.vocab.itos[i] not in FILLER]
    assert torch.equal(weight[others], before[others])
    assert torch.equal(weight[0], torch.zeros(8))  # padding stays zero


def test_a_word2vec_run_dir_gives_its_vectors_and_another_run_is_refused(reviews, lm_run, tmp_path):
    text = reviews / "reviews.txt"
    w2v = seqlab.train("word2vec-lee", {"data.name": None, "data.format": "text", "data.train": str(text),
                                        "data.min_freq": 1, "model.embedding_dim": 8, "train.epochs": 1,
                                        "word2vec.analogies": None}, out=tmp_path / "w2v")
    vectors = WordVectors.from_run(w2v)
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(w2v)})
    data = classify.load_data(cfg)
    model = classify.build_model(cfg, data)
    (note,) = initialize(cfg, model, data, fresh=True)
    assert note.startswith(f"model.embedding.pretrained: 16 of 16 vocabulary words found in {w2v} ")
    for word in FILLER:
        assert torch.equal(model.embedding.weight.detach()[data.vocab[word]], vectors[word])
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(lm_run)})  # an lm run: no word vectors
    with pytest.raises(DataError, match="not a word2vec run"):
        initialize(cfg, classify.build_model(cfg, data), data, fresh=True)


def test_frozen_pretrained_embedding_stays_put(reviews, tmp_path):
    path = tmp_path / "vectors.txt"
    vectors = vectors_file(path, FILLER, 8)
    run = seqlab.train("classify-csv", {**CLASSIFY, "data.train": str(reviews / "reviews.csv"),
                                        "model.embedding.pretrained": str(path), "model.embedding.freeze": True},
                       out=tmp_path / "run")
    weight = load_file(run / "model.safetensors")["embedding.weight"]
    vocab = seqlab.load(run).saved.vocab
    for word in FILLER:
        assert torch.equal(weight[vocab[word]], vectors[word])


def test_lower_cased_match_and_tag_task(tmp_path):
    cfg = config.resolve("toy-tag", {"data.num_train": 50, "data.num_valid": 10, "data.num_test": 10})
    data = tag.load_data(cfg)
    words = data.vocab.itos[4:]
    path = tmp_path / "vectors.txt"
    vectors = vectors_file(path, [words[0], words[1].upper() + "x", "zzz"], cfg.model.embedding_dim)
    model = tag.build_model(cfg, data)
    (note,) = initialize(config.apply_overrides(cfg, {"model.embedding.pretrained": str(path)}), model, data, True)
    assert f"1 of {len(words)} vocabulary words found" in note
    assert torch.equal(model.embedding.weight[4].detach(), vectors[words[0]])


def test_dimension_mismatch_names_key_and_sizes(reviews, tmp_path):
    path = tmp_path / "vectors.txt"
    vectors_file(path, FILLER, 5)
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(path)})
    data = classify.load_data(cfg)
    with pytest.raises(ConfigError, match=r"model.embedding.pretrained: .*vectors.txt holds 5-dimensional vectors, "
                                          r"and model.embedding_dim is 8; expected them equal"):
        initialize(cfg, classify.build_model(cfg, data), data, fresh=True)


def test_tasks_without_one_token_embedding_refuse(tmp_path):
    cfg = config.resolve("dates-smoke", {"model.embedding.pretrained": str(tmp_path / "v.txt")})
    with pytest.raises(ConfigError, match=r"model.embedding.pretrained: the model has no single token embedding "
                                          r"to start \(the task is 'seq2seq'\)"):
        initialize(cfg, torch.nn.Linear(1, 1), None, fresh=True)


def test_extend_vocab_adds_the_pretrained_words_train_lacks(reviews, tmp_path):
    path = tmp_path / "vectors.txt"
    vectors = vectors_file(path, [*FILLER, "unseen", "Capital", "other"], 8)
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(path), "model.embedding.extend_vocab": True})
    plain = classify.load_data(classify_cfg(reviews))
    data = classify.load_data(cfg)
    # The training vocabulary first, then the file's words it lacks; 'Capital' never comes out of a lower-casing
    # tokenizer (classify-csv lower-cases), so it is not added.
    assert cfg.data.lowercase and data.vocab.itos == [*plain.vocab.itos, "unseen", "other"]
    model = classify.build_model(cfg, data)
    assert model.embedding.num_embeddings == len(plain.vocab) + 2
    (note,) = initialize(cfg, model, data, fresh=True)
    assert "8 of 18 vocabulary words found" in note
    assert torch.equal(model.embedding.weight[data.vocab["unseen"]].detach(), vectors["unseen"])
    # A text with a word that only the vectors know reads it, not <unk>.
    assert data.vocab.encode(["unseen"]) == [data.vocab["unseen"]]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model.embedding.extend_vocab": True}, "model.embedding.pretrained, which is null"),
    ({"model.embedding.extend_vocab": True, "model.embedding.pretrained": "v.txt", "task": "lm"},
     r"classify and tag models \(the task is 'lm'\)"),
])
def test_extend_vocab_without_vectors_or_for_another_task_is_refused(overrides, message):
    cfg = config.resolve("shakespeare-smoke", overrides) if overrides.get("task") == "lm" else \
        config.resolve("imdb-smoke", overrides)
    with pytest.raises(ConfigError, match=f"model.embedding.extend_vocab: .*{message}"):
        initialize(cfg, torch.nn.Linear(1, 1), None, fresh=True)


def test_missing_vectors_name_the_key_and_how_to_make_them(reviews, tmp_path):
    cfg = classify_cfg(reviews, **{"model.embedding.pretrained": str(tmp_path / "nowhere"),
                                   "model.embedding.extend_vocab": True})
    with pytest.raises(DataError, match=r"model.embedding.pretrained: .*nowhere: no such file or folder; .*"
                                        r"seqlab word2vec run dir"):
        classify.load_data(cfg)
