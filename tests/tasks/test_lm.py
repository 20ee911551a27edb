"""The lm task's model and batches: stream windows, statefulness, metrics, generation, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab import config
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import lm


def stream(n, bptt=4, vocab=20, seed=0):
    """A random stream of real token ids (4.. vocab-1: no specials)."""
    tokens = torch.randint(4, vocab, (n,), generator=torch.Generator().manual_seed(seed))
    return lm.TokenStream(tokens, "test-stream", bptt)


def model(**settings):
    torch.manual_seed(0)
    defaults = {"encoder": "lstm", "embedding_dim": 8, "hidden_size": 12, "num_layers": 2}
    return lm.LanguageModel(20, **{**defaults, **settings}).eval()


# -- batches ---------------------------------------------------------------------------


@pytest.mark.parametrize("n, rows", [(101, 4), (100, 7), (9, 4), (5, 16)])
def test_eval_windows_score_every_token_once_in_order(n, rows):
    s = stream(n, bptt=3)
    windows = lm.eval_windows(s, rows)
    assert sum(w.num_tokens for w in windows) == n - 1
    assert [w.carry for w in windows] == [False] + [True] * (len(windows) - 1)
    inputs = torch.cat([w.inputs for w in windows], dim=1).flatten()  # rows are contiguous pieces
    targets = torch.cat([w.targets for w in windows], dim=1).flatten()
    real = targets != PAD_ID
    assert torch.equal(targets[real], s.tokens[1:]) and torch.equal(inputs[real], s.tokens[:-1])
    assert not real[real.nonzero().max() + 1:].any()  # padding only after the last target


def test_train_windows_keep_their_count_and_continue_each_row():
    s = stream(1000, bptt=8)
    epochs = [lm.train_windows(s, 5, torch.Generator().manual_seed(seed)) for seed in range(6)]
    assert len({len(windows) for windows in epochs}) == 1  # the schedule is planned from one epoch
    for windows in epochs:
        rows = torch.cat([w.inputs for w in windows], dim=1)  # (B, L - 1)
        targets = torch.cat([w.targets for w in windows], dim=1)
        assert torch.equal(rows[:, 1:], targets[:, :-1])  # targets are the next inputs, across windows
        offset = next(o for o in range(8) if torch.equal(s.tokens[o:o + rows.shape[1]], rows[0]))
        assert torch.equal(rows[1], s.tokens[offset + (1000 - 7) // 5:][:rows.shape[1]])  # row 1 follows row 0's L
        assert [w.carry for w in windows] == [False] + [True] * (len(windows) - 1)
    assert len({tuple(windows[0].inputs[0, :8].tolist()) for windows in epochs}) > 1  # the offset moves


def test_a_stream_too_short_for_batch_and_bptt_names_file_and_sizes():
    s = lm.TokenStream(torch.arange(4, 104), "my.txt", 16)
    with pytest.raises(DataError, match=r"my.txt: 100 tokens are too few for train.batch_size=8 parallel streams "
                                        r"of data.bptt=16-token windows: training needs at least 151"):
        lm.train_windows(s, 8, torch.Generator())


# -- the model -------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ["lstm", "gru", "rnn"])
def test_carried_windows_equal_one_pass_over_the_rows(encoder):
    """Stateful windows: the summed loss over consecutive windows equals one forward over the
    whole rows (reference: cross-entropy of the full unrolled logits)."""
    m, s = model(encoder=encoder), stream(203, bptt=5)
    totals = [m.metrics(w)["loss"] for w in lm.eval_windows(s, 4)]
    rows = 4
    n = len(s) - 1
    width = math.ceil(n / rows)
    inputs = F.pad(s.tokens[:-1], (0, rows * width - n), value=PAD_ID).view(rows, width)
    targets = F.pad(s.tokens[1:], (0, rows * width - n), value=PAD_ID).view(rows, width)
    with torch.no_grad():
        logits, _ = m(inputs)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID, reduction="sum")
    assert sum(t for t, _ in totals) == pytest.approx(float(expected), rel=1e-5)
    assert sum(c for _, c in totals) == n


def test_uniform_model_scores_log_v():
    """All weights 0 -> logits 0 -> p = 1/V for every token: loss = ln V nats, bpc = log2 V, perplexity = V."""
    m = model(bits_per_char=True, tie_embeddings=True)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
    totals = {}
    for w in lm.eval_windows(stream(50), 3):
        for name, (value, count) in m.metrics(w).items():
            totals[name] = (totals.get(name, (0.0, 0))[0] + value, totals.get(name, (0.0, 0))[1] + count)
    out = m.finalize_metrics(totals)
    assert out["loss"] == pytest.approx(math.log(20))
    assert out["bpc"] == pytest.approx(math.log2(20))
    assert out["perplexity"] == pytest.approx(20)


def test_padding_changes_no_sequence_loss():
    m = model(condition="input", conditions=["a", "b"])
    short, long = lm.LMExample([SOS_ID, 5, 6, EOS_ID], 0), lm.LMExample([SOS_ID, 7, 8, 9, 10, 11, EOS_ID], 1)
    alone = m.metrics(lm.collate([short]))["loss"]
    together = m.metrics(lm.collate([short, long]))["loss"]
    with_long = m.metrics(lm.collate([long]))["loss"]
    assert together[0] == pytest.approx(alone[0] + with_long[0], rel=1e-5) and together[1] == 3 + 6


def test_tied_embeddings_share_the_matrix_and_project_when_widths_differ():
    m = model(tie_embeddings=True)
    names = dict(m.named_parameters())
    assert "head.weight" not in names and m.projection.in_features == 12 and m.projection.out_features == 8
    logits, _ = m(torch.tensor([[4, 5]]))
    assert logits.shape == (1, 2, 20)


def test_carried_state_round_trip():
    m, s = model(), stream(60)
    windows = lm.eval_windows(s, 3)
    m.metrics(windows[0])
    saved = {k: v.clone() for k, v in m.carried_state().items()}
    expected = m.metrics(windows[1])
    m.metrics(windows[0])  # move the state on
    m.metrics(windows[1])
    m.load_carried_state(saved)
    assert m.metrics(windows[1]) == expected


# -- generation ------------------------------------------------------------------------


def test_greedy_generation_is_the_argmax_of_the_full_forward_each_step():
    m = model()
    prompt, out = [4, 9, 13], []
    generated = list(m.generate(prompt, 12, temperature=0))
    for _ in range(12):  # by hand: re-read the growing sequence from scratch every step
        logits, _ = m(torch.tensor([prompt + out]))
        last = logits[0, -1].clone()
        last[[PAD_ID, SOS_ID]] = float("-inf")
        token = int(last.argmax())
        if token == EOS_ID:
            break
        out.append(token)
    assert generated == out and len(out) > 0


def test_top_k_one_is_greedy_and_a_seed_repeats_a_sample():
    m = model(hidden_size=8)
    greedy = list(m.generate([4], 20, temperature=0))
    assert list(m.generate([4], 20, top_k=1, generator=torch.Generator().manual_seed(5))) == greedy
    draw = lambda seed: list(m.generate([4], 40, temperature=1.5, generator=torch.Generator().manual_seed(seed)))
    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_the_prompt_is_read_in_one_pass_then_one_step_per_token():
    m = model()
    calls, steps = [], []
    m.encoder.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[1]))
    step = m.encoder.step
    m.encoder.step = lambda x, state=None, masks=None: (steps.append(tuple(x.shape)), step(x, state, masks))[1]
    tokens = list(m.generate([4, 5, 6, 7, 8], 6, temperature=0.0))
    assert calls == [5]  # the prompt, in one sequence call
    assert steps == [(1, 8)] * (len(tokens) - 1)  # then one layer step per new token


@pytest.mark.parametrize("settings", [
    {}, {"encoder": "gru"}, {"encoder": "rnn", "num_layers": 1}, {"tie_embeddings": True},
    {"condition": "init", "conditions": ["a", "b"]}, {"condition": "input", "conditions": ["a", "b"]},
])
def test_a_step_is_the_forward_of_a_one_token_sequence(settings):
    m = model(**settings)
    conditions = torch.tensor([1, 0, 1]) if "condition" in settings else None
    prompt = torch.tensor([[4, 5], [6, 7], [8, 9]])
    _, state = m(prompt, conditions=conditions)
    token = torch.tensor([10, 11, 12])
    logits, after = m(token[:, None], state, conditions=conditions)
    step_logits, step_after = m.step(token, state, conditions)
    torch.testing.assert_close(step_logits, logits[:, 0])
    torch.testing.assert_close(step_after, after)
    first, _ = m(token[:, None], conditions=conditions)  # from the initial state
    torch.testing.assert_close(m.step(token, None, conditions)[0], first[:, 0])


@pytest.mark.parametrize("kind", ["init", "input"])
def test_conditions_steer_generation_and_unknown_ones_are_named(kind):
    m = model(condition=kind, conditions=["Dutch", "Russian"])
    a = list(m.generate([SOS_ID], 15, temperature=0, condition="Dutch"))
    b = list(m.generate([SOS_ID], 15, temperature=0, condition="Russian"))
    logits_a, _ = m(torch.tensor([[SOS_ID]]), conditions=torch.tensor([0]))
    logits_b, _ = m(torch.tensor([[SOS_ID]]), conditions=torch.tensor([1]))
    assert not torch.allclose(logits_a, logits_b)
    assert a == list(m.generate([SOS_ID], 15, temperature=0, condition="Dutch")) and isinstance(b, list)
    with pytest.raises(ValueError, match=r"condition 'Rusian' is not one this model was trained with; "
                                         r"did you mean 'Russian'\?; known: Dutch, Russian"):
        m.generate([SOS_ID], 5, condition="Rusian")
    with pytest.raises(ValueError, match="give a condition, one of: Dutch, Russian"):
        m.generate([SOS_ID], 5)


def test_a_condition_for_an_unconditioned_model_is_an_error():
    with pytest.raises(ValueError, match=r"condition 'Dutch': this model was trained without a condition"):
        model().generate([4], 5, condition="Dutch")


@pytest.mark.parametrize("settings, message", [
    ({"temperature": -0.5}, "temperature must be a number >= 0 (0: greedy), got -0.5"),
    ({"top_k": 0}, "top_k must be an integer >= 1, or None for no top-k filter; got 0"),
    ({"top_p": 0.0}, "top_p must be a number in (0, 1], or None for no nucleus filter; got 0.0"),
    ({"top_p": 1.5}, "top_p must be a number in (0, 1], or None for no nucleus filter; got 1.5"),
])
def test_bad_sampling_settings_are_named_before_the_first_token(settings, message):
    with pytest.raises(ValueError) as err:
        model().generate([4], 5, **settings)
    assert str(err.value) == message


def test_an_empty_prompt_is_an_error():
    with pytest.raises(ValueError, match="the prompt is empty"):
        model().generate([], 5)


# -- config and data -------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("data.bptt=0", "data.bptt: expected an integer >= 1, got 0"),
    ("model.condition=first", "model.condition: expected one of none, init, input, got 'first'"),
])
def test_config_keys_are_checked(override, message):
    with pytest.raises(ConfigError) as err:
        config.apply_overrides(config.Config(task="lm"), [override])
    assert str(err.value) == message


def user_text(tmp_path, text, **overrides):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    sets = {"task": "lm", "data.name": None, "data.train": str(path), "data.format": "text",
            "data.tokenizer": "char", **overrides}
    return path, config.apply_overrides(config.Config(), sets)


def test_a_user_text_file_too_short_names_the_file_and_sizes(tmp_path):
    path, cfg = user_text(tmp_path, "to be or not to be\n" * 20, **{"data.bptt": 32, "train.batch_size": 16})
    with pytest.raises(DataError) as err:
        lm.load_data(cfg)
    assert str(err.value).startswith(f"{path} (with test and valid carved off its end): 304 tokens are too few for "
                                     "train.batch_size=16 parallel streams of data.bptt=32-token windows: training "
                                     "needs at least 559")


def test_user_text_carves_valid_and_test_off_the_end(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    _, cfg = user_text(tmp_path, text, **{"data.bptt": 4, "train.batch_size": 2})
    data = lm.load_data(cfg)
    assert (len(data.train), len(data.valid), len(data.test)) == (800, 100, 100)
    assert data.text(data.train.tokens.tolist() + data.valid.tokens.tolist() + data.test.tokens.tolist()) == text


def test_wrong_format_and_conditions_without_classes_are_config_errors(tmp_path):
    _, cfg = user_text(tmp_path, "abc" * 400, **{"data.format": "csv"})
    with pytest.raises(ConfigError, match="data.format: task 'lm' reads plain text files; expected text, got 'csv'"):
        lm.load_data(cfg)
    _, cfg = user_text(tmp_path, "abc" * 400, **{"model.condition": "init", "data.bptt": 4, "train.batch_size": 2})
    with pytest.raises(ConfigError, match="model.condition: 'init' needs data with classes"):
        lm.build_model(cfg, lm.load_data(cfg))


def test_an_encoder_lm_does_not_have_is_a_config_error_naming_the_key():
    from seqlab import config as recipes
    from seqlab.tasks import get_task

    cfg = recipes.resolve("shakespeare-smoke", ["model.encoder=conv"])
    with pytest.raises(ConfigError, match="model.encoder: task 'lm' takes lstm, gru, rnn, transformer; got 'conv'"):
        get_task("lm").build_model(cfg, None)
