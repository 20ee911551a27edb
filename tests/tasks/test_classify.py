"""seqlab.tasks.classify: shapes, pooling ignores padding, exact metrics, data errors."""

import json

import pytest
import torch

from seqlab import config
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import TASKS, classify

POOLINGS = ["last", "mean", "max", "attention"]


def small_model(**kwargs):
    torch.manual_seed(0)
    return classify.Classifier(12, 3, embedding_dim=8, hidden_size=16, **kwargs)


def examples():
    """Texts of different lengths (ids below 12, at least one token) with labels 0..2."""
    rows = [[4, 5, 6, 7, 8], [9], [10, 11, 4], [5, 5, 5, 5, 5, 5, 5], [6, 7], [8, 9, 10, 11]]
    return [classify.ClassifyExample(tokens, i % 3) for i, tokens in enumerate(rows)]


def csv_file(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    return str(path)


def user_config(**data):
    return config.from_dict({"task": "classify", "data": {"name": None, **data}})


def test_the_task_table_names_classify():
    assert TASKS["classify"].headline == "accuracy" and TASKS["classify"].report is classify.report


def test_collate_pads_and_keeps_lengths_on_cpu():
    batch = classify.collate([classify.ClassifyExample([4, 5, 6], 1), classify.ClassifyExample([2], 0)], pad_to=5)
    assert batch.tokens.tolist() == [[4, 5, 6, 0, 0], [2, 0, 0, 0, 0]]
    assert batch.labels.tolist() == [1, 0] and batch.lengths.tolist() == [3, 1]
    assert batch.num_tokens == 4 and batch.mask().sum().item() == 4


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(pooling, encoder, bidirectional):
    model = small_model(pooling=pooling, encoder=encoder, bidirectional=bidirectional, num_layers=2)
    batch = classify.collate(examples())
    assert model(batch.tokens, batch.lengths).shape == (6, 3)
    assert model.loss(batch).shape == ()
    labels, probabilities = model.predict(batch)
    assert len(labels) == 6 and probabilities.shape == (6, 3)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(6))


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_pooling_ignores_padding(pooling, encoder, bidirectional):
    model = small_model(pooling=pooling, encoder=encoder, bidirectional=bidirectional).eval()
    tight, padded = classify.collate(examples()), classify.collate(examples(), pad_to=30)
    assert padded.tokens.shape[1] == 30 > tight.tokens.shape[1]
    torch.testing.assert_close(model(padded.tokens, padded.lengths), model(tight.tokens, tight.lengths))
    # And each row alone (no padding at all) gives its row of the batch.
    alone = torch.cat([model(*_single(example)) for example in examples()])
    torch.testing.assert_close(alone, model(padded.tokens, padded.lengths))


def _single(example):
    batch = classify.collate([example])
    return batch.tokens, batch.lengths


def test_last_pooling_is_forward_end_and_backward_start():
    # Reference: the final states of a BiLSTM are the forward output at the last real step
    # and the backward output at step 0.
    model = small_model(pooling="last", bidirectional=True).eval()
    batch = classify.collate(examples(), pad_to=9)
    h, _, final = model.encode(batch.tokens, batch.lengths)
    pooled = model.pool(h, final, batch.mask())
    last = batch.lengths - 1
    forward_end = h[torch.arange(6), last, :16]
    torch.testing.assert_close(pooled, torch.cat([forward_end, h[:, 0, 16:]], dim=1))


def test_max_mean_pooling_is_the_max_and_the_mean_over_real_steps_side_by_side():
    model = small_model(pooling="max+mean", bidirectional=True).eval()
    batch = classify.collate(examples(), pad_to=9)
    h, _, final = model.encode(batch.tokens, batch.lengths)  # (6, 9, 32)
    pooled = model.pool(h, final, batch.mask())
    assert pooled.shape == (6, 64) and model.head.in_features == 64
    for row, length in enumerate(batch.lengths.tolist()):  # by hand, one row at a time
        real = h[row, :length]  # (length, 32)
        torch.testing.assert_close(pooled[row], torch.cat([real.max(dim=0).values, real.mean(dim=0)]))


def test_macro_f1_hand_computed():
    # true = [0, 0, 1, 1, 2, 2], predicted = [0, 1, 1, 1, 2, 0]:
    #   class 0: tp 1, fp 1 (the last row), fn 1 (row 1) -> F1 = 2/(2+1+1) = 1/2
    #   class 1: tp 2, fp 1 (row 1), fn 0             -> F1 = 4/(4+1+0) = 4/5
    #   class 2: tp 1, fp 0, fn 1 (the last row)      -> F1 = 2/(2+0+1) = 2/3
    # macro-F1 = (1/2 + 4/5 + 2/3) / 3 = 59/90 = 0.6556; accuracy = 4/6.
    assert classify.macro_f1([1, 2, 1], [1, 1, 0], [1, 0, 1]) == pytest.approx(59 / 90)
    assert classify.macro_f1([0, 3], [0, 0], [0, 0]) == 1.0  # class 0 never true nor predicted: left out
    true, predicted = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    model = small_model()
    logits = torch.nn.functional.one_hot(torch.tensor(predicted), 3).float() * 5.0  # (6, 3), argmax = predicted
    model.forward = lambda tokens, lengths: logits[tokens[:, 0] - 4]  # row i has first token 4 + i
    rows = [classify.ClassifyExample([4 + i], label) for i, label in enumerate(true)]
    totals = {}
    for part in (rows[:4], rows[4:]):  # two batches add up, as in the training loop
        for name, (value, count) in model.metrics(classify.collate(part)).items():
            total = totals.setdefault(name, [0.0, 0])
            total[0], total[1] = total[0] + value, total[1] + count
    final = model.finalize_metrics({name: tuple(total) for name, total in totals.items()})
    assert set(final) == {"loss", "accuracy", "macro_f1"}
    assert final["accuracy"] == pytest.approx(4 / 6) and final["macro_f1"] == pytest.approx(59 / 90)


def test_confusion_matrix_text_and_plot(tmp_path):
    counts = torch.tensor([[5, 1], [0, 12]])
    text = classify.format_confusion(counts, ["neg", "pos"])
    assert text.splitlines()[2].split() == ["0", "neg", "5", "1"]
    assert text.splitlines()[3].split() == ["1", "pos", "0", "12"]
    classify.plot_confusion(counts, ["neg", "pos"], tmp_path / "plots" / "confusion.png")
    assert (tmp_path / "plots" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_overfits_one_batch():
    model = small_model(pooling="attention", bidirectional=True)
    batch = classify.collate(examples())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    assert model.loss(batch).item() < 0.05


def test_user_files_build_vocab_and_labels_from_train_and_save(tmp_path):
    rows = [(f"good film number {i}", "pos") if i % 2 else (f"bad film number {i}", "neg") for i in range(50)]
    cfg = user_config(train=csv_file(tmp_path / "my.csv", rows))
    data = classify.load_data(cfg)
    assert data.labels == ["neg", "pos"]
    assert (len(data.train), len(data.valid), len(data.test)) == (40, 5, 5)  # 10% + 10% carved from train
    assert classify.load_data(cfg).split == data.split  # seeded
    run = tmp_path / "run"
    run.mkdir()
    data.save(run)
    assert json.loads((run / "labels.json").read_text()) == ["neg", "pos"]
    assert (run / "tokenizer.json").is_file() and (run / "vocab.json").is_file()
    split = json.loads((run / "split.json").read_text())
    assert sorted(i for rows in split["indices"].values() for i in rows) == list(range(50))
    assert split["about"]["carved_from_train"] == {"valid": 0.1, "test": 0.1}


def test_limits_and_truncation(tmp_path):
    rows = [("a b c d e f g", "x" if i % 2 else "y") for i in range(100)]
    cfg = user_config(train=csv_file(tmp_path / "my.csv", rows), limit_train=10, limit_eval=3,
                      max_tokens_per_example=4)
    data = classify.load_data(cfg)
    assert (len(data.train), len(data.valid), len(data.test)) == (10, 3, 3)
    assert all(len(example.tokens) == 4 for example in data.train)


def test_eval_truncate_false_scores_whole_texts_and_keeps_the_training_vocabulary(tmp_path):
    # Training texts are cut at 3 tokens either way; with eval.truncate false the scored splits and
    # predict's inputs keep all 7, and the vocabulary (built from the cut training texts) is the same.
    rows = [(f"w{i % 5} a b c d e w{i % 7}", "x" if i % 2 else "y") for i in range(60)]
    keys = {"train": csv_file(tmp_path / "my.csv", rows), "max_tokens_per_example": 3}
    cut = classify.load_data(user_config(**keys))
    whole = classify.load_data(config.apply_overrides(user_config(**keys), ["eval.truncate=false"]))
    assert [e.tokens for e in whole.train] == [e.tokens for e in cut.train]
    assert all(len(e.tokens) == 3 for e in cut.valid + cut.test + whole.train)
    assert all(len(e.tokens) == 7 for e in whole.valid + whole.test)
    assert whole.vocab.itos == cut.vocab.itos
    assert [e.tokens[:3] for e in whole.test] == [e.tokens for e in cut.test]


@pytest.mark.parametrize("task", ["tag", "lm", "seq2seq"])
def test_eval_truncate_false_is_refused_where_nothing_reads_it(task):
    with pytest.raises(ConfigError, match=f"eval.truncate: task '{task}' does not use it"):
        config.from_dict({"task": task, "eval": {"truncate": False}})


def test_a_label_not_in_train_is_an_error_naming_split_and_label(tmp_path):
    train = csv_file(tmp_path / "train.csv", [("one", "a"), ("two", "b")] * 5)
    test = csv_file(tmp_path / "test.csv", [("three", "a"), ("four", "c")])
    with pytest.raises(DataError, match=r"split 'test' has labels not seen in train: \['c'\]"):
        classify.load_data(user_config(train=train, valid=train, test=test))


def test_a_missing_column_names_the_columns_the_file_has(tmp_path):
    path = csv_file(tmp_path / "reviews.csv", [("fine", "1")], header="review,stars")
    with pytest.raises(DataError, match=r"no column 'text'; the file has columns \['review', 'stars'\]"):
        classify.load_data(user_config(train=path))
    data = classify.load_data(user_config(train=path, valid=path, test=path, text_column="review",
                                          label_column="stars"))
    assert data.labels == ["1"]


@pytest.mark.parametrize("data, message", [
    ({"name": "imdb", "train": "my.csv"}, "data.train: set to 'my.csv' while data.name is 'imdb'"),
    ({"name": None}, "data.train: expected a path to your training file"),
    ({"name": "imbd"}, "data.name: unknown dataset 'imbd' for task 'classify'; did you mean 'imdb'?"),
    ({"name": None, "train": "x.csv", "tokenizer": "char", "lowercase": True}, "data.lowercase: only the word"),
])
def test_config_mistakes_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        classify.load_data(config.from_dict({"task": "classify", "data": data}))


@pytest.mark.parametrize("override, message", [
    ("model.pooling=sum", "model.pooling: expected one of last, mean, max, max+mean, attention, got 'sum'"),
    ("data.valid_fraction=1.5", "data.valid_fraction: expected a number in (0, 1), got 1.5"),
    ("data.limit_train=0", "data.limit_train: expected an integer >= 1, or null, got 0"),
])
def test_new_config_keys_are_checked(override, message):
    with pytest.raises(ConfigError) as error:
        config.apply_overrides(config.Config(), [override])
    assert message in str(error.value)


def test_plain_text_files_are_for_lm_not_classify(tmp_path):
    (tmp_path / "t.txt").write_text("some text\n")
    cfg = config.apply_overrides(config.Config(task="classify"), {"data.name": None, "data.format": "text",
                                                                  "data.train": str(tmp_path / "t.txt")})
    with pytest.raises(ConfigError, match="data.format: task 'classify' reads csv, tsv or jsonl files"):
        classify.load_data(cfg)


def test_word_dropout_replaces_real_tokens_by_unk_in_training_only():
    model = small_model(word_dropout=0.5, pooling="mean")
    seen = []
    model.embedding.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    batch = classify.collate(examples() * 8, pad_to=9)  # ids 4..11: none is UNK_ID (1) before dropout
    real = batch.tokens != 0
    model.train()
    model.loss(batch)
    dropped = seen[-1] == 1
    assert 0.4 < dropped[real].float().mean().item() < 0.6  # ~ Binomial(n = 240, 0.5) / n
    assert not dropped[~real].any() and (seen[-1][~real] == 0).all()  # padding stays padding
    assert ((seen[-1] == batch.tokens) | dropped).all()  # a token is either kept or replaced by UNK
    model.eval()
    model.loss(batch)
    assert torch.equal(seen[-1], batch.tokens)


def test_no_word_dropout_draws_no_random_numbers():
    """word_dropout 0 leaves the random stream alone, so seeded runs without it are unchanged."""
    model = small_model(pooling="mean")
    batch = classify.collate(examples())
    model.train()
    torch.manual_seed(3)
    model.loss(batch)
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(torch.rand(1), after)


def test_word_dropout_is_refused_for_numeric_feature_steps():
    cfg = config.from_dict({"task": "classify", "model": {"word_dropout": 0.1},
                            "data": {"name": None, "format": "sequences-jsonl", "train": "x.jsonl"}})
    with pytest.raises(ConfigError, match=r"model.word_dropout: replaces token ids by <unk>.*expected 0, got 0.1"):
        classify.build_model(cfg, None)
    with pytest.raises(ValueError, match="numeric feature steps have none"):
        classify.Classifier(0, 2, num_features=3, word_dropout=0.1)
