"""Tasks: the one table from task name to its pieces.

A task module builds its data and model from a config; the training loop then sees only
plain pieces. The contract (see :mod:`seqlab.tasks.tag` for one that keeps it):

- ``load_data(cfg)`` returns an object with ``train``, ``valid`` and ``test`` lists of
  examples, whatever ``build_model`` needs (such as vocabulary sizes), and
  ``save(run_dir)`` writing what decoding a prediction needs (vocabularies);
- ``build_model(cfg, data)`` returns an ``nn.Module`` with ``loss(batch)`` (a scalar to
  minimize), ``metrics(batch)`` (each metric as ``(sum, count)`` so batches add up
  exactly; ``"loss"`` among them) and ``predict(batch)``;
- ``collate(examples)`` returns a batch with ``.to(device)`` and ``.num_tokens``;
- ``headline`` names the metric that summary.json and ``seqlab train`` report on test
  (and ``train.monitor`` defaults to); a task whose headline depends on the recipe
  gives ``pick_headline(cfg)`` too, and callers ask ``task.headline_for(cfg)``.

A task whose examples have a length offers ``length(example) -> int`` (tokens, words or
time steps; the longer side of a pair), so ``train.bucket`` can batch examples of
similar length together.

Optional pieces: a model may offer ``finalize_metrics(totals)``, turning the whole
split's ``{name: (sum, count)}`` into the metrics (for those that are not means, such
as macro-F1); a task may offer ``report(model, data, cfg, run_dir, device)``, run after
the test evaluation, which writes its own files and returns text for the console; and
``summary(data, cfg, test)``, more entries for summary.json (forecast: its baselines and
how the model compares with them).

A task whose batches must come in an order of its own (a language model reads a token
stream in consecutive windows and carries its hidden state from one to the next) offers
``epoch_batches(examples, batch_size, generator)``: the batches of one pass over a split,
used instead of ``collate`` over shuffled examples. With a ``torch.Generator`` it is a
training epoch, drawn from that generator alone (so runs stay seeded and a resumed epoch
is the same epoch), and its number of batches must not depend on the generator (the loop
counts one epoch to plan the learning-rate schedule); with ``None`` it is an evaluation
pass, in a fixed order. Its model may then keep state from one batch to the next; it
offers ``carried_state()`` (a dict of tensors) and ``load_carried_state(tensors)`` so a
checkpoint saves that state and a resumed run continues from it, and it decides from
each batch itself where a pass starts afresh. Under torchrun such batches also offer
``len(batch)`` (its rows) and ``batch.rows(start, stop)``: each process trains on its
rows of every batch (see :mod:`seqlab.training.distributed`).

A task that does not train by loss(batch) at all (word2vec: plain SGD over millions of
tiny updates, no validation split) offers ``train_fn(cfg, data, run_dir, recipe, device,
start)``: ``train()`` writes config.yaml, loads the data, saves it to the run dir and
hands the rest of the run to it; it writes metrics.jsonl, the weights and summary.json
and returns the run dir. Such a task needs no ``collate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqlab.config import did_you_mean
from seqlab.errors import ConfigError
from seqlab.tasks import classify, forecast, lm, seq2seq, tag, word2vec
from seqlab.tasks.seq2seq_data import example_length as seq2seq_length


@dataclass(frozen=True)
class Task:
    """What the loop needs from a task; see the module docstring for the contract."""

    headline: str
    load_data: Callable[..., Any]
    build_model: Callable[..., Any]
    collate: Callable[..., Any] | None  # None only for a task with its own train_fn
    report: Callable[..., str] | None = None  # after the test evaluation; see the module docstring
    epoch_batches: Callable[..., Any] | None = None  # the task's own batches of a pass; see the module docstring
    pick_headline: Callable[..., str] | None = None  # cfg -> headline, where it depends on the recipe
    length: Callable[[Any], int] | None = None  # example -> its length, for train.bucket; see the module docstring
    train_fn: Callable[..., Any] | None = None  # the task's own trainer, handed the whole run; see the module docstring
    summary: Callable[..., dict] | None = None  # (data, cfg, test metrics) -> more entries for summary.json

    def headline_for(self, cfg: Any) -> str:
        """The headline metric of a run of ``cfg``."""
        return self.headline if self.pick_headline is None else self.pick_headline(cfg)


TASKS = {
    "tag": Task(headline="token_accuracy", load_data=tag.load_data, build_model=tag.build_model,
                collate=tag.collate, length=tag.example_length),
    "classify": Task(headline="accuracy", load_data=classify.load_data, build_model=classify.build_model,
                     collate=classify.collate, report=classify.report, length=classify.example_length),
    "seq2seq": Task(headline="exact_match", load_data=seq2seq.load_data, build_model=seq2seq.build_model,
                    collate=seq2seq.collate, report=seq2seq.report, pick_headline=seq2seq.headline,
                    length=seq2seq_length),
    "lm": Task(headline="loss", load_data=lm.load_data, build_model=lm.build_model, collate=lm.collate,
               report=lm.report, epoch_batches=lm.epoch_batches),
    "word2vec": Task(headline="analogy_accuracy", load_data=word2vec.load_data, build_model=word2vec.build_model,
                     collate=None, pick_headline=word2vec.headline_for, train_fn=word2vec.train_run),
    "forecast": Task(headline="mse", load_data=forecast.load_data, build_model=forecast.build_model,
                     collate=forecast.collate, report=forecast.report, summary=forecast.summary),
}


def get_task(name: str) -> Task:
    """The table entry for ``name``, or a ConfigError naming the key ``task``."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}{did_you_mean(name, TASKS)}; known: {', '.join(TASKS)}")
    return TASKS[name]
