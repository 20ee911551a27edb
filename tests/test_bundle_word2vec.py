"""seqlab.load on a word2vec run returns its WordVectors."""

import torch

import seqlab
from seqlab.embeddings import WordVectors


def test_load_a_word2vec_run_gives_its_vectors(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat\nthe dog sat on the rug\n" * 20, encoding="utf-8")
    run = seqlab.train("word2vec-lee", {"data.name": None, "data.train": str(text), "data.format": "text",
                                        "data.min_freq": 1, "model.embedding_dim": 8, "train.epochs": 1,
                                        "word2vec.analogies": None}, out=tmp_path / "run")
    vectors = seqlab.load(run)
    assert isinstance(vectors, WordVectors)
    reference = WordVectors.from_run(run)
    assert vectors.words == reference.words and torch.equal(vectors.vectors, reference.vectors)
    assert set(vectors.words) == {"the", "cat", "sat", "on", "mat", "dog", "rug"} and vectors.dim == 8
    assert [word for word, _ in vectors.most_similar("cat", topn=6)] != []
    assert "cat" not in [word for word, _ in vectors.most_similar("cat", topn=6)]
