"""seqlab.metrics: batch-wise sufficient statistics give sacreBLEU's corpus scores exactly."""

import math

import pytest

sacrebleu = pytest.importorskip("sacrebleu")

from seqlab import metrics

HYPS = ["The cat sat on the mat.", "a dog runs", "", "Hello World!", "two men are playing music .", "x"]
REFS = ["the cat is on the mat.", "A big dog runs fast", "nothing here", "hello world !", "two men play music .", "y z"]


def summed(statistics, cut):
    """Statistics of HYPS/REFS computed in two batches, cut at ``cut``, and added."""
    first, second = statistics(HYPS[:cut], REFS[:cut]), statistics(HYPS[cut:], REFS[cut:])
    return [a + b for a, b in zip(first, second)]


@pytest.mark.parametrize("cut", [0, 1, 3, len(HYPS)])
@pytest.mark.parametrize("lowercase", [False, True])
def test_bleu_from_summed_statistics_is_corpus_bleu(cut, lowercase):
    stats = summed(lambda h, r: metrics.bleu_statistics(h, r, lowercase=lowercase), cut)
    expected = sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=lowercase).score
    assert metrics.bleu_from_statistics(stats) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected < 100


@pytest.mark.parametrize("cut", [0, 2, 5])
def test_chrf_from_summed_statistics_is_corpus_chrf(cut):
    stats = summed(metrics.chrf_statistics, cut)
    assert metrics.chrf_from_statistics(stats) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-12)


def test_lowercased_bleu_ignores_case_and_a_perfect_output_scores_100():
    hyp, ref = ["A Man Rides A Horse ."], ["a man rides a horse ."]
    assert metrics.bleu_from_statistics(metrics.bleu_statistics(hyp, ref, lowercase=True)) == pytest.approx(100.0)
    assert metrics.bleu_from_statistics(metrics.bleu_statistics(hyp, ref)) < 50.0


def test_perplexity_and_bad_input():
    assert metrics.perplexity(math.log(7.0)) == pytest.approx(7.0)  # uniform over 7 tokens: perplexity 7
    assert metrics.perplexity(1e6) == math.inf
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        metrics.bleu_statistics(["a", "b"], ["a"])
