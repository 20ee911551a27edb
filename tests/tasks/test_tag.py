"""seqlab.tasks.tag: shapes, the toy's tags, padding never counts, overfit one batch."""

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
