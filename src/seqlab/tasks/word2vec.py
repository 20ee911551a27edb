"""word2vec: skip-gram and CBOW word vectors with negative sampling (Mikolov et al. 2013).

A one-hot word is a vector as long as the vocabulary with a single 1; word2vec learns a
dense vector per word instead, such that a word's vector predicts the words around it.
Words used alike end up close (cosine), and offsets carry meaning: king − man + woman ≈
queen. The recipe follows the original C tool (and gensim, which copies it):

- vocabulary: words seen at least ``data.min_freq`` times (word2vec's min_count),
  most frequent first;
- subsampling: each occurrence of a word of corpus share f is kept with probability
  ``(sqrt(f / s) + 1) * s / f`` (s = ``word2vec.sample``), drawn afresh every epoch;
- dynamic window: each center word reaches ``window - b`` words either side,
  b ~ U{0, ..., window-1}, within its own line (sentence/document) of the kept words;
- negative sampling: each prediction of a word t from an input vector v is the
  logistic loss  −log σ(u_t·v) − Σ_k log σ(−u_{n_k}·v)  over ``negative`` noise words
  n_k drawn from the unigram distribution raised to 0.75 (a draw equal to t is skipped);
- skip-gram: v is a context word's input vector, t the center word (as the C tool
  pairs them); CBOW: v is the mean of the window's input vectors, t the center word;
- skip-gram's noise words are drawn once per center word and shared by the predictions
  of all its context words (``word2vec.shared_negatives``, Ji et al. 2016, "Parallelizing
  Word2Vec in Shared and Distributed Memory"): a center's step is then two small matrix
  products, (contexts × D)·(D × (1+K)) and back, instead of one gather and scatter of
  1+K output rows per pair — about 3x faster on the CPU. Each center draws
  ``word2vec.shared_draws`` × K noise words, each weighted 1/shared_draws: the same
  expected loss with less noise in the estimate its context words share (on IMDB, one
  epoch: analogy accuracy 0.092 with 1 × K, 0.099–0.102 with 2 × K, 0.096 with fresh draws per
  pair). ``shared_negatives: false`` draws fresh ones for every pair, as the C tool does;
- plain SGD with the learning rate decayed linearly from ``word2vec.alpha`` to
  ``word2vec.min_alpha`` over all words of all epochs (with ``train.max_minutes``, over
  the time limit where that is spent faster; the workers stop at their next step once it is).

The C tool updates after every pair; here the pairs of ``word2vec.batch_words`` corpus
words are gathered as index tensors and updated together — one exact SGD step on the
summed loss of each chunk of them (skip-gram with shared noise words and CBOW: the centers
of one window reach, so up to ``window`` chunks a step, in turn), by hand-written gradients
and ``index_add_`` (no autograd, no optimizer state) — so a step is a few large tensor
operations on the CPU or a GPU.
With ``word2vec.workers`` above 1, that many threads take turns over the steps and update
the shared tables without locks, as the C tool's and gensim's threads do (not repeatable).

It does not fit the generic loop (no validation split, no mini-batches of examples, a
learning rate that moves every step), so the task table gives :func:`train_run`, to which
:func:`seqlab.training.loop.train` hands the run once config.yaml is written. The run dir
gets metrics.jsonl (loss, lr and words/s per ``train.log_every`` steps; each epoch's mean
loss), model.safetensors (``input``: the word vectors, ``output``: the context vectors),
vocab.json (words and counts), plots/curves.png and summary.json, whose headline is the
questions-words analogy accuracy. ``seqlab.embeddings.WordVectors.from_run`` loads it.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from rich.console import Console
from torch import nn

import seqlab
from seqlab.config import Config
from seqlab.data import registry
from seqlab.embeddings import WEIGHTS_FILE, WordVectors
from seqlab.errors import DataError, TrainingError
from seqlab.tasks.word2vec_data import (
    CORPORA,
    Chunk,
    Corpus,
    NoiseSampler,
    build_corpus,
    keep_probabilities,
    load_data,
    read_lines,
    tokenize,
    window_chunks,
)
from seqlab.training.checkpoint import save_tensors, write_atomic
from seqlab.training.records import MetricsLog, plot_curves, progress_bar
from seqlab.training.trainer import RunClock

__all__ = ["CORPORA", "Chunk", "Corpus", "NoiseSampler", "Word2Vec", "build_corpus", "keep_probabilities", "load_data",
           "read_lines", "tokenize", "train_run", "train_step", "window_chunks"]

# ----------------------------------------------------------------------------- model


class Word2Vec(nn.Module):
    """Two tables of ``vocab_size`` × ``dim``: ``input`` (the word vectors one keeps) and
    ``output`` (the vectors a word is predicted by). Initialized as the C tool does:
    input ~ U(−0.5/dim, 0.5/dim), output zero."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.empty(vocab_size, dim).uniform_(-0.5 / dim, 0.5 / dim), requires_grad=False)
        self.output = nn.Parameter(torch.zeros(vocab_size, dim), requires_grad=False)

    def extra_repr(self) -> str:
        return f"vocab_size={self.input.shape[0]}, dim={self.input.shape[1]}"

    @torch.no_grad()
    def sgd_step(self, hidden: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor,
                 alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the negative-sampling loss on ``hidden`` (P, D), the input side of P
        predictions; ``targets`` (P, 1+K): the true word then K noise words; ``keep`` (P, 1+K):
        0 for noise draws to skip. Updates ``output`` in place; returns (the gradient step for
        ``hidden``, to be spread onto the input vectors it came from: (P, D), the loss summed
        over the P predictions, computed before the update)."""
        u = gather(self.output, targets)  # (P, 1+K, D)
        scores = torch.bmm(u, hidden.unsqueeze(2)).squeeze(2)  # (P, 1+K)
        loss = torch.dot(nn.functional.softplus(scores * label_signs(keep)).view(-1), keep.view(-1))
        # d loss / d score = σ(score) − label; the step is −alpha times that (the C tool's g)
        g = torch.sigmoid(scores)  # (P, 1+K)
        g[:, 0] -= 1.0
        g.mul_(keep).mul_(-alpha)
        hidden_step = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (P, D)
        self.output.index_add_(0, targets.reshape(-1), (g.unsqueeze(2) * hidden.unsqueeze(1)).flatten(0, 1))
        return hidden_step, loss

    @torch.no_grad()
    def shared_sgd_step(self, hidden: torch.Tensor, valid: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor,
                        alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`sgd_step` for N groups of predictions that share their targets: ``hidden``
        (N, C, D), the input vectors of up to C context words per group (``valid`` (N, C): 1
        for a real one); ``targets`` (N, 1+K): each group's true word then its K noise words,
        used by every prediction of the group; ``keep`` (N, 1+K). Returns (the step for each
        input vector (N, C, D), zero where not valid; the loss summed over the valid predictions)."""
        u = gather(self.output, targets)  # (N, 1+K, D)
        scores = torch.bmm(hidden, u.transpose(1, 2))  # (N, C, 1+K): every context word against every target
        weight = keep.unsqueeze(1) * valid.unsqueeze(2)  # (N, C, 1+K)
        loss = torch.dot(nn.functional.softplus(scores * label_signs(keep)).view(-1), weight.view(-1))
        g = torch.sigmoid(scores)
        g[:, :, 0] -= 1.0  # σ(score) − label
        g.mul_(weight).mul_(-alpha)
        hidden_step = torch.bmm(g, u)  # (N, C, D)
        self.output.index_add_(0, targets.reshape(-1), torch.bmm(g.transpose(1, 2), hidden).flatten(0, 1))
        return hidden_step, loss


def label_signs(keep: torch.Tensor) -> torch.Tensor:
    """(1+K,) −1 for the true word, +1 for the noise words: a prediction's loss terms are
    −log σ(score) for the true word and −log σ(−score) for a noise word, that is
    softplus(sign · score) (softplus(x) = log(1 + eˣ) = −log σ(−x))."""
    signs = torch.ones(keep.shape[-1], dtype=keep.dtype, device=keep.device)
    signs[0] = -1.0
    return signs


def gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]``: rows of ``table`` (V, D) for an index of any shape, (*index.shape, D).
    By index_select, which is about 5x faster on the CPU than advanced indexing (measured with
    torch 2.13, 36k rows of 100 floats: 2 ms against 9 ms)."""
    return torch.index_select(table, 0, index.reshape(-1)).view(*index.shape, table.shape[1])


def build_model(cfg: Config, data: Corpus) -> Word2Vec:
    return Word2Vec(len(data.words), cfg.model.embedding_dim)


# ----------------------------------------------------------------------------- one step


def train_step(model: Word2Vec, chunks: list[Chunk], noise: NoiseSampler, negative: int, alpha: float,
               generator: torch.Generator, cbow: bool = False, shared_draws: int = 1) -> tuple[float, int]:
    """Train on one step's chunks (from :func:`window_chunks`): draw the noise words of all their
    targets at once (one set per target: per pair, or per center of a grouped chunk), then take
    the chunks' SGD steps one after the other. Returns (summed loss, predictions).

    ``shared_draws`` (grouped skip-gram only): each center draws ``shared_draws * negative``
    noise words, each weighted ``1 / shared_draws`` — the same expected loss as ``negative``
    draws, with less noise in the estimate that all the center's context words share."""
    chunks = [chunk for chunk in chunks if len(chunk.targets)]
    if not chunks:
        return 0.0, 0
    shared = chunks[0].input_mask is not None and not cbow  # skip-gram with noise words shared per center
    draws = shared_draws if shared else 1
    centers = chunks[0].targets if len(chunks) == 1 else torch.cat([chunk.targets for chunk in chunks])
    words = noise.draw((len(centers), negative * draws), generator)  # (P, K * draws)
    targets = torch.cat([centers.unsqueeze(1), words], dim=1)  # (P, 1 + K * draws)
    keep = (targets != centers.unsqueeze(1)).to(model.input.dtype)  # (P, 1 + K * draws): skip the true word
    keep[:, 0] = 1.0
    if draws > 1:
        keep[:, 1:] /= draws
    losses, first = [], 0
    for chunk in chunks:  # summed at the end: one read of the results per step, not per chunk (on a GPU, one sync)
        rows = slice(first, first + len(chunk.targets))
        first = rows.stop
        losses.append(update(model, chunk, targets[rows], keep[rows], alpha, cbow))
    # predictions: one per target, but one per real context word when a center's context words share its targets
    count = int(sum(chunk.input_mask.sum() for chunk in chunks)) if shared else len(centers)
    return float(torch.stack(losses).sum()), count


def update(model: Word2Vec, chunk: Chunk, targets: torch.Tensor, keep: torch.Tensor, alpha: float,
           cbow: bool) -> torch.Tensor:
    """The SGD step of one chunk's predictions against ``targets`` (its true words and noise
    words, weighted by ``keep``); spreads the input-side step onto the input vectors (CBOW: the
    whole step for the mean onto every context word, as the C tool does). Returns the summed
    loss, a tensor."""
    if chunk.input_mask is None:  # skip-gram, one prediction per (context, center) pair
        step, loss = model.sgd_step(gather(model.input, chunk.inputs), targets, keep, alpha)  # step: (P, D)
        model.input.index_add_(0, chunk.inputs, step)
        return loss
    mask = chunk.input_mask
    if cbow:
        weight = mask.unsqueeze(2).to(model.input.dtype)  # (N, 2r, 1)
        hidden = (gather(model.input, chunk.inputs) * weight).sum(1) / weight.sum(1)  # (N, D): mean of the context
        step, loss = model.sgd_step(hidden, targets, keep, alpha)
        rows = mask.nonzero(as_tuple=True)[0]  # for each real context word, its prediction
        model.input.index_add_(0, chunk.inputs[mask], step[rows])
        return loss
    steps, loss = model.shared_sgd_step(gather(model.input, chunk.inputs), mask, targets, keep, alpha)
    # every slot, the empty ones too: their step is exactly zero (a row added nothing to)
    model.input.index_add_(0, chunk.inputs.reshape(-1), steps.flatten(0, 1))
    return loss


# ----------------------------------------------------------------------------- the run


def train_run(cfg: Config, data: Corpus, run_dir: Path, recipe: str, device: torch.device, start: float) -> Path:
    """Train word vectors on ``data`` by ``cfg`` into ``run_dir`` (config.yaml and vocab.json already there);
    see the module docstring for what the run dir gets. Returns ``run_dir``."""
    analogies = analogy_path(cfg.word2vec.analogies)  # a missing benchmark file fails now, not after training
    with one_cpu_thread(device):
        return _train(cfg, data, run_dir, recipe, device, start, analogies)


@contextlib.contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, run with one torch thread and restore the count afterwards.

    The steps are many small tensor operations, and index_add_ of repeated rows is what
    suffers most when OpenMP threads must wait for busy cores: on a 2-core machine shared
    with other work (load 3-4), 36k rows of 100 floats onto a 40k-word table took 115 ms on
    two threads against 3-5 ms on one, and the Lee recipe 22 s against 12 s. On an idle
    machine two threads are a little faster (word2vec-lee at 100 dims: 149k against 129k
    words/s), so one thread trades that for never collapsing (torch 2.13, CPU-2)."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Tally:
    """What the workers' steps add up to: losses per epoch and per log window, the step count,
    the metrics.jsonl step records and the progress bar. Workers call :meth:`add` after each
    step; a lock keeps the sums whole when several threads train at once."""

    def __init__(self, log: MetricsLog, log_every: int, raw_words: int, progress, bar, w,
                 max_minutes: float | None = None) -> None:
        self.log, self.log_every, self.raw, self.progress, self.bar, self.w = log, log_every, raw_words, progress, bar, w
        self.lock, self.step, self.failed = threading.Lock(), 0, False
        self.train_time, self.epochs_done = 0.0, 0.0
        self.clock, self.out_of_time = RunClock(max_minutes), False  # the workers stop at their next step once it is set

    def spent(self) -> float:
        """The share of train.max_minutes used so far; 0 without a limit."""
        return self.clock.share(self.clock.elapsed())

    def start_epoch(self, epoch: int, kept_words: int) -> None:
        self.epoch, self.kept_words, self.kept_done = epoch, kept_words, 0
        self.sums = {"epoch": [0.0, 0], "window": [0.0, 0]}
        self.began = self.since = time.perf_counter()
        self.since_done = 0.0  # share of the epoch done at the start of the log window

    def add(self, loss: float, count: int, words: int, alpha: float) -> None:
        """One step's summed ``loss`` over ``count`` predictions, from ``words`` kept words."""
        with self.lock:
            self.step += 1
            for pair in self.sums.values():
                pair[0], pair[1] = pair[0] + loss, pair[1] + count
            self.kept_done += words
            done = self.kept_done / self.kept_words  # share of this epoch's words trained on
            try:
                check_diverged(loss, count, self.w.negative, self.epoch, self.step, self.w)
            except TrainingError:
                self.failed = True  # the other workers stop at their next step
                raise
            now = time.perf_counter()
            if self.step % self.log_every == 0:  # tokens_per_s: corpus words (all, as read) per second
                window = self.sums["window"]
                self.log.append({"kind": "step", "epoch": self.epoch, "step": self.step,
                                 "train_loss": window[0] / max(1, window[1]), "lr": alpha,
                                 "tokens_per_s": round(self.raw * (done - self.since_done) / (now - self.since), 1)})
                self.sums["window"], self.since, self.since_done = [0.0, 0], now, done
            self.progress.update(self.bar, advance=1, epoch=self.epoch, loss=self.epoch_loss(),
                                 speed=self.raw * (self.epoch - 1 + done) / max(1e-9, self.train_time + now - self.began))

    def end_epoch(self) -> None:
        self.train_time += time.perf_counter() - self.began
        self.epochs_done += self.kept_done / self.kept_words if self.kept_words else 1.0  # 1 for an epoch run whole

    def epoch_loss(self) -> float:
        return self.sums["epoch"][0] / max(1, self.sums["epoch"][1])


def train_epoch(model: Word2Vec, epoch_ids: torch.Tensor, epoch_lines: torch.Tensor, epoch: int, epochs: int,
                w, noise: NoiseSampler, generators: list[torch.Generator], tally: Tally) -> None:
    """One pass over the epoch's kept words in steps of ``w.batch_words``; with several
    generators (``word2vec.workers``), as many threads take every W-th step and update the
    shared tables without locks (Hogwild, as the C tool's and gensim's threads do). Torch
    releases the GIL inside its operations, so the threads run on separate cores."""
    firsts = range(0, len(epoch_ids), w.batch_words)
    cbow = w.architecture == "cbow"

    def work(k: int) -> None:
        for first in firsts[k::len(generators)]:
            spent = tally.spent()  # the share of train.max_minutes used (0 without a limit)
            if spent >= 1.0:
                tally.out_of_time = True
            if tally.failed or tally.out_of_time:
                return
            stop = min(first + w.batch_words, len(epoch_ids))
            progress = max((epoch - 1 + first / len(epoch_ids)) / epochs, spent)  # a limit that binds leads the decay
            alpha = w.alpha - (w.alpha - w.min_alpha) * progress
            chunks = window_chunks(epoch_ids, epoch_lines, first, stop, w.window, cbow or w.shared_negatives,
                                   generators[k])
            loss, count = train_step(model, chunks, noise, w.negative, alpha, generators[k], cbow, w.shared_draws)
            tally.add(loss, count, stop - first, alpha)

    if len(generators) == 1:
        work(0)
        return
    with ThreadPoolExecutor(len(generators), thread_name_prefix="word2vec") as pool:
        for future in [pool.submit(work, k) for k in range(len(generators))]:
            future.result()  # a worker's error (divergence) is raised here


def _train(cfg: Config, data: Corpus, run_dir: Path, recipe: str, device: torch.device, start: float,
           analogies: Path | None) -> Path:
    w, console = cfg.word2vec, Console(stderr=True)
    model = build_model(cfg, data).to(device)
    ids, lines = data.ids.to(device), data.lines.to(device)
    keep_p = keep_probabilities(data.counts, w.sample).to(device)
    noise = NoiseSampler(data.counts).to(device)
    # Worker 0 draws from the run's generator (so one worker repeats the same run exactly), the others their own.
    generators = [torch.Generator(device=device).manual_seed(cfg.seed * 1000 + k) for k in range(w.workers)]
    generators[0].manual_seed(cfg.seed)
    log, epochs, total = MetricsLog(run_dir / "metrics.jsonl"), cfg.train.epochs, len(ids)
    steps_per_epoch = math.ceil(total * float(keep_p[data.ids.to(device)].mean()) / w.batch_words)  # for the bar
    with progress_bar(console) as progress:
        bar = progress.add_task("train", total=epochs * steps_per_epoch, epoch=1, loss=float("nan"), speed=0.0)
        tally = Tally(log, cfg.train.log_every, data.raw_words, progress, bar, w, cfg.train.max_minutes)
        for epoch in range(1, epochs + 1):
            kept = (torch.rand(total, generator=generators[0], device=device, dtype=torch.float64) < keep_p[ids])
            where = kept.nonzero(as_tuple=True)[0]  # positions in the corpus of the kept words
            tally.start_epoch(epoch, len(where))
            train_epoch(model, ids[where], lines[where], epoch, epochs, w, noise, generators, tally)
            tally.end_epoch()
            epoch_loss = tally.epoch_loss()
            alpha = w.alpha - (w.alpha - w.min_alpha) * min(1.0, max(epoch / epochs, tally.spent()))
            record = {"kind": "epoch", "epoch": epoch, "step": tally.step, "train_loss": epoch_loss, "lr": alpha}
            log.append({**record, "cut_short": True} if tally.out_of_time else record)
            progress.console.print(f"epoch {epoch}: train_loss {epoch_loss:.4f}  lr {alpha:.6f}", soft_wrap=True)
            if tally.out_of_time or (epoch < epochs and tally.spent() >= 1.0):
                tally.out_of_time = True
                progress.console.print(f"train.max_minutes={cfg.train.max_minutes:g} reached in epoch {epoch}: "
                                       "stopping", soft_wrap=True)
                break
    epochs = epoch  # those run
    step, train_time, train_words = tally.step, tally.train_time, data.raw_words * tally.epochs_done
    save_tensors({"input": model.input, "output": model.output}, run_dir / WEIGHTS_FILE)
    note = plot_curves(log.read(), "train_loss", run_dir / "plots" / "curves.png")
    if note is not None:
        console.print(note, markup=False, highlight=False)
    vectors = WordVectors(data.words, model.input.cpu(), data.counts.tolist())
    scores = None if analogies is None else vectors.evaluate_analogies(analogies, w.restrict_vocab)
    headline = headline_for(cfg)
    summary = {
        "recipe": recipe, "task": cfg.task,
        "headline": {"metric": headline, "split": "questions-words" if scores else "train",
                     "value": scores["total"] if scores else epoch_loss},
        "analogy": scores, "train_loss": epoch_loss,
        "best": {"epoch": epochs, "metric": "train_loss", "mode": "min", "value": epoch_loss},  # the last epoch's vectors
        "epochs": epochs, "time_limit_reached": tally.out_of_time, "steps": step, "vocab_size": len(data.words),
        "corpus_words": data.raw_words,
        "corpus_words_in_vocab": total, "words_per_s": round(train_words / max(train_time, 1e-9), 1),
        "num_parameters": model.input.numel() + model.output.numel(), "device": str(device),
        "wall_time_s": round(time.perf_counter() - start, 3), "seqlab_version": seqlab.__version__,
    }
    write_atomic(run_dir / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    if scores:
        console.print(f"analogies: {scores['correct']}/{scores['answered']} right ({scores['total']:.2%}; "
                      f"{scores['skipped']} skipped: a word not among the {w.restrict_vocab} most frequent)")
    return run_dir


def check_diverged(loss: float, count: int, negative: int, epoch: int, step: int, w) -> None:
    """Raise a TrainingError when a step's mean loss is far above its starting value.

    At the start every score is 0 (output vectors are zero), so a prediction costs
    (1 + negative)·ln 2; SGD only lowers that on average. A step summing many updates of
    one frequent word's vector (its noise draws) can overshoot instead and blow up: a
    mean above twice the start, or not finite, says so."""
    start = (1 + negative) * math.log(2)
    if count and not loss / count <= 2 * start:
        raise TrainingError(f"word2vec diverged at epoch {epoch}, step {step}: mean loss {loss / count:.4g} per "
                            f"prediction, against {start:.3f} at the start; lower word2vec.batch_words "
                            f"(now {w.batch_words}) or word2vec.alpha (now {w.alpha})")


def headline_for(cfg: Config) -> str:
    """analogy_accuracy when the run scores analogies, else the last epoch's train_loss."""
    return "analogy_accuracy" if cfg.word2vec.analogies is not None else "train_loss"


def analogy_path(name: str | None) -> Path | None:
    """``word2vec.analogies`` as a file: the registry's word_analogy questions, or a path."""
    if name is None:
        return None
    if name == "word_analogy":
        return registry.local_folder(registry.get(name)) / "questions-words.txt"
    if not Path(name).is_file():
        raise DataError(f"word2vec.analogies: {name}: no such file; expected word_analogy, a questions-words "
                        "file or null")
    return Path(name)
