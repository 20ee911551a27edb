"""A finished run dir is a bundle: load it in one call and predict, tag or translate.

A run dir (see :mod:`seqlab.training.loop`) holds ``config.yaml`` (the resolved recipe),
``model.safetensors`` (the best weights), the files its task's ``data.save(run_dir)``
wrote (tokenizer and vocabularies), ``metrics.jsonl``, ``summary.json`` and ``plots/``.
:func:`load` rebuilds tokenizer, vocabulary and model from those files alone, without
the dataset, and returns the predictor that fits the task:

| task       | predictor     | call                                                          |
| ---------- | ------------- | ------------------------------------------------------------- |
| `classify` | `Classifier`  | ``predict(texts) -> [(label, probability)]``, ``predict_proba`` |
|            |               | (feature-sequence runs: ``predict(sequences)``, each T steps)    |
| `tag`      | `Tagger`      | ``predict(texts or token lists) -> [[tag per token]]``          |
| `seq2seq`  | `Translator`  | ``translate(texts, beam_size=1, ...)``                          |
| `lm`       | `Generator`   | ``generate(prompt, length, temperature=..., condition=...)``    |
| `word2vec` | `WordVectors` | ``most_similar(word)``, ``analogy(a, b, c)``, ``[word]`` (CPU)  |
| `forecast` | `Forecaster`  | ``forecast(rows, timestamps)``, ``forecast_file(csv)`` (seqlab.forecasting) |

A folder written by ``seqlab ensemble`` loads as a ClassifyEnsemble or TagEnsemble
(:mod:`seqlab.ensemble`), with the predict of the task its members share.

The files are read by :mod:`seqlab.runfiles`. Weights load with safetensors only (never
pickle), so a bundle from a stranger runs no code. Loading never writes to the bundle:
the weights file is read as bytes and parsed in memory. Every problem is a :class:`~seqlab.errors.DataError` or ConfigError naming
the file: not a run dir, a missing file, a corrupted or truncated weights file, weights
that do not fit the config (the parameter named).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqlab.config import Config
from seqlab.data.batching import pad
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID, SPECIALS, UNK_ID, UnknownTokenWarning
from seqlab.errors import DataError
from seqlab.forecasting import Forecaster
from seqlab.runfiles import (  # a run dir's files; read_config, WEIGHTS etc. stay importable from here
    COMMAND_FOR_TASK,  # noqa: F401
    CONFIG,  # noqa: F401
    WEIGHTS,
    Saved,
    load_weights,
    read_config,
    read_saved,
)
from seqlab.tasks import classify_features, get_task, lm
from seqlab.tasks.classify_data import eval_cap


class LongSourceWarning(UserWarning):
    """A source longer than the allowed maximum was cut to it."""


# -- opening a run dir -----------------------------------------------------------------


def load(path: str | Path,
         device: str | torch.device = "cpu") -> Classifier | Tagger | Translator | Generator | Forecaster | Any:
    """Open the run dir ``path`` and return its predictor (see the module docstring); a
    word2vec run gives its :class:`~seqlab.embeddings.WordVectors` (on the CPU), a folder
    written by ``seqlab ensemble`` its :class:`~seqlab.ensemble.Ensemble`
    (a ClassifyEnsemble or TagEnsemble)."""
    from seqlab import ensemble

    if ensemble.is_ensemble(path):
        return ensemble.load_ensemble(path, device)
    run_dir, cfg = read_config(path)
    if cfg.task == "word2vec":  # the vectors themselves are what a word2vec run predicts with
        from seqlab.embeddings import WordVectors

        return WordVectors.from_run(run_dir)
    saved = read_saved(run_dir, cfg)
    model = get_task(cfg.task).build_model(cfg, saved)
    load_weights(model, run_dir / WEIGHTS)
    model.to(device).eval()
    predictor = {"classify": Classifier, "tag": Tagger, "seq2seq": Translator, "lm": Generator,
                 "forecast": Forecaster}[cfg.task]
    return predictor(run_dir, cfg, model, saved, torch.device(device))


@dataclass
class _Predictor:
    """A loaded bundle: its folder, resolved config, model (eval mode) and vocabularies."""

    run_dir: Path
    cfg: Config
    model: nn.Module
    saved: Saved
    device: torch.device

    @property
    def task(self) -> str:
        return self.cfg.task

    def _batches(self, items: Sequence, size: int | None = None):
        size = size or self.cfg.eval.batch_size
        for start in range(0, len(items), size):
            yield start, items[start:start + size]


# -- classify --------------------------------------------------------------------------


class ClassProbabilities:
    """``predict`` and ``predict_proba`` of anything with ``labels`` and ``probabilities(texts)``
    (a classify bundle, an ensemble of them)."""

    labels: list[str]
    probabilities: Callable[[Sequence], Tensor]  # texts -> (N, C), columns in the order of labels

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most likely label of each text with its probability."""
        probabilities = self.probabilities(texts)
        best = probabilities.argmax(dim=-1).tolist() if len(probabilities) else []
        return [(self.labels[i], float(probabilities[n, i])) for n, i in enumerate(best)]

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Every class's probability for each text, as ``{label: probability}``."""
        return [dict(zip(self.labels, row)) for row in self.probabilities(texts).tolist()]


class Classifier(ClassProbabilities, _Predictor):
    """A classify bundle. ``labels``: the classes, in the order of ``predict_proba``'s columns."""

    @property
    def labels(self) -> list[str]:
        return list(self.saved.labels)

    def encode(self, text: str) -> list[int]:
        """Text -> ids as the task's load_data encodes it: tokenize, cap, look up; never empty."""
        tokens = self.saved.tokenizer.tokenize(text)[:eval_cap(self.cfg)]
        return self.saved.vocab.encode(tokens) or [UNK_ID]

    @property
    def reads_features(self) -> bool:
        """Does the model read numeric feature sequences (``predict(sequences)``) rather than texts?"""
        return self.saved.normalizer is not None

    def encode_features(self, steps: Sequence) -> classify_features.FeatureExample:
        """T steps (each F numbers, or one number when F is 1) -> a normalized example, as load_data makes them."""
        rows = classify_features.check_steps(steps, "a sequence", "steps")[:eval_cap(self.cfg)]
        return classify_features.FeatureExample(self.saved.normalizer(rows), 0)  # label unused

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str] | Sequence[Sequence]) -> Tensor:
        """(N, C) class probabilities of each text (or feature sequence), on the CPU."""
        from seqlab.tasks.classify import ClassifyExample, collate, example_length

        if self.reads_features:
            if isinstance(texts, str) or not isinstance(texts, Sequence):
                raise TypeError(f"this model reads feature sequences: pass a list of sequences, got {texts!r:.40}")
            items = [self.encode_features(steps) for steps in texts]
        else:
            items = [ClassifyExample(self.encode(text), 0) for text in _texts(texts)]  # label unused
        # Batches of similar lengths (as evaluation reads them): little padding for long texts.
        order = sorted(range(len(items)), key=lambda n: example_length(items[n]))
        out = torch.empty(len(items), len(self.labels))
        for _, chunk in self._batches(order):
            out[chunk] = self.model.predict(collate([items[n] for n in chunk]).to(self.device))[1].float().cpu()
        return out


# -- tag -------------------------------------------------------------------------------


class Tagger(_Predictor):
    """A tag bundle: one tag per whitespace-separated token (the task's tokenization)."""

    @property
    def tags(self) -> list[str]:
        return list(self.saved.tags)

    def predict(self, inputs: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
        """Texts (split on whitespace) or token lists -> the predicted tag of every token.
        An empty input gets an empty tag list."""
        return [[self.saved.tags[i] for i in p.argmax(dim=-1).tolist()] for p in self.token_probabilities(inputs)]

    @torch.no_grad()
    def token_probabilities(self, inputs: Sequence[str] | Sequence[Sequence[str]]) -> list[Tensor]:
        """Texts (split on whitespace) or token lists -> a (T, C) tensor per input, on the CPU:
        every tag's probability (columns in ``tags``' order) at each of its T tokens."""
        from seqlab.tasks.tag import TagExample, collate

        if isinstance(inputs, str):
            raise TypeError(f"predict takes a list of texts or token lists, got the string {inputs[:40]!r}")
        token_lists = [item.split() if isinstance(item, str) else list(item) for item in inputs]
        out = [torch.empty(0, len(self.saved.tags)) for _ in token_lists]
        real = [n for n, tokens in enumerate(token_lists) if tokens]  # the encoder needs >= 1 step
        lowercase, chars = self.cfg.data.lowercase, self.saved.char_vocab
        for _, chunk in self._batches(real):
            examples = [TagExample(self.saved.vocab.encode([w.lower() for w in tokens] if lowercase else tokens),
                                   [PAD_ID] * len(tokens),  # tags unused
                                   None if chars is None else [chars.encode(list(w)) for w in tokens])
                        for tokens in (token_lists[n] for n in chunk)]  # as tag.load_data encodes them
            batch = collate(examples)
            probabilities = self.model.logits(batch.to(self.device)).float().softmax(dim=-1).cpu()  # (B, T, C)
            for n, row, length in zip(chunk, probabilities, batch.lengths.tolist()):
                out[n] = row[:length]
        return out


# -- seq2seq ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """One translation. attention: (T + 1, S) weights while writing each output token and
    the <eos> (rows; T rows when the output hit the length limit without <eos>) over the
    source tokens (columns); None unless asked for."""

    text: str
    source_tokens: list[str]
    output_tokens: list[str]
    score: float  # total log-probability of the output (eos included)
    attention: Tensor | None = None


class Translator(_Predictor):
    """A seq2seq bundle.

    ``max_source_len``: the longest source the recipe allows (``data.max_tokens_per_example``),
    or None when it sets none; a Transformer with learned positions reads at most
    ``model.max_positions`` tokens whatever is asked.
    """

    @property
    def max_source_len(self) -> int | None:
        return _shortest(self.cfg.data.max_tokens_per_example, self._positions_limit)

    @property
    def _positions_limit(self) -> int | None:
        """The most source tokens the model has positions for (None: any number)."""
        m = self.cfg.model
        return m.max_positions if m.arch == "transformer" and m.positional == "learned" else None

    def source_ids(self, text: str, max_source_len: int | None = None, on_long: str = "truncate") -> list[int]:
        """Tokenize and look up one source; a source over ``max_source_len`` tokens is cut
        (with a LongSourceWarning) or refused (DataError), as ``on_long`` says."""
        tokens = self.saved.tokenizer.tokenize(text)
        if max_source_len is not None and len(tokens) > max_source_len:
            message = f"source of {len(tokens)} tokens is longer than the maximum {max_source_len}: {text[:40]!r}"
            if on_long == "refuse":
                raise DataError(message + "; shorten it or use --on-long truncate")
            warnings.warn(message + f"; kept its first {max_source_len} tokens", LongSourceWarning, stacklevel=3)
            tokens = tokens[:max_source_len]
        ids = self.saved.src_vocab.encode(tokens)
        if ids and all(i == UNK_ID for i in ids):
            warnings.warn(f"every token of source {text[:40]!r} is unknown to the model's vocabulary; "
                          "the translation is a guess", UnknownTokenWarning, stacklevel=3)
        return ids

    @torch.no_grad()
    def translate(self, texts: Sequence[str], beam_size: int = 1, max_len: int | None = None,
                  length_penalty: float = 0.0, return_attention: bool = False, max_source_len: int | None = None,
                  on_long: str = "truncate") -> list[str] | list[Translation]:
        """Translate each text; returns strings, or :class:`Translation` records with
        ``return_attention`` (attention weights included).

        beam_size: 1 is greedy search. max_len: most output tokens (eos included);
        None: 2 S + 10 for a source of S tokens, as in training. length_penalty: GNMT's
        alpha for ranking beams. max_source_len: longest source (default: the recipe's);
        on_long: "truncate" (warn) or "refuse". An empty source gives an empty output
        without decoding (score 0, attention of shape (1, 0)).
        """
        texts = _texts(texts)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam size must be an integer >= 1, got {beam_size!r}")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0):
            raise ValueError(f"max length must be an integer > 0, got {max_len!r}")
        if on_long not in ("truncate", "refuse"):
            raise ValueError(f"on_long must be 'truncate' or 'refuse', got {on_long!r}")
        limit = self.max_source_len if max_source_len is None else _shortest(max_source_len, self._positions_limit)
        ids = [self.source_ids(text, limit, on_long) for text in texts]
        out = [Translation("", [], [], 0.0, torch.zeros(1, 0) if return_attention else None) for _ in texts]
        real = [n for n, row in enumerate(ids) if row]  # an empty source has nothing to attend to
        for _, chunk in self._batches(real):
            for n, translation in zip(chunk, self._translate_ids([ids[n] for n in chunk], beam_size, max_len,
                                                                 length_penalty, return_attention)):
                out[n] = translation
        return out if return_attention else [t.text for t in out]

    def _translate_ids(self, ids: list[list[int]], beam_size: int, max_len: int | None, length_penalty: float,
                       return_attention: bool) -> list[Translation]:
        src, src_lengths, _ = pad(ids, PAD_ID)  # (B, S), (B,)
        src = src.to(self.device)
        limit = 2 * src_lengths + 10 if max_len is None else max_len
        decoded = self.model.search(src, src_lengths, beam_size=beam_size, max_len=limit, length_penalty=length_penalty)
        outputs = [row[:length - int(row[length - 1] == EOS_ID)].tolist()
                   for row, length in zip(decoded.tokens.cpu(), decoded.lengths.tolist())]
        alphas = None
        if return_attention:  # teacher-force the chosen output: the attention it had while decoding
            tgt_in, _, _ = pad([[SOS_ID, *row] for row in outputs], PAD_ID)
            _, alphas = self.model(src, src_lengths, tgt_in.to(self.device))  # (B, T, S)
        src_vocab, tgt_vocab, tokenizer = self.saved.src_vocab, self.saved.tgt_vocab, self.saved.tokenizer
        result = []
        for b, (row, output, length) in enumerate(zip(ids, outputs, decoded.lengths.tolist())):
            tokens = tgt_vocab.decode(output)
            weights = None if alphas is None else alphas[b, :length, :len(row)].cpu()  # (T [+ eos], S)
            result.append(Translation(tokenizer.detokenize(tokens), src_vocab.decode(row, strip_special=False),
                                      tokens, float(decoded.scores[b]), weights))
        return result


def _shortest(*limits: int | None) -> int | None:
    """The smallest of the limits that are set; None when none is."""
    return min((limit for limit in limits if limit is not None), default=None)


def _texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"pass a list of texts, got the string {texts[:40]!r}; wrap it: [text]")
    texts = list(texts)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts must be strings, got {type(bad).__name__}: {bad!r:.40}")
    return texts


# -- lm --------------------------------------------------------------------------------


ON_UNKNOWN = ("unk", "refuse")  # what a prompt's out-of-vocabulary tokens get: <unk> with a warning, or an error


class Generator(_Predictor):
    """An lm bundle: text continues a prompt, sampled one token per model step.

    A stream model (Shakespeare, your text) continues the prompt's tokens (an empty prompt
    starts from a line break, or from the first vocabulary token when the vocabulary has
    none); a model of whole sequences (names) starts each sample at ``<sos>``, the prompt's
    tokens after it, and stops at ``<eos>``.
    """

    @property
    def conditions(self) -> tuple[str, ...]:
        """The class names a conditioned model takes (empty for an unconditioned one)."""
        return self.saved.conditions if self.model.condition != "none" else ()

    def prompt_ids(self, prompt: str, on_unknown: str = "unk") -> list[int]:
        """The prompt's token ids as the model reads them; tokens the vocabulary lacks become
        <unk> with an UnknownTokenWarning (``on_unknown="unk"``) or stop with a DataError
        naming them (``"refuse"``)."""
        if on_unknown not in ON_UNKNOWN:
            raise ValueError(f"on_unknown must be one of {', '.join(ON_UNKNOWN)}, got {on_unknown!r}")
        tokens = self.saved.tokenizer.tokenize(prompt) if prompt else []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownTokenWarning)  # told once, below
            ids = self.saved.vocab.encode(tokens)
        if UNK_ID in ids:
            unknown = sorted({t for t, i in zip(tokens, ids) if i == UNK_ID})
            if on_unknown == "refuse":
                raise DataError(f"the prompt has tokens this model never saw: {unknown[:10]}; change the prompt, "
                                "or let them be read as <unk> (--on-unknown unk)")
            warnings.warn(f"the prompt has tokens this model never saw, read as <unk>: {unknown[:10]}",
                          UnknownTokenWarning, stacklevel=3)
        if lm.reads_sequences(self.cfg):
            return [SOS_ID, *ids]
        if ids:
            return ids
        start = self.saved.vocab.encode(self.saved.tokenizer.tokenize("\n")) if self.cfg.data.tokenizer == "char" else []
        return start if start and start[0] != UNK_ID else [len(SPECIALS)]  # the first ordinary token

    def stream(self, prompt: str = "", length: int = 500, *, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, condition: str | None = None,
               on_unknown: str = "unk") -> Iterator[str]:
        """Yield the text after ``prompt`` piece by piece as it is sampled (up to ``length``
        new tokens; temperature 0: greedy; ``seed``: repeatable samples; ``on_unknown``: see
        :meth:`prompt_ids`). Each piece is the new text since the last one, so joined they are
        :meth:`generate`'s result."""
        ids = self.prompt_ids(prompt, on_unknown)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        steps = self.model.generate(ids, length, temperature=temperature, top_k=top_k, top_p=top_p,
                                    generator=generator, condition=condition)
        new: list[int] = []
        shown = ""
        for token in steps:
            new.append(token)
            text = self._text(new)
            if text.startswith(shown):  # word pieces can change the text before them; wait until they settle
                yield text[len(shown):]
                shown = text
        text = self._text(new)
        if text != shown and text.startswith(shown):
            yield text[len(shown):]

    def generate(self, prompt: str = "", length: int = 500, **options) -> str:
        """The sampled continuation of ``prompt`` as one string (options as in :meth:`stream`)."""
        return "".join(self.stream(prompt, length, **options))

    def _text(self, ids: Sequence[int]) -> str:
        return self.saved.tokenizer.detokenize(self.saved.vocab.decode(list(ids)))
