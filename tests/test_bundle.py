"""seqlab.load: a run dir back as a predictor, checked against what the trained model did."""

import csv
import json
import shutil
import warnings

import pytest
import torch

import seqlab
from seqlab import bundle, config, decode
from seqlab.data.batching import pad
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, UnknownTokenWarning
from seqlab.errors import ConfigError, DataError
from seqlab.runs import list_runs
from seqlab.tasks import seq2seq, tag


def _summary(run):
    return json.loads((run / "summary.json").read_text())


def test_classify_predictions_score_the_summary_test_accuracy(classify_run):
    clf = seqlab.load(classify_run)
    assert isinstance(clf, bundle.Classifier)
    cfg = config.load(classify_run / "config.yaml")
    with open(cfg.data.train, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    test_rows = [rows[i] for i in json.loads((classify_run / "split.json").read_text())["indices"]["test"]]
    predictions = clf.predict([row["text"] for row in test_rows])
    right = sum(label == row["label"] for (label, _), row in zip(predictions, test_rows))
    # Both are (number right) / (test examples): equal exactly, not approximately.
    assert right / len(test_rows) == _summary(classify_run)["test"]["accuracy"]
    probabilities = clf.predict_proba([row["text"] for row in test_rows])
    for (label, p), row in zip(predictions, probabilities):
        assert set(row) == set(clf.labels) and sum(row.values()) == pytest.approx(1.0, abs=1e-6)
        assert row[label] == pytest.approx(p) and p == pytest.approx(max(row.values()))


def test_classifier_reads_what_eval_truncate_says(classify_run):
    clf = seqlab.load(classify_run)
    text = " ".join(["good"] * 30)
    clf.cfg = config.apply_overrides(clf.cfg, ["data.max_tokens_per_example=4"])
    assert len(clf.encode(text)) == 4  # cut as training cut
    clf.cfg = config.apply_overrides(clf.cfg, ["eval.truncate=false"])
    assert len(clf.encode(text)) == 30  # whole


def test_tag_predictions_equal_the_models_and_score_the_summary(tag_run):
    tagger = seqlab.load(tag_run)
    data = tag.load_data(config.load(tag_run / "config.yaml"))
    tokens = [[data.vocab.itos[i] for i in example.tokens] for example in data.test]
    predicted = tagger.predict(tokens)
    assert predicted == tagger.predict([" ".join(t) for t in tokens])  # texts split on whitespace
    right = sum(p == data.tags[t] for example, row in zip(data.test, predicted) for p, t in zip(row, example.tags))
    total = sum(len(example.tags) for example in data.test)
    assert right / total == _summary(tag_run)["test"]["token_accuracy"]
    assert tagger.predict(["", []]) == [[], []]


def test_translate_equals_the_models_greedy_predictions(dates_run):
    translator = seqlab.load(dates_run)
    data = seq2seq.load_data(config.load(dates_run / "config.yaml"))
    model = translator.model
    expected = model.predict(seq2seq.collate(data.test))  # the training code's own greedy decoding
    sources = [data.tokenizer.detokenize(data.src_vocab.decode(example.src)) for example in data.test]
    got = translator.translate(sources)
    assert got == [data.tokenizer.detokenize(data.tgt_vocab.decode(ids)) for ids in expected]
    exact = sum(ids == example.tgt for ids, example in zip(expected, data.test)) / len(data.test)
    assert exact == _summary(dates_run)["test"]["exact_match"]


def test_beam_size_one_is_greedy(dates_run):
    """The invariance decode promises, through the bundle's one search function."""
    translator = seqlab.load(dates_run)
    ids = [translator.source_ids(text) for text in ["Nov 23, 26", "23.11.2026", "Monday, March 2nd 1999"]]
    src, lengths, _ = pad(ids, PAD_ID)
    with torch.no_grad():
        greedy = translator.model.search(src, lengths, beam_size=1, max_len=30)
    with torch.no_grad():
        state = translator.model.initial_state(translator.model.encode(src, lengths))
        beam = decode.beam_search(translator.model.step, state, 3, SOS_ID, EOS_ID, 30, 1, pad_id=PAD_ID)
    assert torch.equal(greedy.tokens, beam.tokens) and torch.equal(greedy.lengths, beam.lengths)
    assert torch.allclose(greedy.scores, beam.scores)
    assert translator.translate(["Nov 23, 26"], beam_size=1) == [translator.translate(["Nov 23, 26"])[0]]
    wide = translator.translate(["Nov 23, 26"], beam_size=4, return_attention=True)[0]
    assert isinstance(wide.text, str) and wide.score <= 0.0  # a log-probability


def test_translate_attention_rows_sum_to_one(dates_run):
    result = seqlab.load(dates_run).translate(["Nov 23, 26"], return_attention=True)[0]
    assert result.attention.shape[1] == len(result.source_tokens) == len("Nov 23, 26")
    assert result.attention.shape[0] in (len(result.output_tokens), len(result.output_tokens) + 1)
    assert torch.allclose(result.attention.sum(dim=1), torch.ones(result.attention.shape[0]), atol=1e-5)


def test_translate_bad_inputs(dates_run):
    translator = seqlab.load(dates_run)
    assert translator.translate(["", "Nov 23, 26", ""])[0::2] == ["", ""]  # empty source: empty output
    with pytest.warns(UnknownTokenWarning, match="every token"):
        assert isinstance(translator.translate(["§§§"])[0], str)
    with pytest.raises(DataError, match="longer than the maximum 4"):
        translator.translate(["Nov 23, 26"], max_source_len=4, on_long="refuse")
    with pytest.warns(bundle.LongSourceWarning, match="kept its first 4 tokens"):
        cut = translator.translate(["Nov 23, 26"], max_source_len=4, return_attention=True)[0]
    assert cut.source_tokens == list("Nov ")
    with pytest.raises(ValueError, match="beam size must be an integer >= 1, got 0"):
        translator.translate(["x"], beam_size=0)
    with pytest.raises(ValueError, match="max length must be an integer > 0, got 0"):
        translator.translate(["x"], max_len=0)
    with pytest.raises(TypeError, match="wrap it"):
        translator.translate("Nov 23, 26")


def test_no_warning_for_known_tokens(dates_run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seqlab.load(dates_run).translate(["Nov 23, 26"])


def test_not_a_run_dir(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        seqlab.load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="config.yaml is missing"):
        seqlab.load(tmp_path)


def test_missing_weights(tag_run, tmp_path):
    copy = shutil.copytree(tag_run, tmp_path / "run")
    (copy / "model.safetensors").unlink()
    with pytest.raises(DataError, match=r"model.safetensors is missing"):
        seqlab.load(copy)


def test_truncated_weights_are_an_error_and_the_file_is_untouched(tag_run, tmp_path):
    copy = shutil.copytree(tag_run, tmp_path / "run")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    before = weights.read_bytes()
    files_before = sorted(p.name for p in copy.rglob("*"))
    with pytest.raises(DataError, match=r"run/model.safetensors is corrupted or truncated: "):
        seqlab.load(copy)
    assert weights.read_bytes() == before
    assert sorted(p.name for p in copy.rglob("*")) == files_before


def test_garbage_weights(tag_run, tmp_path):
    copy = shutil.copytree(tag_run, tmp_path / "run")
    (copy / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="corrupted or truncated"):
        seqlab.load(copy)


def test_weights_that_do_not_fit_the_config_name_the_parameter(tag_run, tmp_path):
    copy = shutil.copytree(tag_run, tmp_path / "run")
    text = (copy / "config.yaml").read_text()
    (copy / "config.yaml").write_text(text.replace("embedding_dim: 16", "embedding_dim: 12"))
    with pytest.raises(DataError, match=r"parameter 'embedding.weight' has shape \(\d+, 16\) in the file, "
                                        r"the config builds \(\d+, 12\)"):
        seqlab.load(copy)


def test_a_broken_config_names_the_file(tag_run, tmp_path):
    copy = shutil.copytree(tag_run, tmp_path / "run")
    (copy / "config.yaml").write_text("task: tag\nmodel:\n  hiden_size: 3\n")
    with pytest.raises(ConfigError, match=r"run/config.yaml: unknown key 'model.hiden_size'"):
        seqlab.load(copy)


def test_list_runs_newest_first_and_unfinished(tag_run, dates_run, tmp_path):
    import os

    shutil.copytree(tag_run, tmp_path / "a")
    shutil.copytree(dates_run, tmp_path / "b")
    (tmp_path / "c").mkdir()
    shutil.copy(tag_run / "config.yaml", tmp_path / "c" / "config.yaml")  # started, never finished
    (tmp_path / "not-a-run").mkdir()
    for name, when in (("a", 1_000_000), ("b", 3_000_000), ("c", 2_000_000)):
        os.utime(tmp_path / name / "config.yaml", (when, when))
    runs = list_runs(tmp_path)
    assert [run.path.name for run in runs] == ["b", "c", "a"]
    assert [run.finished for run in runs] == [True, False, True]
    assert runs[0].task == "seq2seq" and runs[0].metric == "exact_match"
    assert runs[0].value == _summary(dates_run)["headline"]["value"]
    assert runs[1].task == "tag" and runs[1].value is None and runs[1].best_epoch is None


def test_a_corpus_seq2seq_run_loads_and_translates_with_its_recipe_beam(tmp_path):
    """A run on parallel text (BLEU-scored, scheduled sampling) rebuilds without its data:
    the bundle's build_model call must not need the training examples or the corpus."""
    pairs = [("ein hund läuft", "a dog runs"), ("eine katze schläft", "a cat sleeps"),
             ("ein mann singt", "a man sings"), ("eine frau lacht", "a woman laughs")] * 10
    (tmp_path / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    run = seqlab.train("multi30k-smoke", {"data.name": None, "data.direction": None, "data.format": "parallel",
                                          "data.train": str(tmp_path / "pairs.tsv"), "data.min_freq": 1,
                                          "data.limit_train": None, "data.limit_eval": None,
                                          "model.hidden_size": 16, "model.embedding_dim": 8, "train.epochs": 2,
                                          "train.teacher_forcing": 0.5, "train.teacher_forcing_schedule": "linear"},
                       out=tmp_path / "run")
    translator = seqlab.load(run)
    assert isinstance(translator, bundle.Translator) and translator.model.target_text is not None
    got = translator.translate(["ein hund läuft", ""], beam_size=2)
    assert len(got) == 2 and isinstance(got[0], str) and got[1] == ""


def _write_conllu(path, sentences):
    lines = []
    for sentence in sentences:
        for i, (word, upos) in enumerate(sentence, 1):
            lines.append(f"{i}\t{word}\t_\t{upos}\t_\t_\t0\t_\t_\t_")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_char_cnn_tagger_on_lowercased_words_predicts_as_it_was_scored(tmp_path):
    """Regression: the bundle encoded words without the recipe's lowercasing and without
    their spellings, so a char-encoder tagger could not predict at all."""
    import random

    rng = random.Random(0)
    nouns, verbs = ["Dog", "cat", "Bird", "fish", "Horse"], ["runs", "Sleeps", "eats", "sings"]
    sentences = [[("The", "DET"), (rng.choice(nouns), "NOUN"), (rng.choice(verbs), "VERB")] for _ in range(60)]
    for name, part in (("train", sentences[:40]), ("valid", sentences[40:50]), ("test", sentences[50:])):
        _write_conllu(tmp_path / f"{name}.conllu", part)
    run = seqlab.train("ud-pos-smoke", {"data.name": None, "data.format": "conllu", "data.lowercase": True,
                                        "data.train": str(tmp_path / "train.conllu"),
                                        "data.valid": str(tmp_path / "valid.conllu"),
                                        "data.test": str(tmp_path / "test.conllu"),
                                        "data.limit_train": None, "data.limit_eval": None, "train.epochs": 2},
                       out=tmp_path / "run")
    tagger = seqlab.load(run)
    assert tagger.saved.char_vocab is not None
    predicted = tagger.predict([[word for word, _ in sentence] for sentence in sentences[50:]])
    right = sum(p == gold for row, sentence in zip(predicted, sentences[50:]) for p, (_, gold) in zip(row, sentence))
    assert right / (3 * len(sentences[50:])) == _summary(run)["test"]["token_accuracy"]
