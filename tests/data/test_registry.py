"""seqlab.data.registry: the table's completeness, the cache, and downloads (file:// URLs
and a patched opener; nothing here touches the network)."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from seqlab.data import datasets, registry
from seqlab.data.registry import Dataset, RemoteFile
from seqlab.errors import DataError

BODY = b"hello\nworld\n"
SHA = hashlib.sha256(BODY).hexdigest()


def lines(folder, split):
    return (folder / "a.txt").read_text().split()


def fake(tmp_path, body=BODY, sha=SHA, url="file") -> Dataset:
    source = tmp_path / "upstream" / "a.txt"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(body)
    link = source.as_uri() if url == "file" else url
    return Dataset("toy", "lm", "MIT", "a test", (RemoteFile("a.txt", len(body), sha, link),), ("all",), "str", lines)


def test_every_entry_is_complete():
    names = {
        "tinyshakespeare",
        "imdb",
        "sst2",
        "names",
        "multi30k",
        "eng-fra",
        "jena_climate",
        "ett_small",
        "ud_english_ewt",
        "word_analogy",
        "text8",
        "word2vec_lee",
    }
    assert set(registry.DATASETS) == names
    for dataset in registry.DATASETS.values():
        assert dataset.license and dataset.origin and dataset.splits and dataset.example, dataset.name
        for remote in dataset.files:
            assert remote.url or remote.sha256, (dataset.name, remote.name)
            assert remote.sha256 is None or len(remote.sha256) == 64
            assert remote.url is None or remote.url.startswith(("https://", "http://"))
    assert registry.get("text8").files[0].url == "http://mattmahoney.net/dc/text8.zip"
    assert registry.get("jena_climate").files[0].name == "jena_climate_2009_2016.csv.zip"


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path))
    assert registry.cache_dir() == tmp_path
    monkeypatch.delenv("SEQLAB_DATA_DIR")
    assert registry.cache_dir() == Path("~/.cache/seqlab").expanduser()


def test_unknown_name_and_split(monkeypatch, tmp_path):
    with pytest.raises(DataError, match=r"unknown dataset 'imbd'; expected one of \[.*'imdb'"):
        registry.load("imbd", "train")
    with pytest.raises(DataError, match=r"no split 'valid'; expected one of \['train', 'test'\]"):
        registry.load("imdb", "valid")


def test_not_cached_says_where_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        registry.load("sst2", "dev")
    message = str(err.value)
    assert str(tmp_path / "sst2") in message and "seqlab data fetch sst2" in message


def test_fetch_downloads_verifies_and_never_refetches(tmp_path):
    dataset = fake(tmp_path)
    cache = tmp_path / "cache"
    folder = registry.fetch_dataset(dataset, cache, progress=False)
    assert (folder / "a.txt").read_bytes() == BODY
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"]  # no .part left behind

    def no_network(url):
        raise AssertionError(f"fetched {url} again")

    registry.fetch_dataset(dataset, cache, progress=False, opener=no_network)
    assert dataset.parser(registry.local_folder(dataset, cache), "all") == ["hello", "world"]


def test_checksum_mismatch_moves_the_download_aside(tmp_path):
    dataset = fake(tmp_path, sha="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        registry.fetch_dataset(dataset, cache, progress=False)
    assert f"expected {'0' * 64}, got {SHA}" in str(err.value)
    folder = cache / "toy"
    assert not (folder / "a.txt").exists() and not (folder / "a.txt.part").exists()
    assert (folder / f"a.txt.corrupt-{SHA[:8]}").read_bytes() == BODY


def test_bad_cached_file_is_refused_then_moved_aside_by_fetch(tmp_path):
    dataset = fake(tmp_path)
    folder = tmp_path / "cache" / "toy"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"tampered\n")
    bad_sha = hashlib.sha256(b"tampered\n").hexdigest()
    with pytest.raises(DataError, match=rf"sha256 mismatch, expected {SHA}, got {bad_sha}"):
        registry.local_folder(dataset, tmp_path / "cache")
    registry.fetch_dataset(dataset, tmp_path / "cache", progress=False)
    assert (folder / "a.txt").read_bytes() == BODY
    assert (folder / f"a.txt.corrupt-{bad_sha[:8]}").read_bytes() == b"tampered\n"  # kept, not deleted


class Interrupted(OSError):
    pass


def test_interrupted_download_leaves_no_file_that_passes_as_complete(tmp_path):
    dataset = fake(tmp_path, url="https://example.invalid/a.txt")

    class HalfResponse(io.BytesIO):
        def read(self, n=-1):
            chunk = super().read(4)
            if not chunk:
                raise Interrupted("connection reset")
            return chunk

    with pytest.raises(DataError, match=r"could not download https://example\.invalid/a\.txt"):
        registry.fetch_dataset(dataset, tmp_path / "cache", progress=False, opener=lambda url: HalfResponse(BODY))
    assert list((tmp_path / "cache" / "toy").iterdir()) == []


def test_failed_download_keeps_the_users_other_files(tmp_path):
    dataset = fake(tmp_path, url="https://example.invalid/a.txt")
    folder = tmp_path / "cache" / "toy"
    folder.mkdir(parents=True)
    (folder / "notes.md").write_text("mine")

    def offline(url):
        raise OSError("network is unreachable")

    with pytest.raises(DataError, match=r"network is unreachable.*put a\.txt in"):
        registry.fetch_dataset(dataset, tmp_path / "cache", progress=False, opener=offline)
    assert (folder / "notes.md").read_text() == "mine"


def test_unverified_or_unlinked_files_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"no published sha256 is recorded for http://mattmahoney.net/dc/text8.zip"):
        registry.fetch("text8", tmp_path, progress=False)
    with pytest.raises(DataError, match=r"no URL serves train\.csv\.gz"):
        registry.fetch("imdb", tmp_path, progress=False)


def test_text8_parser_on_a_small_copy(tmp_path):
    folder = tmp_path / "text8"
    folder.mkdir()
    words = " anarchism originated as a term of abuse first used against early working class"
    with zipfile.ZipFile(folder / "text8.zip", "w") as archive:
        archive.writestr("text8", words)
    assert registry.load("text8", "all", tmp_path) == [words.strip()]  # no sha256: user-placed file used
    chunks = list(datasets.text8_chunks(folder / "text8.zip", words_per_chunk=5))
    assert [len(c.split()) for c in chunks] == [5, 5, 3] and " ".join(chunks) == words.strip()


def test_text8_chunks_join_words_cut_by_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "READ_CHUNK", 7)  # reads end mid-word
    path = tmp_path / "t.txt"
    path.write_text(" alpha beta gamma delta epsilon")
    assert list(datasets.text8_chunks(path, 2)) == ["alpha beta", "gamma delta", "epsilon"]


def test_jena_parser_on_rows_in_its_format(tmp_path):
    folder = tmp_path / "jena_climate"
    folder.mkdir()
    header = '"Date Time",' + ",".join(f'"f{i}"' for i in range(14))
    rows = [f"01.01.2009 {h:02d}:{m}0:00," + ",".join(str(i) for i in range(14)) for h in range(2) for m in range(1, 5)]
    with zipfile.ZipFile(folder / "jena_climate_2009_2016.csv.zip", "w") as archive:
        archive.writestr("jena_climate_2009_2016.csv", "\n".join([header, *rows, rows[-1]]) + "\n")  # a repeated row
    series = registry.load("jena_climate", "all", tmp_path)
    assert len(series) == 8 and len(series.names) == 14 and series.timestamps[0].minute == 10
    assert [len(registry.load("jena_climate", s, tmp_path)) for s in ("train", "val", "test")] == [4, 2, 2]
