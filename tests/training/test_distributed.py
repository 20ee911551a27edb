"""DDP under torchrun (gloo, CPU): two processes against one process with the global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from seqlab.cli.main import main
from seqlab.errors import ConfigError
from seqlab.tasks import classify
from seqlab.training import checkpoint, distributed
from seqlab.training.loop import evaluate, train

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "nice", "boring", "fun", "dull"]


def write_csv(path: Path, n: int, seed: int) -> Path:
    """n rows of 2-6 words; pos when at least half of them are kind words."""
    g = torch.Generator().manual_seed(seed)
    rows = ["text,label"]
    for _ in range(n):
        words = [WORDS[int(i)] for i in torch.randint(len(WORDS), (int(torch.randint(2, 7, (1,), generator=g)),),
                                                      generator=g)]
        kind = sum(word in ("good", "great", "fine", "nice", "fun") for word in words)
        rows.append(" ".join(words) + "," + ("pos" if 2 * kind >= len(words) else "neg"))
    path.write_text("\n".join(rows) + "\n")
    return path


def recipe_args(tmp_path: Path, batch_size: int) -> list[str]:
    sets = [f"data.train={write_csv(tmp_path / 'train.csv', 64, 0)}",
            f"data.valid={write_csv(tmp_path / 'valid.csv', 30, 1)}",
            f"data.test={write_csv(tmp_path / 'test.csv', 30, 2)}",
            "model.dropout=0", "model.embedding_dim=8", "model.hidden_size=8", "train.epochs=2",
            f"train.batch_size={batch_size}", "eval.batch_size=8", "train.device=cpu", "train.log_every=1"]
    return ["classify-csv"] + [arg for key in sets for arg in ("--set", key)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_global_batch(tmp_path, capsys):
    # 64 examples: 2 processes x batch 32 and 1 process x batch 64 both make 1 update per epoch
    # from the same seeded order (process r takes batch r of 32 = examples 32r..32r+31 of it).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "seqlab", "train", *recipe_args(tmp_path, 32)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["run:", "test"]  # printed once, by rank 0
    (run,) = (tmp_path / "runs").iterdir()  # one run dir
    assert main(["train", *recipe_args(tmp_path, 64), "--out", str(tmp_path / "one")]) == 0
    one = tmp_path / "one"
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (run, one))
    assert summary["processes"] == 2 and expected["processes"] == 1
    assert summary["steps"] == expected["steps"] == 2
    # the same weights after 2 updates (Adam's second step depends on the gradients' sizes, not only signs)
    weights, reference = (checkpoint.load(d / "checkpoints" / "last.safetensors")["model"] for d in (run, one))
    for name in reference:
        torch.testing.assert_close(weights[name], reference[name], rtol=1e-5, atol=1e-6, msg=name)
    # validation figures summed over the processes equal one process's (train_loss differs: the loop
    # weighs each batch's mean loss by its tokens, and here one batch became two of 32)
    assert summary["test"] == pytest.approx(expected["test"], rel=1e-5)
    records, expected_records = ([json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
                                 for d in (run, one))
    assert len(records) == len(expected_records)
    for record, ref in zip(records, expected_records):
        assert record["kind"] == ref["kind"] and record["step"] == ref["step"]
        for key in ref:
            if key.startswith("valid_"):
                assert record[key] == pytest.approx(ref[key], rel=1e-5), key


def _rank_worker(rank: int, port: int, examples: list, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist, device = distributed.setup(torch.device("cpu"))
    try:
        torch.manual_seed(0)
        model = classify.Classifier(vocab_size=12, num_classes=3, encoder="gru", embedding_dim=4, hidden_size=6)
        metrics = evaluate(model, examples, classify.collate, 3, device, dist=dist)
        mine = dist.share([examples[i:i + 4] for i in range(0, len(examples), 4)], 2)
        loss_of = dist.wrap(model)
        for examples_of_step in mine[:1]:
            loss_of(classify.collate(examples_of_step)).backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        torch.save({"metrics": metrics, "grads": grads}, f"{out}/rank{rank}.pt")
    finally:
        dist.close()


@pytest.mark.slow
def test_ranks_agree_on_metrics_and_average_gradients(tmp_path):
    g = torch.Generator().manual_seed(3)
    examples = [classify.ClassifyExample(torch.randint(2, 12, (int(n),), generator=g).tolist(), int(label))
                for n, label in zip(torch.randint(1, 7, (17,), generator=g), torch.randint(3, (17,), generator=g))]
    mp.spawn(_rank_worker, args=(free_port(), examples, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    torch.manual_seed(0)
    model = classify.Classifier(vocab_size=12, num_classes=3, encoder="gru", embedding_dim=4, hidden_size=6)
    # 17 examples in batches of 3: rank 0 scores batches 0, 2, 4 (9 examples), rank 1 batches 1, 3, 5 (8)
    expected = evaluate(model, examples, classify.collate, 3, torch.device("cpu"))
    assert results[0]["metrics"] == results[1]["metrics"]  # the same floats on every rank
    assert results[0]["metrics"] == pytest.approx(expected, rel=1e-6)
    # one step of batch 4 per rank = one step of batch 8 (examples 0..7) in one process: DDP averages
    model.loss(classify.collate(examples[:8])).backward()
    for name, p in model.named_parameters():
        for result in results:
            torch.testing.assert_close(result["grads"][name], p.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_a_task_with_its_own_trainer_is_refused_under_torchrun(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ConfigError, match=r"task: 'word2vec' trains with its own trainer, which does not run "
                                          r"under torchrun \(DDP\); train it in one process"):
        train("word2vec-lee")
