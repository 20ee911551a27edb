"""classify with the non-recurrent encoders (conv, transformer, conv+lstm/gru/rnn): shapes,
padding invariance through the whole classifier, config checks, and a tiny CSV end to end."""

import json
import random

import pytest
import torch

from seqlab import config
from seqlab.errors import ConfigError
from seqlab.nn import ConvEncoder, ConvRNNEncoder, TransformerEncoder
from seqlab.tasks import classify
from seqlab.training import loop

SMALL = {"embedding_dim": 8, "hidden_size": 8, "conv_channels": 6, "conv_kernel_size": 3, "num_heads": 2,
         "max_positions": 32, "ff_size": 12}
ENCODERS = {  # model keys of each encoder under test, on top of SMALL
    "conv": {"encoder": "conv", "conv_layers": 2},
    "conv-pooled-dilated": {"encoder": "conv", "conv_layers": 3, "conv_pool": 2, "conv_dilation": 2},
    "transformer": {"encoder": "transformer", "num_layers": 2},
    "transformer-pre-ln-learned": {"encoder": "transformer", "norm_first": True, "positional": "learned"},
    "conv+lstm": {"encoder": "conv+lstm", "conv_pool": 2, "bidirectional": True},
    "conv+gru": {"encoder": "conv+gru", "conv_pool": 3, "num_layers": 2},
    "conv+rnn": {"encoder": "conv+rnn", "conv_pool": 2},
}
POOLINGS = ["mean", "max", "attention"]


def model_config(pooling, **keys):
    data = {"name": None, "train": "unused.csv", "max_tokens_per_example": 32}
    return config.from_dict({"task": "classify", "data": data, "model": {**SMALL, "pooling": pooling, **keys}})


def small_model(name, pooling):
    torch.manual_seed(0)
    cfg = model_config(pooling, **ENCODERS[name])
    m = cfg.model
    return classify.Classifier(12, 3, encoder=classify.build_encoder(cfg), embedding_dim=m.embedding_dim,
                               pooling=pooling).eval()


def examples():
    rows = [[4, 5, 6, 7, 8], [9], [10, 11, 4], [5, 5, 5, 5, 5, 5, 5], [6, 7], [8, 9, 10, 11]]
    return [classify.ClassifyExample(tokens, i % 3) for i, tokens in enumerate(rows)]


def test_build_encoder_gives_the_named_encoder():
    built = {name: classify.build_encoder(model_config("mean", **keys)) for name, keys in ENCODERS.items()}
    assert isinstance(built["conv"], ConvEncoder) and built["conv"].output_size == 6
    assert built["conv-pooled-dilated"].pool_size == 2 and not built["conv-pooled-dilated"].pool_last
    assert isinstance(built["transformer"], TransformerEncoder) and len(built["transformer"].layers) == 2
    assert isinstance(built["conv+lstm"], ConvRNNEncoder) and built["conv+lstm"].output_size == 16  # 2 x 8
    assert built["conv+lstm"].conv.pool_last  # pooled before the recurrent layer reads it
    assert type(built["conv+gru"].rnn).__name__ == "GRU" and built["conv+gru"].rnn.num_layers == 2
    assert classify.build_encoder(model_config("mean", encoder="lstm")) == "lstm"


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("name", ENCODERS)
def test_shapes_and_padding_invariance(name, pooling):
    model = small_model(name, pooling)
    tight, padded = classify.collate(examples()), classify.collate(examples(), pad_to=30)
    logits = model(tight.tokens, tight.lengths)
    assert logits.shape == (6, 3)
    torch.testing.assert_close(model(padded.tokens, padded.lengths), logits)
    alone = torch.cat([model(*_single(example)) for example in examples()])  # no padding at all
    torch.testing.assert_close(alone, logits)
    labels, probabilities = model.predict(tight)
    assert len(labels) == 6 and probabilities.shape == (6, 3)


def _single(example):
    batch = classify.collate([example])
    return batch.tokens, batch.lengths


@pytest.mark.parametrize("name", ["conv+lstm", "conv+gru"])
def test_last_pooling_with_conv_rnn_is_the_rnn_final_state(name):
    model = small_model(name, "last")
    batch = classify.collate(examples(), pad_to=12)
    h, lengths, final = model.encode(batch.tokens, batch.lengths)
    assert h.shape[1] < batch.tokens.shape[1]  # the convolutions pooled the sequence
    width = model.encoder.rnn.hidden_size
    forward_end = h[torch.arange(6), lengths - 1, :width]  # the forward direction's last real step
    torch.testing.assert_close(final[:, :width], forward_end)
    torch.testing.assert_close(model.pool(h, final, torch.ones(6, h.shape[1], dtype=torch.bool)), final)


@pytest.mark.parametrize("name", ["conv", "transformer"])
def test_overfits_one_batch(name):
    model = small_model(name, "attention").train()
    batch = classify.collate(examples())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    assert model.loss(batch).item() < 0.05


@pytest.mark.parametrize("keys, message", [
    ({"encoder": "conv", "pooling": "last"}, "model.pooling: 'last' needs final states, which the conv encoder"),
    ({"encoder": "transformer", "pooling": "last"}, "expected mean, max or attention"),
    ({"encoder": "conv", "pooling": "max", "bidirectional": True}, "model.bidirectional: only recurrent encoders"),
    ({"encoder": "transformer", "pooling": "max", "recurrent_dropout": 0.2}, "model.recurrent_dropout: only"),
    ({"encoder": "conv", "pooling": "max", "num_layers": 2}, "model.num_layers: the conv encoder's depth is model"),
    ({"encoder": "transformer", "pooling": "max", "positional": "learned", "max_positions": 16},
     "model.max_positions: learned positions cover 16 tokens, but data.max_tokens_per_example is 32"),
    ({"encoder": "transformer", "pooling": "max", "positional": "learned", "max_positions": 64},
     "eval.truncate: learned positions cover 64 tokens, and false would score whole texts"),
])
def test_model_mistakes_name_the_key_before_any_file_is_read(keys, message):
    cfg = model_config(**keys)  # its data.train does not exist: the model check comes first
    if message.startswith("eval.truncate"):
        cfg = config.apply_overrides(cfg, ["eval.truncate=false"])
    with pytest.raises(ConfigError, match=message):
        classify.load_data(cfg)


@pytest.mark.parametrize("override, message", [
    ("model.hidden_size=10", "model.hidden_size: expected a multiple of model.num_heads (4) for the transformer"),
    ("model.conv_pool=0", "model.conv_pool: expected an integer >= 1, or null, got 0"),
    ("model.positional=rotary", "model.positional: expected one of sinusoidal, learned, none, got 'rotary'"),
    ("model.conv_padding=causal", "model.conv_padding: expected one of same, valid, got 'causal'"),
])
def test_new_model_keys_are_checked(override, message):
    with pytest.raises(ConfigError) as error:
        config.apply_overrides(config.Config(), ["model.encoder=transformer", override])
    assert message in str(error.value)


def test_tag_refuses_the_forecast_only_encoders():
    from seqlab.tasks import tag

    cfg = config.from_dict({"task": "tag", "model": {"encoder": "mlp"}})
    with pytest.raises(ConfigError, match="model.encoder: task 'tag' takes lstm, gru, rnn, conv, transformer, "
                                          "conv\\+lstm, conv\\+gru, conv\\+rnn; got 'mlp'"):
        tag.build_model(cfg, tag.load_data(config.apply_overrides(cfg, ["data.num_train=5", "data.num_test=5",
                                                                        "data.num_valid=5"])))


@pytest.mark.slow
@pytest.mark.parametrize("encoder, extra", [
    ("conv", {"model.conv_pool": 2}),
    ("transformer", {"model.num_layers": 1}),
    ("conv+gru", {"model.conv_pool": 2}),
])
def test_trains_on_a_small_csv(encoder, extra, tmp_path):
    # Sentiment carried by one word among filler, as in tests/e2e/test_classify_smoke.py.
    rng = random.Random(0)
    filler = ["the", "a", "film", "plot", "actor", "scene", "story", "was", "it", "this"]
    rows = []
    for _ in range(300):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(filler, k=rng.randint(3, 10))
        words.insert(rng.randrange(len(words) + 1), rng.choice(["great", "superb"] if label == "pos" else
                                                                ["awful", "boring"]))
        rows.append((" ".join(words), label))
    path = tmp_path / "my.csv"
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    overrides = {"data.train": str(path), "model.encoder": encoder, "model.pooling": "max", "model.embedding_dim": 16,
                 "model.hidden_size": 16, "model.conv_channels": 16, "model.conv_kernel_size": 3,
                 "model.num_heads": 2, "model.bidirectional": False, "train.epochs": 4, "train.lr": 0.01, "train.device": "cpu", **extra}
    out = loop.train("classify-csv", overrides, out=tmp_path / "run")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.9
    saved = config.load(out / "config.yaml")
    assert saved.model.encoder == encoder


@pytest.mark.parametrize("recipe, kind", [("imdb-conv", ConvEncoder), ("sst2-transformer", TransformerEncoder)])
def test_the_recipes_build_their_encoders(recipe, kind):
    cfg = config.load(recipe)
    classify._check_model_settings(cfg)  # the checks pass ...
    m = cfg.model
    model = classify.Classifier(20, 2, encoder=classify.build_encoder(cfg), embedding_dim=m.embedding_dim,
                                pooling=m.pooling)
    assert isinstance(model.encoder, kind)
    batch = classify.collate(examples())  # ... and the model runs
    assert model(batch.tokens, batch.lengths).shape == (6, 2)


def test_embedding_init_std_sets_the_scale_and_keeps_padding_zero():
    torch.manual_seed(0)
    model = classify.Classifier(2000, 2, encoder="lstm", embedding_dim=16, embedding_init_std=0.05)
    weight = model.embedding.weight.detach()
    assert weight[0].abs().max() == 0  # the padding row
    assert abs(weight[1:].std().item() - 0.05) < 0.002  # 31,984 draws: the sample std is within ~0.0002
    with pytest.raises(ConfigError, match="model.embedding_init_std: expected a number > 0, or null, got 0.0"):
        config.apply_overrides(config.Config(), ["model.embedding_init_std=0"])
