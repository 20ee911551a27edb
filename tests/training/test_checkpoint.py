"""seqlab.training.checkpoint: the whole training state round-trips through one safetensors file."""

import json

import pytest
import torch
from safetensors import safe_open

from seqlab.training import checkpoint


def _trained():
    torch.manual_seed(0)
    model = torch.nn.LSTM(3, 4, batch_first=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    model(torch.randn(2, 5, 3))[0].sum().backward()
    optimizer.step()
    scheduler.step(1.0)
    return model, optimizer, scheduler


def test_round_trip_restores_training_exactly(tmp_path):
    model, optimizer, scheduler = _trained()
    path = tmp_path / "last.safetensors"
    checkpoint.save(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "rng": {"torch": torch.get_rng_state()},
                           "loop": {"epoch": 2, "best": None, "loss_sum": 0.1 + 0.2}})
    saved = checkpoint.load(path)
    assert saved["loop"] == {"epoch": 2, "best": None, "loss_sum": 0.1 + 0.2}  # floats exact through JSON
    assert saved["scheduler"] == scheduler.state_dict()  # inf (mode_worse) included

    other, other_optimizer, _ = _trained()
    other.load_state_dict(saved["model"])
    other_optimizer.load_state_dict(saved["optimizer"])  # int parameter ids survive as ints
    batch = torch.randn(2, 5, 3)
    for m, o in ((model, optimizer), (other, other_optimizer)):
        m(batch)[0].sum().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))


def test_file_is_plain_safetensors_with_json_metadata(tmp_path):
    path = tmp_path / "c.safetensors"
    checkpoint.save(path, {"model": {"w": torch.ones(2)}, "step": 3})
    with safe_open(str(path), framework="pt") as file:
        assert list(file.keys()) == ["model/w"]
        meta = json.loads(file.metadata()["seqlab_checkpoint"])
    assert meta == {"format": 1, "state": {"dict": [["model", {"dict": [["w", {"tensor": "model/w"}]]}], ["step", 3]]}}
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "c.safetensors"
    checkpoint.save(path, {"step": 1})
    with pytest.raises(TypeError, match="cannot store object at 'step'"):
        checkpoint.save(path, {"step": object()})
    assert checkpoint.load(path) == {"step": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.safetensors"
    checkpoint.save_tensors({"w": torch.ones(1)}, path)
    with pytest.raises(ValueError, match="is not a seqlab training checkpoint"):
        checkpoint.load(path)


def test_first_difference():
    a = {"seed": 0, "train": {"lr": 0.1, "epochs": 2}}
    assert checkpoint.first_difference(a, a) is None
    assert checkpoint.first_difference(a, {"seed": 0, "train": {"lr": 0.2, "epochs": 2}}) == "train.lr"
    assert checkpoint.first_difference(a, {"seed": 0, "train": {"lr": 0.1}}) == "train.epochs"
