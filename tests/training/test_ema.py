"""train.ema_decay: the moving average of the weights is what is validated, kept and resumed."""

import pytest
import torch
from safetensors.torch import load_file

from seqlab import config
from seqlab.errors import ConfigError
from seqlab.training import checkpoint, loop

TINY = {"data.num_train": 96, "data.num_valid": 32, "data.num_test": 32, "train.epochs": 1,
        "train.batch_size": 32, "model.hidden_size": 8, "train.device": "cpu", "train.checkpoint_every": None,
        "train.ema_decay": 0.5}


def test_the_best_weights_are_the_moving_average_of_each_steps_weights(tmp_path, monkeypatch):
    after = []  # the trained weights after each of the 3 steps
    step = loop.train_step

    def recording(model, *args, **kwargs):
        loss = step(model, *args, **kwargs)
        after.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return loss

    monkeypatch.setattr(loop, "train_step", recording)
    run = loop.train("toy-tag", TINY, out=tmp_path / "run")
    assert len(after) == 3
    # avg_1 = w_1 (the first update copies); avg_k = 0.5 avg_{k-1} + 0.5 w_k
    expected = {k: 0.25 * after[0][k] + 0.25 * after[1][k] + 0.5 * after[2][k] for k in after[0]}
    best = load_file(run / checkpoint.FOLDER / checkpoint.BEST)
    last = checkpoint.load(run / checkpoint.FOLDER / checkpoint.LAST)
    for key, value in expected.items():
        torch.testing.assert_close(best[key], value, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(last["ema"][f"module.{key}"], value, rtol=1e-6, atol=1e-7)
        assert torch.equal(last["model"][key], after[2][key])  # the trained weights go on unaveraged
    assert not torch.equal(best["encoder.weight_hh_l0"], after[2]["encoder.weight_hh_l0"])
    assert int(last["ema"]["n_averaged"]) == 3
    bundle = load_file(run / "model.safetensors")  # the bundle is the averaged (best) weights
    torch.testing.assert_close(bundle["encoder.weight_hh_l0"], expected["encoder.weight_hh_l0"])


def test_a_stopped_run_with_averaging_resumes_exactly(tmp_path, monkeypatch):
    overrides = {**TINY, "data.num_train": 200, "train.epochs": 3, "train.checkpoint_every": 4,
                 "train.ema_decay": 0.9}
    reference = (tmp_path / "ref", loop.train("toy-tag", overrides, out=tmp_path / "ref"))
    monkeypatch.setenv(loop.KILL_AFTER_STEP_ENV, "10")  # epoch 2 of 7 batches each; last checkpoint: step 8

    class Stopped(Exception):
        pass

    def stop():
        raise Stopped

    monkeypatch.setattr(loop, "_kill_self", stop)
    with pytest.raises(Stopped):
        loop.train("toy-tag", overrides, out=tmp_path / "run")
    monkeypatch.delenv(loop.KILL_AFTER_STEP_ENV)
    run = loop.train(resume=tmp_path / "run")
    for name in ("summary.json",):
        ours = (run / name).read_text()
        theirs = (reference[0] / name).read_text()
        assert ours.split('"wall_time_s"')[0] == theirs.split('"wall_time_s"')[0]
    assert torch.equal(load_file(run / "model.safetensors")["encoder.weight_hh_l0"],
                       load_file(reference[0] / "model.safetensors")["encoder.weight_hh_l0"])


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1"])
def test_a_decay_outside_0_1_is_refused(value):
    with pytest.raises(ConfigError, match=rf"train.ema_decay: expected a number in \(0, 1\), or null for no "
                                          rf"averaging, got {value}"):
        config.apply_overrides(config.Config(), [f"train.ema_decay={value}"])
