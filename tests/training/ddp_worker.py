"""One torchrun process of tests/training/test_distributed.py (2 processes, gloo, CPU).

``torchrun --nproc_per_node 2 ddp_worker.py PLAN.json``: join the process group once, then

1. score a split with the split's batches shared out and compute one DDP gradient
   (``grads-<rank>.pt``: this process's metrics and gradients);
2. run ``seqlab train`` through the command line for each argument list in the plan;
3. last, if the plan has one, a run that kills itself after step ``plan["kill_after"]``
   (every process, as the user's Ctrl-C or the OS would), left for ``--resume``.

One launch serves every check, since starting processes is what costs the time.
"""

import json
import os
import sys

import torch
import torch.distributed as dist

from seqlab.cli.main import main
from seqlab.tasks import classify
from seqlab.training import distributed
from seqlab.training.loop import KILL_AFTER_STEP_ENV, evaluate


def tiny_classifier() -> classify.Classifier:
    torch.manual_seed(0)
    return classify.Classifier(vocab_size=12, num_classes=3, encoder="gru", embedding_dim=4, hidden_size=6)


def tiny_examples() -> list[classify.ClassifyExample]:
    """17 texts of 1-6 token ids in 2..11, labels in 0..2."""
    g = torch.Generator().manual_seed(3)
    lengths, labels = torch.randint(1, 7, (17,), generator=g), torch.randint(3, (17,), generator=g)
    return [classify.ClassifyExample(torch.randint(2, 12, (int(n),), generator=g).tolist(), int(label))
            for n, label in zip(lengths, labels)]


def scores_and_gradients(out: str) -> None:
    ctx, device = distributed.setup(torch.device("cpu"))
    examples, model = tiny_examples(), tiny_classifier()
    metrics = evaluate(model, examples, classify.collate, 3, device, dist=ctx)
    # the batches of 4 drawn alike everywhere: this process takes batch `rank` for its one step
    (mine,) = ctx.share([examples[i:i + 4] for i in range(0, 8, 4)], 1)
    loss_of = ctx.wrap(model)  # kept: DDP all-reduces in backward only while the wrapper lives
    loss_of(classify.collate(mine)).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    torch.save({"metrics": metrics, "grads": grads}, f"{out}/grads-{ctx.rank}.pt")


def run(plan_path: str) -> int:
    plan = json.loads(open(plan_path, encoding="utf-8").read())
    dist.init_process_group("gloo")  # joined once; train() uses it and leaves it open
    try:
        scores_and_gradients(plan["out"])
        code = max(main(["train", *args]) for args in plan["runs"])
        if code == 0 and "killed" in plan:
            os.environ[KILL_AFTER_STEP_ENV] = str(plan["kill_after"])
            main(["train", *plan["killed"]])  # never returns
        return code
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
