"""The lm task with a causal Transformer (model.encoder: transformer): causality, no carried state,
generation by re-reading a sliding window, the config keys, and generation from a bundle."""

import pytest
import torch

import seqlab
from seqlab import config
from seqlab.errors import ConfigError
from seqlab.nn.transformer import CausalTransformer
from seqlab.tasks import lm

SETTINGS = lm.TransformerSettings(num_heads=2, ff_size=16, positional="sinusoidal", max_positions=64,
                                  norm_first=False, context=6)


def model(**settings):
    torch.manual_seed(0)
    defaults = {"encoder": "transformer", "embedding_dim": 8, "hidden_size": 8, "num_layers": 2,
                "transformer": SETTINGS}
    return lm.LanguageModel(20, **{**defaults, **settings}).double().eval()


def test_a_later_token_changes_no_earlier_logits():
    m = model()
    tokens = torch.randint(4, 20, (3, 9), generator=torch.Generator().manual_seed(0))
    before, state = m(tokens)
    changed = tokens.clone()
    changed[:, 5] = 4 + (changed[:, 5] - 3) % 16  # another real token at position 5
    after, _ = m(changed)
    assert state is None
    torch.testing.assert_close(after[:, :5], before[:, :5], atol=0, rtol=0)
    assert not torch.allclose(after[:, 5], before[:, 5])


def test_windows_are_read_on_their_own():
    """No state crosses windows: a carried window scores as if it came first."""
    m = model()
    tokens = torch.randint(4, 20, (2, 8), generator=torch.Generator().manual_seed(1))
    first = lm.LMBatch(tokens[:, :4], tokens[:, 1:5], False, 8)
    second = lm.LMBatch(tokens[:, 4:7], tokens[:, 5:8], True, 6)
    m.metrics(first)
    carried = m.metrics(second)
    fresh = model().metrics(lm.LMBatch(tokens[:, 4:7], tokens[:, 5:8], False, 6))
    assert carried == fresh and m.carried_state() == {}


def test_padded_sequences_score_as_unpadded():
    m = model()
    a = m(torch.tensor([[5, 6, 7]]))[0]
    b = m(torch.tensor([[5, 6, 7, 0, 0]]), lengths=torch.tensor([3]))[0]
    torch.testing.assert_close(b[:, :3], a, atol=1e-12, rtol=1e-12)


def test_greedy_generation_rereads_the_last_context_tokens():
    """Each new token is the argmax after the last ``context`` (6) tokens, read afresh."""
    m = model()
    prompt = [5, 9, 11, 4, 7]
    got = list(m.generate(prompt, 8, temperature=0))
    ids = list(prompt)
    for _ in range(8):
        logits, _ = m(torch.tensor([ids[-6:]]))
        logits = logits[0, -1].clone()
        logits[[0, 2]] = float("-inf")  # PAD and SOS are never chosen
        token = int(logits.argmax())
        if token == 3:  # EOS ends the generation
            break
        ids.append(token)
    assert got == ids[len(prompt):]


def test_the_layer_takes_no_state():
    layer = CausalTransformer(4, 8, num_heads=2)
    with pytest.raises(ValueError, match="carries no state"):
        layer(torch.randn(1, 3, 4), torch.zeros(1))


@pytest.mark.parametrize("overrides, message", [
    (["model.condition=init"], "model.condition: a transformer language model has no initial state"),
    (["model.recurrent_dropout=0.1"], "model.recurrent_dropout: a transformer has no recurrence"),
    (["model.positional=learned", "model.max_positions=32"], "model.max_positions: .* expected >= 64, got 32"),
    (["model.hidden_size=30"], "model.hidden_size: expected a multiple of model.num_heads"),
])
def test_bad_keys_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        cfg = config.resolve("shakespeare-smoke", ["model.encoder=transformer", "model.num_heads=4", *overrides])
        lm.build_model(cfg, None)


@pytest.mark.slow
def test_a_trained_transformer_lm_generates_from_its_bundle(tmp_path):
    run = seqlab.train("shakespeare-smoke", {
        "model.encoder": "transformer", "model.hidden_size": 32, "model.num_heads": 2, "model.num_layers": 1,
        "data.limit_train": 20000, "data.limit_eval": 4000, "data.bptt": 32, "train.epochs": 1,
        "train.lr": 0.003, "train.checkpoint_every": None}, out=tmp_path / "lm")
    gen = seqlab.load(run)
    assert gen.model.context == 32 and not gen.model.stateful
    text = gen.generate("ROMEO:", 40, temperature=0.8, seed=1)
    assert text == gen.generate("ROMEO:", 40, temperature=0.8, seed=1) and 0 < len(text) <= 40
    ids = gen.prompt_ids("ROMEO:")
    greedy = list(gen.model.generate(ids, 5, temperature=0))
    logits, _ = gen.model(torch.tensor([ids]))
    assert greedy[0] == int(logits[0, -1].argmax())
