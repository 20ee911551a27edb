"""Corpus-level translation metrics through sacreBLEU, kept as sufficient statistics.

BLEU (Papineni et al. 2002) and chrF (Popović 2015) are corpus-level scores, not means
of sentence scores: BLEU is computed from n-gram match counts, n-gram totals and the
hypothesis and reference lengths summed over the whole corpus; chrF from character
n-gram counts summed likewise. So a split is scored batch by batch by summing each
batch's statistics and turning the sums into the score at the end — exactly the number
``sacrebleu.corpus_bleu`` / ``corpus_chrf`` give on the whole list at once (the tests
hold this).

Settings are sacreBLEU's defaults: BLEU with the ``13a`` tokenizer, exponential
smoothing and 4-gram order (``bleu`` cased, ``bleu_lc`` lowercased); chrF with
character 6-grams, no word n-grams, beta 2. Texts go in detokenized; a word-level model
whose output is its tokens joined by spaces gives "tokenized BLEU" (13a re-tokenizes
such text; the figures are comparable to other tokenized-BLEU figures, not to WMT's
detokenized ones). ``force=True`` silences sacreBLEU's warning about such text.

sacreBLEU is an optional dependency (``pip install 'seqlab[translate]'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from seqlab.errors import ConfigError

BLEU_ORDER = 4  # n-gram orders 1..4
# BLEU's sufficient statistics, in this order: 2 lengths, then correct and total n-grams per order.
BLEU_STATS = ("sys_len", "ref_len", *(f"correct_{n}" for n in range(1, 5)), *(f"total_{n}" for n in range(1, 5)))


def require_sacrebleu() -> None:
    """A ConfigError with the install command unless sacreBLEU can be imported."""
    try:
        import sacrebleu  # noqa: F401
    except ImportError:
        raise ConfigError(
            "BLEU and chrF need the sacrebleu package, which is not installed: pip install 'seqlab[translate]'"
        ) from None


def _bleu(lowercase: bool):
    from sacrebleu.metrics import BLEU

    return BLEU(lowercase=lowercase, tokenize="13a", force=True)


def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def bleu_statistics(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False) -> list[int]:
    """The summed BLEU statistics of the pairs, in the order of ``BLEU_STATS``."""
    _check_pairs(hypotheses, references)
    if not hypotheses:
        return [0] * len(BLEU_STATS)
    score = _bleu(lowercase).corpus_score(list(hypotheses), [list(references)])
    return [score.sys_len, score.ref_len, *score.counts, *score.totals]


def bleu_from_statistics(stats: Sequence[float]) -> float:
    """Corpus BLEU (0..100) from summed ``bleu_statistics``."""
    from sacrebleu.metrics import BLEU

    if len(stats) != len(BLEU_STATS):
        raise ValueError(f"expected {len(BLEU_STATS)} BLEU statistics {BLEU_STATS}, got {len(stats)}")
    stats = [round(value) for value in stats]
    order = BLEU_ORDER
    return BLEU.compute_bleu(stats[2:2 + order], stats[2 + order:], stats[0], stats[1], smooth_method="exp").score


def chrf_statistics(hypotheses: Sequence[str], references: Sequence[str]) -> list[int]:
    """The summed chrF statistics of the pairs (hypothesis, reference and matching
    character n-gram counts per order, as sacreBLEU lays them out)."""
    _check_pairs(hypotheses, references)
    metric = _chrf()
    if not hypotheses:
        return [0] * (3 * (metric.char_order + metric.word_order))
    # sacreBLEU's own split of corpus_score into per-segment statistics and the score
    # from their sum; tests/test_metrics.py holds the result to corpus_chrf.
    segments = metric._extract_corpus_statistics(list(hypotheses), [list(references)])
    return [int(sum(column)) for column in zip(*segments)]


def chrf_from_statistics(stats: Sequence[float]) -> float:
    """Corpus chrF (0..100) from summed ``chrf_statistics``."""
    return _chrf()._compute_score_from_stats([round(value) for value in stats]).score


def perplexity(mean_nll: float) -> float:
    """exp of the mean token cross-entropy (nats); inf where that overflows."""
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references; expected one each")
