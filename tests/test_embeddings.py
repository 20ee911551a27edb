"""WordVectors: cosine neighbours, 3CosAdd analogies, the questions-words score, word2vec files (and gensim)."""

from __future__ import annotations

import pytest
import torch

from seqlab.embeddings import WordVectors, read_analogies
from seqlab.errors import DataError

# Vectors laid out so that king - man + woman lands nearest queen and paris - france + italy nearest rome.
WORDS = ["man", "woman", "king", "queen", "france", "paris", "italy", "rome", "cat"]


def _vectors() -> WordVectors:
    import math

    def at(degrees: float, length: float = 1.0) -> list[float]:
        return [length * math.cos(math.radians(degrees)), length * math.sin(math.radians(degrees)), 0.0]

    # man at 0°, woman at 90°, king at 20°, queen at 110° in the plane z = 0 (lengths differ: only
    # directions count); the countries and capitals in the plane z = 1; cat on the z axis.
    rows = [at(0), at(90, 2.0), at(20, 3.0), at(110), [1.0, 0.0, 1.0], [0.8, 0.2, 1.0], [0.0, 1.0, 1.0],
            [0.2, 1.2, 1.0], [0.0, 0.0, 1.0]]
    return WordVectors(WORDS, torch.tensor(rows))


def test_analogy_and_neighbours():
    v = _vectors()
    assert v.analogy("man", "king", "woman")[0][0] == "queen"
    # unit(king) - unit(man) + unit(woman) = (cos 20° - 1, sin 20° + 1, 0) = (-0.0603, 1.3420, 0), at
    # 92.573°; queen lies at 110°, so the cosine is cos(17.427°) = 0.95410
    assert v.analogy("man", "king", "woman")[0][1] == pytest.approx(0.95410, abs=1e-5)
    assert v.most_similar("man", topn=2)[0][0] == "king"  # 20° away, the nearest
    assert v.similarity("man", "woman") == pytest.approx(0.0, abs=1e-7)  # 90°: cosine 0
    assert len(v.most_similar("cat", topn=100)) == len(WORDS) - 1  # never the word itself


def test_unknown_word_is_named():
    with pytest.raises(DataError, match=r"word 'emperor' is not in the vocabulary \(9 words\)"):
        _vectors().most_similar("emperor")
    with pytest.raises(DataError, match="did you mean 'king'"):
        _vectors().analogy("man", "King", "woman")


QUESTIONS = """: capital-common-countries
france paris italy rome
FRANCE PARIS ITALY ROME
france paris italy atlantis
: gram-gender
man king woman queen
man woman king queen
"""


def test_evaluate_analogies_splits_semantic_and_syntactic(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(QUESTIONS, encoding="utf-8")
    scores = _vectors().evaluate_analogies(path)
    # semantic: both answerable capital questions right (case does not matter), 'atlantis' skipped;
    # syntactic: man:king :: woman:? is queen exactly; man:woman :: king:? asks for woman - man + king
    # = (0,1,0) - (1,0,0) + (cos 20°, sin 20°, 0) = (-0.06, 1.34, 0), at 92.6°: queen (110°) has cosine
    # 0.954, ahead of rome (0.756) and italy (0.706) once man, woman and king are left out.
    assert scores["sections"]["capital-common-countries"] == {"correct": 2, "answered": 2}
    assert scores["skipped"] == 1
    assert scores["semantic"] == 1.0 and scores["syntactic"] == 1.0 and scores["answered"] == 4


def test_evaluate_analogies_matches_gensim(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    path = tmp_path / "questions.txt"
    path.write_text(QUESTIONS + "cat man woman king\nparis france rome italy\n", encoding="utf-8")
    ours = _vectors()
    theirs = gensim_models.KeyedVectors(3)
    theirs.add_vectors(WORDS, ours.vectors.numpy())
    score, sections = theirs.evaluate_word_analogies(str(path), restrict_vocab=8)  # 'cat' (the 9th) left out
    mine = ours.evaluate_analogies(path, restrict_vocab=8)
    assert mine["total"] == pytest.approx(score)
    by_name = {s["section"]: s for s in sections}
    for name, tally in mine["sections"].items():
        assert tally["correct"] == len(by_name[name]["correct"])
        assert tally["answered"] == len(by_name[name]["correct"]) + len(by_name[name]["incorrect"])


def test_malformed_analogy_line_names_file_and_line(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(": capital\nathens greece baghdad iraq\nathens greece baghdad\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"questions\.txt:3: expected 4 words"):
        read_analogies(path)
    path.write_text("athens greece baghdad iraq\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"questions\.txt:1: a question before the first"):
        read_analogies(path)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_round_trip_exactly(tmp_path, binary):
    v = WordVectors(["der", "Straße", "x_1"], torch.randn(3, 5, generator=torch.Generator().manual_seed(0)))
    path = tmp_path / "vectors.bin"
    v.save_word2vec_format(path, binary=binary)
    back = WordVectors.load_word2vec_format(path, binary=binary)
    assert back.words == v.words
    assert torch.equal(back.vectors, v.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    v = WordVectors(["the", "Straße", "naïve", "x"], torch.randn(4, 6, generator=torch.Generator().manual_seed(1)))
    ours = tmp_path / "ours"
    v.save_word2vec_format(ours, binary=binary)
    theirs = gensim_models.KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert list(theirs.index_to_key) == v.words
    assert torch.equal(torch.from_numpy(theirs.vectors), v.vectors)
    written = tmp_path / "theirs"
    theirs.save_word2vec_format(str(written), binary=binary)
    back = WordVectors.load_word2vec_format(written, binary=binary)
    assert back.words == v.words and torch.equal(back.vectors, v.vectors)


def test_bad_vector_files(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"v\.txt:3: expected a word and 3 numbers"):
        WordVectors.load_word2vec_format(path)
    path.write_text("two 3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"v\.txt:1: expected the header 'COUNT DIM'"):
        WordVectors.load_word2vec_format(path)
    with pytest.raises(ValueError, match="whitespace"):
        WordVectors(["a b"], torch.zeros(1, 2)).save_word2vec_format(tmp_path / "w.txt")
