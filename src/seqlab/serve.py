"""An HTTP server over one bundle: ``seqlab serve RUN`` or :func:`create_app`.

The app answers JSON. Every app has

    GET  /health     {"status": "ok", "task": ...}
    GET  /info       the run: task, name, recipe, what it reads and writes (labels, tags,
                     conditions, columns), its test metrics, the endpoints below

and the endpoint of its task (the bodies' keys; unknown keys are refused):

    classify  POST /predict    {"texts": [...]} or, for a model of feature sequences,
                               {"sequences": [[step, ...], ...]}
                               -> {"predictions": [{"label", "probability", "probabilities"}]}
    tag       POST /predict    {"texts": [...]} (split on whitespace) or {"tokens": [[...]]}
                               -> {"predictions": [{"tokens", "tags"}]}
    seq2seq   POST /translate  {"texts", "beam": 1, "max_len", "length_penalty": 0, "attention": false}
                               -> {"translations": [{"text"}]}; with "attention": true also "score",
                               "source_tokens", "output_tokens" and "attention" (a row of weights over
                               the source tokens for each output token and the <eos>)
    lm        POST /generate   {"prompt": "", "length": 200, "temperature": 1, "top_k", "top_p",
                               "seed", "condition", "n": 1, "stream": false, "on_unknown": "unk"}
                               -> {"samples": [the text after the prompt, ...]}; with "stream": true
                               the text itself (text/plain) as it is sampled, samples on their own lines
    forecast  POST /forecast   {"rows": [[reading of each input column], ...], "timestamps": [...]}
                               -> {"names", "steps", "values", "timestamps"}
    word2vec  POST /similar    {"word", "topn": 10}          -> {"neighbours": [[word, cosine], ...]}
              POST /analogy    {"a", "b", "c", "topn": 1}    -> {"answers": [[word, cosine], ...]}

A body that does not fit the schema gets FastAPI's 422 naming the field; a request seqlab
refuses (an unknown word or condition, too few forecast rows, more texts than the server
takes) gets 400 with seqlab's message as ``detail``. Warnings about the input (unknown
tokens, a source cut to the model's length) come back as a ``warnings`` list.

One lock serializes the model calls: FastAPI runs these endpoints on a thread pool, and one
model computes one request at a time (each request is batched inside). FastAPI and uvicorn
are the optional ``serve`` extra: ``pip install 'seqlab[serve]'``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("seqlab serve needs FastAPI and uvicorn: pip install 'seqlab[serve]'") from err

from seqlab import bundle
from seqlab.bundle import Classifier, Generator, Tagger, Translator
from seqlab.forecasting import Forecaster
from seqlab.runs import read_summary

MAX_ITEMS = 256  # texts, token lists, sequences or samples in one request
MAX_LENGTH = 2000  # new tokens in one generated sample


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictBody(_Body):
    texts: list[str] | None = None
    tokens: list[list[str]] | None = None  # tag: token lists as they are
    sequences: list[list[float | list[float]]] | None = None  # classify of feature sequences: steps of F numbers


class TranslateBody(_Body):
    texts: list[str]
    beam: int = Field(1, ge=1, le=64)
    max_len: int | None = Field(None, ge=1)
    length_penalty: float = Field(0.0, ge=0.0)
    attention: bool = False


class GenerateBody(_Body):
    prompt: str = ""
    length: int = Field(200, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    condition: str | None = None
    n: int = Field(1, ge=1)
    stream: bool = False
    on_unknown: Literal["unk", "refuse"] = "unk"  # prompt tokens the model never saw: <unk> (warned) or 400


class ForecastBody(_Body):
    rows: list[list[float]]
    timestamps: list[datetime] | None = None


class SimilarBody(_Body):
    word: str
    topn: int = Field(10, ge=1, le=1000)


class AnalogyBody(_Body):
    a: str
    b: str
    c: str
    topn: int = Field(1, ge=1, le=1000)


class _Guard:
    """What every endpoint shares: the model's lock and the server's limits."""

    def __init__(self, max_items: int, max_length: int) -> None:
        for name, value in (("max_items", max_items), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.lock = threading.Lock()
        self.max_items, self.max_length = max_items, max_length

    def call(self, function: Callable[[], dict]) -> dict:
        """Run one model call under the lock; its warnings join the response."""
        with self.lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function()
        if caught:
            result["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
        return result

    def check_count(self, key: str, count: int) -> None:
        if count > self.max_items:
            raise ValueError(f"{key}: {count} items; this server takes at most {self.max_items} a request "
                             "(seqlab serve --max-items)")


def create_app(run: str | Path | Any, *, device: str = "cpu", max_items: int = MAX_ITEMS,
               max_length: int = MAX_LENGTH) -> FastAPI:
    """The FastAPI app over ``run``: a run dir, or a predictor :func:`seqlab.load` returned.
    ``max_items``: most texts (or sequences, token lists, samples) a request may carry;
    ``max_length``: most new tokens a generated sample may ask for."""
    guard = _Guard(max_items, max_length)
    if isinstance(run, (str, Path)):
        from seqlab.training.passes import resolve_device

        predictor = bundle.load(run, device=resolve_device(device, "--device"))
    else:
        predictor = run
    task = getattr(predictor, "task", "word2vec")  # word2vec's predictor is its WordVectors
    run_dir = Path(run) if isinstance(run, (str, Path)) else getattr(predictor, "run_dir", None)
    app = FastAPI(title=f"seqlab {task}" + (f": {run_dir.name}" if run_dir else ""),
                  description=__doc__.split("\n\n")[0])

    @app.exception_handler(ValueError)  # seqlab's refusals (DataError, ConfigError) are ValueErrors; a bug stays a 500
    async def refused(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(err)})

    endpoints = _ROUTES[task](app, predictor, guard)
    info = {"task": task, "run": run_dir.name if run_dir else None, **_about(predictor, task, run_dir),
            "endpoints": ["GET /health", "GET /info", *endpoints]}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "task": task}

    @app.get("/info")
    def about() -> dict:
        return info

    return app


def _about(predictor: Any, task: str, run_dir: Path | None) -> dict:
    """What /info says of the run beyond its task: its recipe, metrics and vocabularies."""
    out: dict[str, Any] = {}
    summary = read_summary(run_dir) if run_dir is not None else None
    if summary:
        out.update(recipe=summary.get("recipe"), test=summary.get("test"))
    if task == "classify":  # a Classifier or an Ensemble of them
        out.update(labels=predictor.labels, reads="sequences" if predictor.reads_features else "texts")
    elif task == "tag":  # a Tagger or an Ensemble of them
        out.update(tags=predictor.tags)
    elif isinstance(predictor, Translator):
        out.update(max_source_len=predictor.max_source_len)
    elif isinstance(predictor, Generator):
        out.update(conditions=list(predictor.conditions), tokenizer=predictor.cfg.data.tokenizer)
    elif isinstance(predictor, Forecaster):
        out.update(columns=list(predictor.columns.names), targets=list(predictor.columns.targets),
                   rows_needed=predictor.rows_needed, horizon=predictor.cfg.forecast.horizon)
    elif task == "word2vec":
        out.update(words=len(predictor), dim=predictor.dim)
    return out


def _classify_routes(app: FastAPI, clf: Classifier, guard: _Guard) -> list[str]:
    wanted = "sequences" if clf.reads_features else "texts"

    @app.post("/predict")
    def predict(body: PredictBody) -> dict:
        given = [key for key in ("texts", "tokens", "sequences") if getattr(body, key) is not None]
        if given != [wanted]:
            raise ValueError(f'this model classifies {wanted}; give {{"{wanted}": [...]}}'
                             + (f", not {', '.join(given)}" if given else ""))
        items = getattr(body, wanted)
        guard.check_count(wanted, len(items))

        def run() -> dict:
            probabilities = clf.probabilities(items)
            best = probabilities.argmax(dim=-1).tolist() if len(items) else []
            return {"predictions": [{"label": clf.labels[i], "probability": row[i],
                                     "probabilities": dict(zip(clf.labels, row))}
                                    for i, row in zip(best, probabilities.tolist())]}
        return guard.call(run)

    return ["POST /predict"]


def _tag_routes(app: FastAPI, tagger: Tagger, guard: _Guard) -> list[str]:
    @app.post("/predict")
    def predict(body: PredictBody) -> dict:
        if body.sequences is not None or (body.texts is None) == (body.tokens is None):
            raise ValueError('give either {"texts": [...]} (split on whitespace) or {"tokens": [[...]]}')
        token_lists = body.tokens if body.tokens is not None else [text.split() for text in body.texts]
        guard.check_count("tokens" if body.tokens is not None else "texts", len(token_lists))
        return guard.call(lambda: {"predictions": [{"tokens": tokens, "tags": tags} for tokens, tags
                                                   in zip(token_lists, tagger.predict(token_lists))]})

    return ["POST /predict"]


def _seq2seq_routes(app: FastAPI, translator: Translator, guard: _Guard) -> list[str]:
    @app.post("/translate")
    def translate(body: TranslateBody) -> dict:
        guard.check_count("texts", len(body.texts))

        def run() -> dict:
            out = translator.translate(body.texts, beam_size=body.beam, max_len=body.max_len,
                                       length_penalty=body.length_penalty, return_attention=body.attention)
            if not body.attention:
                return {"translations": [{"text": text} for text in out]}
            return {"translations": [{"text": t.text, "score": t.score, "source_tokens": t.source_tokens,
                                      "output_tokens": t.output_tokens, "attention": t.attention.tolist()}
                                     for t in out]}
        return guard.call(run)

    return ["POST /translate"]


def _lm_routes(app: FastAPI, generator: Generator, guard: _Guard) -> list[str]:
    @app.post("/generate")
    def generate(body: GenerateBody):
        if body.length > guard.max_length:
            raise ValueError(f"length: {body.length}; this server writes at most {guard.max_length} tokens a "
                             "sample (seqlab serve --max-length)")
        guard.check_count("n", body.n)
        generator.model.condition_ids(body.condition)  # an unknown or missing condition: refused before streaming
        if body.on_unknown == "refuse":
            generator.prompt_ids(body.prompt, "refuse")  # likewise a prompt with unknown tokens
        options = {"temperature": body.temperature, "top_k": body.top_k, "top_p": body.top_p,
                   "condition": body.condition, "on_unknown": body.on_unknown}
        seeds = [None if body.seed is None else body.seed + n for n in range(body.n)]  # as seqlab generate -n
        if not body.stream:
            return guard.call(lambda: {"samples": [generator.generate(body.prompt, body.length, seed=seed, **options)
                                                   for seed in seeds]})

        def pieces() -> Iterator[str]:
            for n, seed in enumerate(seeds):
                if n:
                    yield "\n"
                stream = generator.stream(body.prompt, body.length, seed=seed, **options)
                while True:  # the lock is held for one step, never while the client reads
                    with guard.lock, warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # a streamed body has no place for them
                        piece = next(stream, None)
                    if piece is None:
                        break
                    yield piece
        return StreamingResponse(pieces(), media_type="text/plain; charset=utf-8")

    return ["POST /generate"]


def _forecast_routes(app: FastAPI, forecaster: Forecaster, guard: _Guard) -> list[str]:
    @app.post("/forecast")
    def forecast(body: ForecastBody) -> dict:
        def run() -> dict:
            result = forecaster.forecast(body.rows, body.timestamps, source="rows")
            stamps = None if result.timestamps is None else [t.isoformat() for t in result.timestamps]
            return {"names": result.names, "steps": result.steps, "values": result.values, "timestamps": stamps}
        return guard.call(run)

    return ["POST /forecast"]


def _word2vec_routes(app: FastAPI, vectors: Any, guard: _Guard) -> list[str]:
    @app.post("/similar")
    def similar(body: SimilarBody) -> dict:
        return guard.call(lambda: {"neighbours": [list(pair) for pair in vectors.most_similar(body.word, body.topn)]})

    @app.post("/analogy")
    def analogy(body: AnalogyBody) -> dict:
        return guard.call(lambda: {"answers": [list(pair) for pair
                                               in vectors.analogy(body.a, body.b, body.c, body.topn)]})

    return ["POST /similar", "POST /analogy"]


# The one table from task to the endpoints its app adds; each returns their names for /info.
_ROUTES = {"classify": _classify_routes, "tag": _tag_routes, "seq2seq": _seq2seq_routes, "lm": _lm_routes,
           "forecast": _forecast_routes, "word2vec": _word2vec_routes}
