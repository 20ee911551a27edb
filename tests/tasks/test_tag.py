"""seqlab.tasks.tag: shapes, the toy's tags, padding never counts, overfit one batch."""

import sys

import pytest
import torch

from seqlab import config
from seqlab.config import Config
from seqlab.data.generate import generate
from seqlab.errors import ConfigError
from seqlab.nn import LSTM
from seqlab.tasks import TASKS, get_task, tag


def small_model(**kwargs):
    torch.manual_seed(0)
    return tag.Tagger(11, 3, embedding_dim=8, hidden_size=16, **kwargs)


def examples(num=6, seed="t"):
    """Toy rows with token id = digit + 1 (ids below 11) and tag id = tag."""
    pairs = generate("odd-count-mod3", num, seed, min_len=1, max_len=9)
    return [tag.TagExample([int(d) + 1 for d in src.split()], [int(t) for t in tgt.split()]) for src, tgt in pairs]


def test_load_data_builds_vocabularies_from_train_and_saves_them(tmp_path):
    data = tag.load_data(Config())
    assert data.tags == ["0", "1", "2"] and data.num_tags == 3
    assert data.vocab_size == 4 + 10  # the specials, then the ten digits
    assert all(1 <= len(ex.tokens) == len(ex.tags) for ex in data.train)
    data.save(tmp_path)
    assert (tmp_path / "vocab.json").is_file() and (tmp_path / "tags.json").read_text().strip() == '["0", "1", "2"]'


def test_collate_pads_and_keeps_lengths_on_cpu():
    batch = tag.collate([tag.TagExample([4, 5, 6], [1, 1, 2]), tag.TagExample([2], [0])], pad_to=5)
    assert batch.tokens.tolist() == [[4, 5, 6, 0, 0], [2, 0, 0, 0, 0]]
    assert batch.lengths.tolist() == [3, 1] and batch.lengths.dtype == torch.int64
    assert batch.num_tokens == 4
    assert batch.mask().sum().item() == 4


@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(encoder, bidirectional):
    model = small_model(encoder=encoder, bidirectional=bidirectional)
    batch = tag.collate(examples())
    logits = model(batch.tokens, batch.lengths)
    assert logits.shape == (*batch.tokens.shape, 3)
    assert model.loss(batch).shape == ()
    predicted = model.predict(batch)
    assert [len(p) for p in predicted] == batch.lengths.tolist()


def test_encoder_is_seqlab_nn():
    assert isinstance(small_model().encoder, LSTM)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_counts(bidirectional):
    model = small_model(bidirectional=bidirectional).eval()
    rows = examples()
    tight, padded = tag.collate(rows), tag.collate(rows, pad_to=30)
    assert padded.tokens.shape[1] == 30 > tight.tokens.shape[1]
    torch.testing.assert_close(model.loss(padded), model.loss(tight))
    tight_metrics, padded_metrics = model.metrics(tight), model.metrics(padded)
    assert tight_metrics.keys() == padded_metrics.keys()
    for name in tight_metrics:
        assert padded_metrics[name][1] == tight_metrics[name][1]
        assert padded_metrics[name][0] == pytest.approx(tight_metrics[name][0], rel=1e-5)
    assert model.predict(padded) == model.predict(tight)


def test_metrics_count_real_tokens_only():
    # Tags padded with 0 would be "right" for a model that predicts 0 everywhere; they must not count.
    model = small_model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))  # always predicts tag 0
    batch = tag.collate([tag.TagExample([2, 3], [0, 1]), tag.TagExample([2], [0])], pad_to=6)
    metrics = model.metrics(batch)
    assert metrics["token_accuracy"] == (2.0, 3)  # positions tagged 0, 1 | 0 -> 2 of 3 right
    assert metrics["exact_match"] == (1.0, 2)


def test_unk_token_accuracy_scores_the_words_the_vocabulary_lacks():
    """Hand-checked: a model that always predicts tag 0; <unk> (id 1) at three real positions,
    tagged 0, 1, 0 -> 2 of 3 right; padding never counts. A split without <unk> omits the metric."""
    model = small_model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    batch = tag.collate([tag.TagExample([1, 2, 1], [0, 1, 1]), tag.TagExample([1], [0])], pad_to=6)
    metrics = model.metrics(batch)
    assert metrics["unk_token_accuracy"] == (1.0 + 1.0, 3)  # <unk>s tagged 0, 1 | 0: first and last right
    assert model.finalize_metrics(metrics)["unk_token_accuracy"] == pytest.approx(2 / 3)
    known = model.metrics(tag.collate([tag.TagExample([2, 3], [0, 1])]))
    assert known["unk_token_accuracy"] == (0.0, 0) and "unk_token_accuracy" not in model.finalize_metrics(known)


def test_overfit_one_batch():
    model = small_model()
    batch = tag.collate(examples(8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
    model.eval()
    assert loss.item() < 0.05
    assert model.metrics(batch)["exact_match"] == (8.0, 8)


def test_builders_follow_the_config():
    cfg = config.apply_overrides(Config(), ["data.num_train=7", "data.num_valid=3", "data.num_test=4",
                                            "model.encoder=gru", "model.hidden_size=5", "model.bidirectional=true"])
    data = get_task("tag").load_data(cfg)
    assert (len(data.train), len(data.valid), len(data.test)) == (7, 3, 4)
    assert data.train != data.test[: len(data.train)]  # each split has its own seed
    model = TASKS["tag"].build_model(cfg, data)
    assert model.encoder.hidden_size == 5 and model.encoder.bidirectional and model.head.in_features == 10


def test_unknown_task_and_dataset_name_the_key():
    with pytest.raises(ConfigError, match="task: unknown task 'tga'; did you mean 'tag'"):
        get_task("tga")
    cfg = config.apply_overrides(Config(), ["data.name=odd-count-mod4"])
    with pytest.raises(ConfigError, match="data.name: unknown dataset 'odd-count-mod4'.*did you mean 'odd-count-mod3'"):
        tag.load_data(cfg)


# -- same-length sequence encoders: conv, transformer, conv+rnn ------------------------------

SEQUENCE_SETTINGS = {
    "conv": ["model.encoder=conv", "model.conv_channels=12", "model.conv_kernel_size=3", "model.conv_layers=2"],
    "transformer": ["model.encoder=transformer", "model.hidden_size=16", "model.num_heads=2", "model.num_layers=1"],
    "conv+gru": ["model.encoder=conv+gru", "model.conv_channels=12", "model.conv_layers=1",
                 "model.bidirectional=true"],
}


def sequence_model(encoder, *extra):
    cfg = config.apply_overrides(Config(), ["data.num_train=7", "data.num_valid=3", "data.num_test=4",
                                            "model.embedding_dim=8", *SEQUENCE_SETTINGS[encoder], *extra])
    torch.manual_seed(0)
    return TASKS["tag"].build_model(cfg, get_task("tag").load_data(cfg))


@pytest.mark.parametrize("encoder", list(SEQUENCE_SETTINGS))
def test_sequence_encoders_give_one_output_per_token_and_padding_never_counts(encoder):
    model = sequence_model(encoder).eval()
    rows = examples()
    tight, padded = tag.collate(rows), tag.collate(rows, pad_to=30)
    assert model(tight.tokens, tight.lengths).shape == (*tight.tokens.shape, 3)
    torch.testing.assert_close(model.loss(padded), model.loss(tight))
    assert model.predict(padded) == model.predict(tight)
    assert [len(p) for p in model.predict(tight)] == tight.lengths.tolist()


def test_sequence_encoder_reads_the_char_features_too():
    model = sequence_model("conv", "model.char_encoder=cnn", "model.char_hidden_size=6")
    assert model.encoder.input_size == 8 + 6


def test_transformer_tagger_learns_a_batch():
    model = sequence_model("transformer")
    batch = tag.collate(examples(8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    first = None
    for _ in range(120):
        optimizer.zero_grad()
        loss = model.loss(batch)
        first = loss.item() if first is None else first
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.25 * first


@pytest.mark.parametrize("extra, message", [
    (["model.encoder=conv", "model.conv_pool=2"], "model.conv_pool: a tagger needs one output per token"),
    (["model.encoder=conv", "model.conv_padding=valid"], "model.conv_padding: a tagger needs one output per token"),
    (["model.encoder=conv", "model.bidirectional=true"], "model.bidirectional: only recurrent encoders use it"),
    (["model.encoder=transformer", "model.recurrent_dropout=0.2", "model.hidden_size=16"],
     "model.recurrent_dropout: only recurrent encoders use it"),
])
def test_encoder_settings_a_tagger_cannot_use_name_the_key(extra, message):
    cfg = config.apply_overrides(Config(), ["data.num_train=7", "data.num_valid=3", "data.num_test=4", *extra])
    with pytest.raises(ConfigError, match=message):
        TASKS["tag"].build_model(cfg, get_task("tag").load_data(cfg))


def test_a_shortening_encoder_is_refused_at_the_call():
    from seqlab.nn.encoders import ConvEncoder

    torch.manual_seed(0)
    model = tag.Tagger(11, 3, embedding_dim=8, encoder=ConvEncoder(8, 4, 3, 2, pool_size=2))
    batch = tag.collate(examples())
    with pytest.raises(ValueError, match="changed the sequence length"):
        model(batch.tokens, batch.lengths)


# -- characters, word dropout ------------------------------------------------------------


def char_examples():
    """Three sentences whose tokens carry spellings; the word with chars [4, 5] appears twice."""
    return [tag.TagExample([4, 5, 6], [1, 0, 2], [[4, 5], [6], [7, 8, 9]]),
            tag.TagExample([4], [1], [[4, 5]]),
            tag.TagExample([7, 8], [2, 2], [[10, 11, 12, 13], [6]])]


def char_model(char_encoder, **kwargs):
    torch.manual_seed(0)
    return tag.Tagger(11, 3, embedding_dim=8, hidden_size=16, bidirectional=True, char_encoder=char_encoder,
                      num_chars=14, char_embedding_dim=5, char_hidden_size=6, **kwargs)


def test_collate_packs_each_distinct_spelling_once():
    batch = tag.collate(char_examples(), pad_to=5)
    spellings = [tuple(row[:n]) for row, n in zip(batch.chars.tolist(), batch.char_lengths.tolist())]
    assert sorted(spellings) == sorted({(4, 5), (6,), (7, 8, 9), (10, 11, 12, 13)})
    for b, example in enumerate(char_examples()):  # every real position points at its own spelling
        assert [spellings[i] for i in batch.char_index[b, :len(example.tokens)].tolist()] == \
            [tuple(word) for word in example.chars]
    assert batch.char_index.shape == batch.tokens.shape == (3, 5)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_char_features_shapes_and_padding_never_counts(char_encoder):
    model = char_model(char_encoder).eval()
    tight, padded = tag.collate(char_examples()), tag.collate(char_examples(), pad_to=9)
    assert model(tight.tokens, tight.lengths, tight.chars, tight.char_lengths, tight.char_index).shape == (3, 3, 3)
    assert model.encoder.input_size == 8 + model.chars.output_size
    torch.testing.assert_close(model.loss(padded), model.loss(tight))
    assert model.predict(padded) == model.predict(tight)


def test_char_model_needs_the_characters():
    batch = tag.collate([tag.TagExample([4, 5], [0, 1])])
    with pytest.raises(ValueError, match="this model reads characters"):
        char_model("cnn").loss(batch)


def test_word_dropout_replaces_real_tokens_by_unk_in_training_only():
    model = small_model(word_dropout=0.5)
    seen = []
    model.embedding.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    batch = tag.collate(examples(40), pad_to=12)
    mask = batch.mask()
    model.train()
    model.loss(batch)
    dropped = (seen[-1] == 1) & (batch.tokens != 1)  # UNK_ID = 1; the toy's ids are 1..10, so 1 is a digit too
    assert 0.35 < dropped[mask].float().mean().item() < 0.65  # ~ Binomial(n >= 40, 0.5) / n
    assert (seen[-1][~mask] == 0).all()  # padding stays padding
    assert ((seen[-1] == batch.tokens) | dropped).all()  # a token is either kept or replaced by UNK
    model.eval()
    model.loss(batch)
    assert torch.equal(seen[-1], batch.tokens)


def test_overfit_one_batch_with_char_cnn():
    model = char_model("cnn", word_dropout=0.0)
    batch = tag.collate(char_examples())
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.03)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    model.eval()
    assert model.metrics(batch)["exact_match"] == (3.0, 3)


# -- BIO tags: span precision, recall, F1 -------------------------------------------------


@pytest.mark.parametrize(("tags", "expected"), [
    (["B-PER", "I-PER", "O", "B-LOC"], True),
    (["O", "I-MISC"], True),
    (["O"], False),  # no spans at all
    (["NOUN", "VERB", "O"], False),
    (["B-PER", "E-PER"], False),  # BIOES is not IOB2
])
def test_is_bio(tags, expected):
    assert tag.is_bio(tags) is expected


def test_span_counts_add_up_to_seqevals_scores_over_the_whole_split():
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    rng = torch.Generator().manual_seed(0)
    true = [tgt.split() for _, tgt in generate("entities-bio", 60, seed="spans", min_len=3, max_len=12)]
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    guess = [[t if torch.rand(1, generator=rng).item() < 0.8 else names[int(torch.randint(5, (1,), generator=rng))]
              for t in sentence] for sentence in true]  # 20% of tags corrupted, ill-formed I- starts included
    totals = [0, 0, 0]
    for start in range(0, 60, 7):  # batches of 7 sentences, summed as the evaluation loop sums them
        for k, n in enumerate(tag.span_counts(true[start:start + 7], guess[start:start + 7])):
            totals[k] += n
    scores = tag.span_scores(*totals)
    assert scores["span_f1"] == pytest.approx(seqeval_metrics.f1_score(true, guess))
    assert scores["span_precision"] == pytest.approx(seqeval_metrics.precision_score(true, guess))
    assert scores["span_recall"] == pytest.approx(seqeval_metrics.recall_score(true, guess))
    assert 0.2 < scores["span_f1"] < 0.95  # the corruption made a real difference


def test_span_f1_of_a_trained_toy_model_equals_seqeval_on_its_predictions():
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    from seqlab.training.loop import batches, evaluate

    cfg = config.apply_overrides(Config(), ["data.name=entities-bio", "data.num_train=300", "data.num_test=50",
                                            "model.char_encoder=cnn", "model.bidirectional=true"])
    data = tag.load_data(cfg)
    assert tag.is_bio(data.tags)
    model = tag.build_model(cfg, data)
    assert model.span_tags == data.tags
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    for batch in batches(data.train, 16, tag.collate, torch.Generator().manual_seed(0)):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    scores = evaluate(model, data.test, tag.collate, 8, torch.device("cpu"))
    true = [[data.tags[i] for i in example.tags] for example in data.test]
    guess = [[data.tags[i] for i in row] for batch in batches(data.test, 8, tag.collate) for row in model.predict(batch)]
    assert scores["span_f1"] == pytest.approx(seqeval_metrics.f1_score(true, guess))
    assert scores["span_recall"] == pytest.approx(seqeval_metrics.recall_score(true, guess))
    assert {"loss", "token_accuracy", "exact_match", "span_precision"} <= scores.keys()
    assert not any(key.startswith("span_tp") for key in scores)


def test_without_seqeval_bio_tags_warn_once_and_keep_token_accuracy(monkeypatch):
    monkeypatch.setitem(sys.modules, "seqeval", None)  # `import seqeval` now raises ImportError
    cfg = config.apply_overrides(Config(), ["data.name=entities-bio", "data.num_train=20", "data.num_test=5"])
    data = tag.load_data(cfg)
    with pytest.warns(UserWarning, match=r'no span F1 \(pip install "seqlab\[tag\]"\)'):
        model = tag.build_model(cfg, data)
    assert model.span_tags is None
    batch = tag.collate(data.test)
    assert set(model.finalize_metrics(model.metrics(batch))) == {"loss", "token_accuracy", "exact_match"}


def test_pos_tags_get_no_span_metrics():
    data = tag.load_data(Config())
    assert not tag.is_bio(data.tags) and tag.build_model(Config(), data).span_tags is None
