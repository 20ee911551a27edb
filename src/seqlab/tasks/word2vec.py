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
- plain SGD with the learning rate decayed linearly from ``word2vec.alpha`` to
  ``word2vec.min_alpha`` over all words of all epochs.

The C tool updates after every pair; here the pairs of ``word2vec.batch_words`` corpus
words are gathered as index tensors and updated together — one exact SGD step on their
summed loss, by hand-written gradients and ``index_add_`` (no autograd, no optimizer
state) — so a step is a few large tensor operations on the CPU or a GPU.

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
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from torch import nn

import seqlab
from seqlab.config import Config, did_you_mean
from seqlab.data import registry, sources
from seqlab.embeddings import VOCAB_FILE, WEIGHTS_FILE, WordVectors
from seqlab.errors import ConfigError, DataError, TrainingError
from seqlab.training.checkpoint import save_tensors, write_atomic
from seqlab.training.records import MetricsLog, plot_curves, progress_bar

CORPORA = ("word2vec_lee", "imdb")  # registry datasets this task reads as text; or data.train files
WORD = re.compile(r"\w+")  # a word: a run of letters, digits and underscores (punctuation is dropped)


# ----------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """The training text as word ids: ``ids`` (N,) in reading order, ``lines`` (N,) the
    line (sentence/document) each word came from; words outside the vocabulary dropped."""

    words: list[str]  # the vocabulary, most frequent first (ties: first seen first)
    counts: torch.Tensor  # (V,) int64, each word's count in the corpus
    ids: torch.Tensor  # (N,) int64
    lines: torch.Tensor  # (N,) int64
    raw_words: int  # words in the corpus before the vocabulary cut
    source: str  # where the text came from, in words

    def save(self, run_dir: Path) -> None:
        """vocab.json: the words and their counts (the rows of model.safetensors)."""
        text = json.dumps({"words": self.words, "counts": self.counts.tolist()}, ensure_ascii=False)
        write_atomic(run_dir / VOCAB_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def tokenize(text: str, lowercase: bool) -> list[str]:
    """The words of ``text`` (runs of ``\\w``), lower-cased if asked; punctuation is dropped."""
    return WORD.findall(text.lower() if lowercase else text)


def read_lines(cfg: Config) -> tuple[Iterable[str], str]:
    """The corpus's lines (sentences or documents) named by ``cfg.data``, and their description."""
    d = cfg.data
    if d.name == "word2vec_lee":
        return registry.load(d.name, "background"), "word2vec_lee/lee_background.cor"
    if d.name == "imdb":  # the review text of both splits; the labels play no part
        reviews = registry.load(d.name, "train") + registry.load(d.name, "test")
        return (text.replace("<br />", " ") for text, _ in reviews), "imdb reviews (train + test)"
    if d.name is not None:
        raise ConfigError(f"data.name: task 'word2vec' reads {', '.join(CORPORA)}, got {d.name!r}"
                          f"{did_you_mean(d.name, CORPORA)} (or data.name=null with data.train=your text file)")
    if d.train is None:
        raise ConfigError("data.train: expected a path to your text (one sentence or document per line), got null")
    if d.format != "text":
        raise ConfigError(f"data.format: task 'word2vec' reads plain text files; expected text, got {d.format!r}")
    if not Path(d.train).is_file():
        raise DataError(f"{d.train}: no such file")
    return sources.read_text(d.train), str(d.train)


def build_corpus(lines: Iterable[str], min_count: int, max_vocab: int | None, lowercase: bool,
                 source: str) -> Corpus:
    """Tokenize, count, keep words seen ``min_count`` times or more (the ``max_vocab`` most
    frequent, if set) and encode; raises a DataError when fewer than two words are kept."""
    tokenized = [tokenize(line, lowercase) for line in lines]
    counts = Counter(word for words in tokenized for word in words)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: -counts[w])  # stable: ties in order
    kept = kept[:max_vocab] if max_vocab is not None else kept
    if len(kept) < 2:
        top = ", ".join(f"{w!r} x{n}" for w, n in counts.most_common(3)) or "no words at all"
        raise DataError(f"{source}: {len(kept)} distinct word(s) occur at least data.min_freq={min_count} times "
                        f"({sum(counts.values())} words in all; most frequent: {top}); word2vec needs at least 2. "
                        f"Lower data.min_freq or give more text")
    index = {word: i for i, word in enumerate(kept)}
    ids, lines_of = [], []
    for number, words in enumerate(tokenized):
        encoded = [index[w] for w in words if w in index]
        ids.extend(encoded)
        lines_of.extend([number] * len(encoded))
    return Corpus(kept, torch.tensor([counts[w] for w in kept], dtype=torch.long), torch.tensor(ids, dtype=torch.long),
                  torch.tensor(lines_of, dtype=torch.long), sum(counts.values()), source)


def load_data(cfg: Config) -> Corpus:
    """The corpus of ``cfg.data``, cut to its vocabulary (see :func:`build_corpus`)."""
    lines, source = read_lines(cfg)
    return build_corpus(lines, cfg.data.min_freq, cfg.data.max_vocab, cfg.data.lowercase, source)


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
        label = torch.zeros_like(scores)
        label[:, 0] = 1.0
        # d loss / d score = σ(score) − label; the step is −alpha times that (the C tool's g)
        g = (label - torch.sigmoid(scores)) * keep * alpha  # (P, 1+K)
        sign = 2.0 * label - 1.0
        loss = -(nn.functional.logsigmoid(sign * scores) * keep).sum()
        hidden_step = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (P, D)
        self.output.index_add_(0, targets.reshape(-1), (g.unsqueeze(2) * hidden.unsqueeze(1)).flatten(0, 1))
        return hidden_step, loss


def gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]``: rows of ``table`` (V, D) for an index of any shape, (*index.shape, D).
    By index_select, which is about 5x faster on the CPU than advanced indexing (measured with
    torch 2.13, 36k rows of 100 floats: 2 ms against 9 ms)."""
    return torch.index_select(table, 0, index.reshape(-1)).view(*index.shape, table.shape[1])


def build_model(cfg: Config, data: Corpus) -> Word2Vec:
    return Word2Vec(len(data.words), cfg.model.embedding_dim)


# ----------------------------------------------------------------------------- one step


def keep_probabilities(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """(V,) chance of keeping each occurrence of a word: the C tool's (sqrt(f/(s·T)) + 1)·(s·T)/f
    for count f of T words in all, capped at 1; all ones when ``sample`` is 0."""
    if sample == 0:
        return torch.ones(len(counts), dtype=torch.float64)
    threshold = sample * counts.sum().item()
    f = counts.double()
    return ((f / threshold).sqrt() + 1.0).mul(threshold / f).clamp(max=1.0)


def noise_cdf(counts: torch.Tensor) -> torch.Tensor:
    """(V,) cumulative unigram^0.75 distribution, float64, ending at 1: noise words are
    drawn by searching it with uniform numbers."""
    weights = counts.double() ** 0.75
    return weights.cumsum(0) / weights.sum()


@dataclass
class Chunk:
    """The pairs of one step: for each prediction, where its input vectors come from and its target."""

    inputs: torch.Tensor  # skip-gram: (P,) context word ids; CBOW: (P, 2·window) context ids
    input_mask: torch.Tensor | None  # CBOW: (P, 2·window) 1 for a real context word; skip-gram: None
    targets: torch.Tensor  # (P,) the center word ids


def window_chunk(ids: torch.Tensor, lines: torch.Tensor, start: int, stop: int, window: int, cbow: bool,
                 generator: torch.Generator) -> Chunk:
    """The predictions of the centers ``ids[start:stop]`` (the epoch's kept words), each with a
    reduced window ``window - b``, b ~ U{0..window-1}, not crossing its line."""
    device = ids.device
    centers = torch.arange(start, stop, device=device)  # (n,) positions
    offsets = torch.cat([torch.arange(-window, 0, device=device), torch.arange(1, window + 1, device=device)])
    reach = window - torch.randint(0, window, (len(centers),), generator=generator, device=device)  # (n,)
    positions = centers.unsqueeze(1) + offsets  # (n, 2·window)
    inside = (positions >= 0) & (positions < len(ids))
    positions = positions.clamp(0, len(ids) - 1)
    valid = inside & (offsets.abs() <= reach.unsqueeze(1)) & (lines[positions] == lines[centers].unsqueeze(1))
    context = ids[positions]  # (n, 2·window)
    if cbow:
        has = valid.any(dim=1)
        return Chunk(context[has], valid[has], ids[centers][has])
    return Chunk(context[valid], None, ids[centers].unsqueeze(1).expand_as(valid)[valid])


def train_chunk(model: Word2Vec, chunk: Chunk, cdf: torch.Tensor, negative: int, alpha: float,
                generator: torch.Generator) -> tuple[float, int]:
    """Draw the noise words, take the SGD step, spread the input-side step onto the input
    vectors (CBOW: the whole step onto every context word, as the C tool does). Returns
    (summed loss, predictions)."""
    p = len(chunk.targets)
    if p == 0:
        return 0.0, 0
    uniform = torch.rand(p, negative, generator=generator, device=cdf.device, dtype=torch.float64)
    noise = torch.searchsorted(cdf, uniform).clamp_(max=len(cdf) - 1)  # (P, K)
    targets = torch.cat([chunk.targets.unsqueeze(1), noise], dim=1)  # (P, 1+K)
    keep = torch.ones(targets.shape, device=cdf.device)
    keep[:, 1:] = (noise != chunk.targets.unsqueeze(1)).float()
    if chunk.input_mask is None:
        hidden = gather(model.input, chunk.inputs)  # (P, D)
    else:
        mask = chunk.input_mask.unsqueeze(2).float()  # (P, 2·window, 1)
        hidden = (gather(model.input, chunk.inputs) * mask).sum(1) / mask.sum(1)  # (P, D): mean of the context
    step, loss = model.sgd_step(hidden, targets, keep, alpha)
    if chunk.input_mask is None:
        model.input.index_add_(0, chunk.inputs, step)
    else:
        rows = chunk.input_mask.nonzero(as_tuple=True)[0]  # for each real context word, its prediction
        model.input.index_add_(0, chunk.inputs[chunk.input_mask], step[rows])
    return float(loss), p


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


def _train(cfg: Config, data: Corpus, run_dir: Path, recipe: str, device: torch.device, start: float,
           analogies: Path | None) -> Path:
    w, console = cfg.word2vec, Console(stderr=True)
    model = build_model(cfg, data).to(device)
    ids, lines = data.ids.to(device), data.lines.to(device)
    keep_p = keep_probabilities(data.counts, w.sample).to(device)
    cdf = noise_cdf(data.counts).to(device)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    log, epochs, total = MetricsLog(run_dir / "metrics.jsonl"), cfg.train.epochs, len(ids)
    raw = data.raw_words  # speeds count the corpus's words as read, before the vocabulary cut and subsampling
    steps_per_epoch = math.ceil(total * float(keep_p[data.ids.to(device)].mean()) / w.batch_words)  # for the bar
    step, train_words, train_time, epoch_loss = 0, 0, 0.0, float("nan")
    with progress_bar(console) as progress:
        bar = progress.add_task("train", total=epochs * steps_per_epoch, epoch=1, loss=float("nan"), speed=0.0)
        for epoch in range(1, epochs + 1):
            began = time.perf_counter()
            kept = (torch.rand(total, generator=generator, device=device, dtype=torch.float64) < keep_p[ids])
            where = kept.nonzero(as_tuple=True)[0]  # positions in the corpus of the kept words
            epoch_ids, epoch_lines = ids[where], lines[where]
            sums = {"epoch": [0.0, 0], "window": [0.0, 0]}
            since, since_done = time.perf_counter(), 0.0  # start of the step record's window, in time and corpus
            for first in range(0, len(epoch_ids), w.batch_words):
                stop = min(first + w.batch_words, len(epoch_ids))
                done = int(where[first]) / total  # share of this epoch's corpus before this step
                alpha = w.alpha - (w.alpha - w.min_alpha) * (epoch - 1 + done) / epochs
                chunk = window_chunk(epoch_ids, epoch_lines, first, stop, w.window, w.architecture == "cbow",
                                     generator)
                loss, count = train_chunk(model, chunk, cdf, w.negative, alpha, generator)
                step += 1
                for pair in sums.values():
                    pair[0], pair[1] = pair[0] + loss, pair[1] + count
                done = int(where[stop]) / total if stop < len(where) else 1.0  # ... and after it
                check_diverged(loss, count, w.negative, epoch, step, w)
                if step % cfg.train.log_every == 0:  # tokens_per_s: corpus words (all, as read) per second
                    log.append({"kind": "step", "epoch": epoch, "step": step,
                                "train_loss": sums["window"][0] / max(1, sums["window"][1]), "lr": alpha,
                                "tokens_per_s": round(raw * (done - since_done) / (time.perf_counter() - since), 1)})
                    sums["window"], since, since_done = [0.0, 0], time.perf_counter(), done
                progress.update(bar, advance=1, epoch=epoch, loss=sums["epoch"][0] / max(1, sums["epoch"][1]),
                                speed=raw * (epoch - 1 + done) / max(1e-9, train_time + time.perf_counter() - began))
            train_time += time.perf_counter() - began
            train_words += raw
            epoch_loss = sums["epoch"][0] / max(1, sums["epoch"][1])
            log.append({"kind": "epoch", "epoch": epoch, "step": step, "train_loss": epoch_loss, "lr": alpha})
            progress.console.print(f"epoch {epoch}: train_loss {epoch_loss:.4f}  lr {alpha:.6f}", soft_wrap=True)
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
        "epochs": epochs, "steps": step, "vocab_size": len(data.words), "corpus_words": data.raw_words,
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
