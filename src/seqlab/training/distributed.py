"""PyTorch DDP under ``torchrun``: the same recipe, one process per device.

``torchrun --nproc_per_node=N -m seqlab train RECIPE`` starts N copies of ``seqlab train``
with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. :func:`setup` sees
them and joins the process group (NCCL on CUDA, gloo on the CPU); process ``r`` trains on
``cuda:LOCAL_RANK``. Then:

- every process builds the same model from the same seed; :meth:`Distributed.wrap` puts
  it behind :class:`~torch.nn.parallel.DistributedDataParallel` through
  :class:`LossForward`, whose ``forward`` is the task model's ``loss(batch)``, so every
  backward pass averages the gradients over the processes (Li et al. 2020, "PyTorch
  Distributed: Experiences on Accelerating Data Parallel Training");
- every process draws the same seeded batch order, and process ``r`` of ``W`` trains on
  batches ``r, r + W, r + 2W, ...`` (:meth:`Distributed.share`); every process gets
  ``floor(batches / W)`` of them and the last few batches of an epoch (fewer than W) are
  left out, so no process waits at a collective that another never reaches. With a
  loss that is a mean over the batch's examples (classify), W processes with
  ``train.batch_size`` B make the same updates as one process with batch W x B; with a
  mean per token (tag, seq2seq) the processes' means are averaged, DDP's usual rule, so
  a batch with more tokens weighs a little less than it would in one process;
- a task that orders its own batches (``epoch_batches``: a language model's windows of
  parallel streams) draws an epoch for W x B rows and process ``r`` keeps rows
  ``[r B, (r + 1) B)`` of each batch (:meth:`Distributed.share_epoch_batches`), so the
  hidden state each process carries from window to window is its own rows' state;
- validation and test batches are shared out the same way and the metrics' (sum, count)
  totals are summed over the processes (:meth:`Distributed.merge_totals`), so every
  process reports the figures one process would (a task's own evaluation order, which
  carries state from batch to batch, is scored whole by every process instead);
- process 0 loads the data first, then the others (:meth:`Distributed.main_first`), so a
  dataset is downloaded into the cache once;
- only process 0 writes the run dir and prints; the run dir's name is decided there and
  sent to the others (:meth:`Distributed.from_main`), and a checkpoint holds every
  process's random state and carried state, so ``--resume`` under ``torchrun`` with the
  same number of processes continues each process where it stopped.

Dropout draws from ``seed + rank`` after the model is built, so processes do not use the
same masks. Every parameter must take part in every loss (DDP is built without
``find_unused_parameters``, which costs a graph walk per step); seqlab's task models do.
:func:`check_config` refuses what cannot run here: a task with its own trainer (word2vec)
and ``train.teacher_forcing_schedule: linear``, whose decay is planned over one process's
updates. Multi-node runs are the same command with torchrun's rendezvous flags; the
run dir is written by one process, and ``--resume`` reads it on every node (a shared
filesystem).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from seqlab.config import Config
from seqlab.errors import ConfigError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # set by torchrun for every process it starts
T = TypeVar("T")


def launched() -> bool:
    """Whether this process was started by torchrun (RANK, WORLD_SIZE and LOCAL_RANK are set)."""
    return all(key in os.environ for key in ENV_KEYS)


def is_main_process() -> bool:
    """True unless this is a torchrun process other than rank 0 (which alone prints and writes)."""
    return not launched() or os.environ["RANK"] == "0"


class LossForward(nn.Module):
    """``forward(batch) = model.loss(batch)``: the task model's loss as a module call, so
    DistributedDataParallel, which hooks ``forward``, sees it and all-reduces the gradients.
    The task model is ``self.model``; its parameters are the same tensors, not copies."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> Tensor:
        """batch: a task's batch on the model's device. Returns the scalar loss."""
        return self.model.loss(batch)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job: rank ``rank`` of ``world_size``, on device ``device``."""

    rank: int
    world_size: int
    device: torch.device
    owns_group: bool  # this object joined the process group, so :meth:`close` leaves it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- the model ---------------------------------------------------------------------------

    def wrap(self, model: nn.Module) -> Callable[[Any], Tensor]:
        """DistributedDataParallel over ``model.loss``: call it with a batch for the loss.

        ``device_ids`` stays None so DDP does not move the batch (lengths stay on the CPU,
        where the recurrent layers want them). A language model's carried state is a plain
        attribute, not a buffer, so each process keeps its own rows' state.
        """
        return DistributedDataParallel(LossForward(model), device_ids=None)

    def broadcast_weights(self, model: nn.Module) -> None:
        """Copy process 0's parameters and buffers into every process's ``model``."""
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)

    # -- batches -----------------------------------------------------------------------------

    def per_rank(self, batches: int) -> int:
        """Batches each process trains on in an epoch of ``batches`` (the tail left out)."""
        if batches < self.world_size:
            raise ConfigError(f"train.batch_size: an epoch has {batches} batch(es), fewer than the "
                              f"{self.world_size} processes; lower train.batch_size or use fewer processes")
        return batches // self.world_size

    def share(self, batches: Iterable[T], count: int | None = None) -> list[T]:
        """This process's share of one pass drawn alike by every process: items r, r + W, ...;
        at most ``count`` (training: equal on every process; None: all of them, for scoring)."""
        mine = list(batches)[self.rank::self.world_size]
        return mine if count is None else mine[:count]

    def share_epoch_batches(self, epoch_batches: Callable[..., Sequence[Any]],
                            task: str) -> Callable[..., Sequence[Any]]:
        """A task's ``epoch_batches`` for this process: in training, the epoch drawn for
        W x B rows, each batch cut to rows [r B, (r + 1) B) by the batch's ``rows(start,
        stop)`` (a batch with fewer than (W - 1) B + 1 rows, which would leave a process
        none, is left out); in scoring (no generator), the whole pass in order."""

        def sharded(examples: Any, batch_size: int, generator: torch.Generator | None) -> Sequence[Any]:
            if generator is None:
                return epoch_batches(examples, batch_size, None)
            full = epoch_batches(examples, batch_size * self.world_size, generator)
            if hasattr(full, "rows"):  # a pass that cuts itself by rows, kept lazy (an lm's stream windows)
                return full.rows(self.rank * batch_size, (self.rank + 1) * batch_size)
            if full and not (hasattr(full[0], "rows") and hasattr(full[0], "__len__")):
                raise ConfigError(f"task: {task!r} orders its own batches and they cannot be split by rows, "
                                  "so it does not run under torchrun; train it in one process")
            first, last = self.rank * batch_size, (self.rank + 1) * batch_size
            return [batch.rows(first, last) for batch in full if len(batch) > (self.world_size - 1) * batch_size]

        return sharded

    # -- figures -----------------------------------------------------------------------------

    def all_sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the processes (float64, the same result on every process)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tuple(tensor.tolist())

    def merge_totals(self, totals: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
        """``{name: [sum, count]}`` of this process's batches -> the sums over all processes,
        added in rank order so every process gets the same floats."""
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, dict(totals))
        merged: dict[str, list[float]] = {}
        for part in gathered:
            for name, (value, count) in part.items():
                total = merged.setdefault(name, [0.0, 0])
                total[0] += value
                total[1] += count
        return merged

    def gather(self, value: T) -> list[T]:
        """Every process's ``value`` (picklable; tensors on the CPU), in rank order."""
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def from_main(self, make: Callable[[], T]) -> T:
        """Run ``make()`` on process 0 only and hand its result, or the error it raised, to
        every process: things that must be decided once (the run dir's name)."""
        box: list[Any] = [None]
        if self.is_main:
            try:
                box[0] = (True, make())
            except Exception as err:  # noqa: BLE001 (raised again below, on every process)
                box[0] = (False, err)
        dist.broadcast_object_list(box, src=0)
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def main_first(self, make: Callable[[], T]) -> T:
        """``make()`` in every process, process 0's first: a dataset it downloads lands in
        the cache once, and the others find it there instead of writing the same file."""
        if not self.is_main:
            self.barrier()
        value = make()
        if self.is_main:
            self.barrier()
        return value

    def barrier(self) -> None:
        """Wait until every process gets here."""
        dist.barrier(device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def close(self) -> None:
        """Leave the process group, if :func:`setup` joined it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def check_config(cfg: Config, own_trainer: bool) -> None:
    """A ConfigError for what does not run under torchrun: a task with its own trainer
    (``own_trainer``: word2vec) and a teacher-forcing decay planned over one process's updates."""
    if own_trainer:
        raise ConfigError(f"task: {cfg.task!r} trains with its own trainer, which does not run under torchrun "
                          "(DDP); train it in one process (seqlab train, without torchrun)")
    if cfg.train.teacher_forcing_schedule == "linear":
        raise ConfigError("train.teacher_forcing_schedule: linear plans its decay over the updates of one process, "
                          "so under torchrun it would decay too slowly; use constant, or train in one process")


def setup(device: torch.device) -> tuple[Distributed | None, torch.device]:
    """Under torchrun, join the process group and return this process's place and device
    (``cuda:LOCAL_RANK`` when ``device`` is cuda); otherwise ``(None, device)``."""
    if not launched():
        return None, device
    rank, world_size, local_rank = (_env_int(key) for key in ENV_KEYS)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"train.device: torchrun gave this process LOCAL_RANK={local_rank}, but torch sees "
                              f"{torch.cuda.device_count()} CUDA device(s); start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        if device.type == "cuda":
            dist.init_process_group("nccl", rank=rank, world_size=world_size, device_id=device)
        else:
            dist.init_process_group("gloo", rank=rank, world_size=world_size)
    return Distributed(rank, world_size, device, owns), device


def _env_int(key: str) -> int:
    value = os.environ[key]
    if not value.isdigit():
        raise ValueError(f"environment variable {key}={value!r}: torchrun sets it to a whole number")
    return int(value)

