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

Optional pieces: a model may offer ``finalize_metrics(totals)``, turning the whole
split's ``{name: (sum, count)}`` into the metrics (for those that are not means, such
as macro-F1); a task may offer ``report(model, data, cfg, run_dir, device)``, run after
the test evaluation, which writes its own files and returns text for the console.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqlab.config import did_you_mean
from seqlab.errors import ConfigError
from seqlab.tasks import classify, seq2seq, tag


@dataclass(frozen=True)
class Task:
    """What the loop needs from a task; see the module docstring for the contract."""

    headline: str
    load_data: Callable[..., Any]
    build_model: Callable[..., Any]
    collate: Callable[..., Any]
    report: Callable[..., str] | None = None  # after the test evaluation; see the module docstring
    pick_headline: Callable[..., str] | None = None  # cfg -> headline, where it depends on the recipe

    def headline_for(self, cfg: Any) -> str:
        """The headline metric of a run of ``cfg``."""
        return self.headline if self.pick_headline is None else self.pick_headline(cfg)


TASKS = {
    "tag": Task(headline="token_accuracy", load_data=tag.load_data, build_model=tag.build_model,
                collate=tag.collate),
    "classify": Task(headline="accuracy", load_data=classify.load_data, build_model=classify.build_model,
                     collate=classify.collate, report=classify.report),
    "seq2seq": Task(headline="exact_match", load_data=seq2seq.load_data, build_model=seq2seq.build_model,
                    collate=seq2seq.collate, report=seq2seq.report, pick_headline=seq2seq.headline),
}


def get_task(name: str) -> Task:
    """The table entry for ``name``, or a ConfigError naming the key ``task``."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}{did_you_mean(name, TASKS)}; known: {', '.join(TASKS)}")
    return TASKS[name]
