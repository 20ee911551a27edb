"""seqlab.config: defaults, YAML, overrides converted to each field's type, errors that name the key."""

import pytest

from seqlab import config
from seqlab.config import Config, ModelConfig
from seqlab.errors import ConfigError


def test_default_recipe_loads_and_is_embedded():
    assert config.DEFAULT_RECIPE in config.embedded_recipes()
    cfg = config.load(config.DEFAULT_RECIPE)
    assert cfg.task == "seq2seq" and cfg.data.name == "dates" and cfg.model.attention == "dot"


@pytest.mark.parametrize("name", config.embedded_recipes())
def test_every_shipped_recipe_loads(name):
    """Each recipe in the package passes validation (keys, types, allowed values)."""
    cfg = config.load(name)
    assert cfg.task in ("classify", "tag", "seq2seq", "lm", "forecast", "word2vec")


def test_empty_yaml_gives_the_dataclass_defaults():
    assert config.from_yaml("") == Config()
    assert config.from_yaml("model: {hidden_size: 8}").model == ModelConfig(hidden_size=8)


@pytest.mark.parametrize("text, key, expected", [
    ("train.epochs=3", ("train", "epochs"), 3),
    ("train.lr=1e-3", ("train", "lr"), 1e-3),
    ("train.lr=2", ("train", "lr"), 2.0),
    ("model.bidirectional=true", ("model", "bidirectional"), True),
    ("model.bidirectional=0", ("model", "bidirectional"), False),
    ("model.encoder=gru", ("model", "encoder"), "gru"),
    ("data.name=odd-count-mod3", ("data", "name"), "odd-count-mod3"),
    ("train.clip_norm=null", ("train", "clip_norm"), None),
    ("train.clip_norm=0.5", ("train", "clip_norm"), 0.5),
])
def test_text_overrides_convert_to_the_field_type(text, key, expected):
    cfg = config.apply_overrides(Config(), [text])
    value = getattr(getattr(cfg, key[0]), key[1])
    assert value == expected and type(value) is type(expected)


def test_mapping_overrides_and_floats_widen():
    cfg = config.apply_overrides(Config(), {"train.lr": 1, "seed": 7, "train.epochs": "2"})
    assert (cfg.train.lr, cfg.seed, cfg.train.epochs) == (1.0, 7, 2)
    assert type(cfg.train.lr) is float


@pytest.mark.parametrize("overrides, message", [
    (["model.hiden_size=3"], "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"),
    (["modle.hidden_size=3"], "did you mean 'model.hidden_size'?"),
    (["train.epochs=three"], "train.epochs: expected an integer, got 'three'"),
    (["model.bidirectional=maybe"], "model.bidirectional: expected true or false, got 'maybe'"),
    (["model.encoder=cnn"], ("model.encoder: expected one of lstm, gru, rnn, conv, transformer, conv+lstm, conv+gru, "
                              "conv+rnn, linear, mlp, got 'cnn'")),
    (["train.device=tpu"], "train.device: expected one of auto, cpu, cuda, got 'tpu'"),
    (["train.epochs=0"], "train.epochs: expected an integer >= 1, got 0"),
    (["model.dropout=1.5"], "model.dropout: expected a number in [0, 1), got 1.5"),
    (["data.max_len=2"], "data.max_len: expected an integer >= data.min_len (5), got 2"),
    (["model=3"], "'model' is a section; set one of its keys: model.encoder"),
    (["train.epochs"], "expected KEY=VALUE"),
    ({"train.epochs": True}, "train.epochs: expected an integer, got True"),
    ({"model.encoder": 3}, ("model.encoder: expected one of lstm, gru, rnn, conv, transformer, conv+lstm, conv+gru, "
                           "conv+rnn, linear, mlp, got 3")),
])
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        config.apply_overrides(Config(), overrides)
    assert message in str(err.value)


def test_a_bare_string_is_not_a_list_of_overrides():
    with pytest.raises(TypeError, match="list of 'KEY=VALUE' strings"):
        config.apply_overrides(Config(), "train.epochs=3")


@pytest.mark.parametrize("text, message", [
    ("model:\n  hiden_size: 3\n", "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"),
    ("trian:\n  epochs: 3\n", "unknown key 'trian'; did you mean 'train'?"),
    ("train:\n  epochs: 2.5\n", "train.epochs: expected an integer, got 2.5"),
    ("train:\n  clip_norm: yes\n", "train.clip_norm: expected a number, or null, got True"),
    ("model: 3\n", "model: expected a mapping of keys, got 3"),
    ("- a\n- b\n", "a recipe must be a mapping"),
    ("model: [\n", "not valid YAML"),
])
def test_bad_yaml_names_the_key(text, message):
    with pytest.raises(ConfigError) as err:
        config.from_yaml(text)
    assert message in str(err.value)


def test_save_then_load_round_trips(tmp_path):
    cfg = config.apply_overrides(config.load(config.DEFAULT_RECIPE),
                                 ["train.clip_norm=null", "model.encoder=gru", "train.lr=0.003", "seed=5"])
    path = tmp_path / "config.yaml"
    config.save(cfg, path)
    assert config.load(path) == cfg
    assert config.load(str(path)) == cfg


def test_unknown_recipe_lists_the_embedded_ones():
    with pytest.raises(ConfigError) as err:
        config.load("toy-tga")
    message = str(err.value)
    assert "unknown recipe 'toy-tga'; did you mean 'toy-tag'?" in message
    assert "embedded recipes: " + ", ".join(config.embedded_recipes()) in message


def test_missing_recipe_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipe file not found"):
        config.load(tmp_path / "nope.yaml")


def test_recipe_name():
    assert config.recipe_name("toy-tag") == "toy-tag"
    assert config.recipe_name("some/dir/my-recipe.yaml") == "my-recipe"


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().model.hidden_size = 3


@pytest.mark.parametrize("task, override, readers", [
    ("lm", "model.word_dropout=0.2", "classify, tag"),
    ("classify", "model.char_encoder=cnn", "tag"),
    ("seq2seq", "model.pooling=max", "classify, forecast"),
    ("tag", "model.input_feeding=true", "seq2seq"),
    ("word2vec", "model.embedding_dropout=0.1", "classify, lm, tag"),
])
def test_a_model_key_the_task_does_not_read_is_refused(task, override, readers):
    key, value = override.split("=")
    with pytest.raises(ConfigError) as error:
        config.apply_overrides(Config(task=task), [override])
    assert str(error.value).startswith(f"{key}: task {task!r} does not use it (read only by {readers})")
    assert "remove it or set it to" in str(error.value)


def test_the_refusal_shows_the_default_as_yaml_writes_it():
    with pytest.raises(ConfigError, match=r"model.init_from: task 'lm' does not use it \(read only by classify\), "
                                          r"so 'x' would change nothing; remove it or set it to null"):
        config.apply_overrides(Config(task="lm"), ["model.init_from=x"])
    with pytest.raises(ConfigError, match="model.input_feeding: .* set it to false"):
        config.apply_overrides(Config(task="tag"), ["model.input_feeding=true"])


def test_a_task_only_key_at_its_default_or_under_its_task_is_fine():
    assert config.apply_overrides(Config(task="lm"), ["model.word_dropout=0.0"]).model.word_dropout == 0.0
    assert config.apply_overrides(Config(task="classify"), ["model.word_dropout=0.2"]).model.word_dropout == 0.2
    # the table names real keys and the real tasks
    from seqlab.tasks import TASKS
    assert set(config.TASK_NAMES) == set(TASKS)
    assert set(config.TASK_ONLY_MODEL_KEYS) <= {f for f in ModelConfig.__dataclass_fields__}
    assert all(set(readers) <= set(config.TASK_NAMES) for readers in config.TASK_ONLY_MODEL_KEYS.values())
