"""The named datasets: their files (size, sha256, URL), license, splits and parsers.

`DATASETS` is the one table; :mod:`seqlab.data.registry` finds the files in the cache,
checks them and fetches them. Each entry lists its files with size and sha256, the URL
that serves exactly those bytes (or ``None`` where our copy is converted, e.g. IMDB's
review folders as one CSV), its license, official splits and a parser
``(folder, split) -> examples``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from seqlab.data import sources, splitting
from seqlab.errors import DataError

READ_CHUNK = 1 << 20  # text8 is one 100 MB line: read it in 1 MiB pieces


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, as it lies in the cache."""

    name: str  # file name in <cache>/<dataset>/, exactly as the source names it
    size: int | None  # bytes
    sha256: str | None  # None: no published checksum, so a download is never trusted
    url: str | None  # None: no URL serves these exact bytes; see Dataset.origin


@dataclass(frozen=True)
class Dataset:
    """A registry entry. ``parser(folder, split)`` returns the split's examples."""

    name: str
    task: str
    license: str
    origin: str  # where the data comes from, for people (and how to get converted files)
    files: tuple[RemoteFile, ...]
    splits: tuple[str, ...]
    example: str  # the example type, in words
    parser: Callable[[Path, str], Iterable]

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


# ----------------------------------------------------------------------------- parsers
# One function per dataset: (folder, split) -> examples. The table below names them.


def _tinyshakespeare(folder: Path, split: str) -> list[str]:
    text = (folder / "input.txt").read_text(encoding="utf-8")  # 1 MB: the example itself
    if split == "all":
        return [text]
    train, valid = splitting.char_split(text, 0.9)
    return [train if split == "train" else valid]


def _imdb(folder: Path, split: str) -> Iterable[tuple[str, str]]:
    return sources.read_table(folder / f"{split}.csv.gz", "text", "label")


def _sst2(folder: Path, split: str) -> Iterable[tuple[str, str | None]]:
    label = None if split == "test" else "label"  # GLUE's test set is unlabeled
    return sources.read_table(folder / f"{split}.tsv", "sentence", label, delimiter="\t")


def _names(folder: Path, split: str) -> Iterable[tuple[str, str]]:
    for language, _, _ in _NAME_FILES:
        for name in sources.read_text(folder / f"{language}.txt"):
            yield name.strip(), language


def _multi30k(folder: Path, split: str) -> Iterable[tuple[str, str]]:
    return sources.read_parallel(folder / f"{split}.de.gz", folder / f"{split}.en.gz")


def _eng_fra(folder: Path, split: str) -> Iterable[tuple[str, str]]:
    return sources.read_parallel(folder / "eng-fra.txt.gz")


def _jena_climate(folder: Path, split: str) -> sources.TimeSeries:
    # Reported elsewhere to repeat a few timestamps; keep the first reading of each.
    series = sources.read_timeseries(
        folder / "jena_climate_2009_2016.csv.zip", "Date Time", duplicates="keep-first", time_format="%d.%m.%Y %H:%M:%S"
    )
    n = len(series)
    bounds = {"all": (0, n), "train": (0, n // 2), "val": (n // 2, n // 2 + n // 4), "test": (n // 2 + n // 4, n)}
    return series if split == "all" else series.slice(*bounds[split])


# Informer (Zhou et al. 2021): 12 / 4 / 4 months of 30 days x 24 hourly rows.
ETT_BOUNDS = {"all": (0, None), "train": (0, 8640), "val": (8640, 11520), "test": (11520, 14400)}


def _ett_small(folder: Path, split: str) -> sources.TimeSeries:
    table, part = split.split("/")
    series = sources.read_timeseries(folder / f"{table}.csv", "date")
    start, stop = ETT_BOUNDS[part]
    return series if part == "all" else series.slice(start, stop)


def _ud_english_ewt(folder: Path, split: str) -> Iterable[tuple[list[str], list[str]]]:
    return sources.read_conllu(folder / f"en_ewt-ud-{split}.conllu.gz", "upos")


def _word_analogy(folder: Path, split: str) -> Iterable[tuple]:
    if split == "analogy":
        return _analogy_sections(folder / "questions-words.txt")
    return _similarity_pairs(folder / ("wordsim353.tsv" if split == "wordsim353" else "simlex999.txt"))


def _analogy_sections(path: Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    sections: list[tuple[str, list]] = []
    for number, line in sources.read_lines(path):
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        words = line.split()
        if len(words) != 4 or not sections:
            raise DataError(f"{path}:{number}: expected 4 words under a ': section' header, got {line!r}")
        sections[-1][1].append(tuple(words))
    return sections


def _similarity_pairs(path: Path) -> Iterable[tuple[str, str, float]]:
    for number, line in sources.read_lines(path):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        try:
            yield fields[0], fields[1], float(fields[2])
        except (IndexError, ValueError):
            raise DataError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score', got {line!r}") from None


def _text8(folder: Path, split: str) -> Iterable[str]:
    return text8_chunks(folder / "text8.zip")


def text8_chunks(path: Path, words_per_chunk: int = 10_000) -> Iterable[str]:
    """Stream text8 (one 100 MB line) as runs of ``words_per_chunk`` words, reading
    1 MiB at a time; a word cut by a read boundary is carried to the next read."""
    words: list[str] = []
    rest = b""
    with sources.open_binary(path) as f:
        while chunk := f.read(READ_CHUNK):
            pieces = (rest + chunk).split()
            rest = pieces.pop() if pieces and not chunk[-1:].isspace() else b""
            words.extend(p.decode("ascii", errors="replace") for p in pieces)
            while len(words) >= words_per_chunk:
                yield " ".join(words[:words_per_chunk])
                del words[:words_per_chunk]
    words.extend(p.decode("ascii", errors="replace") for p in rest.split())
    if words:
        yield " ".join(words)


def _word2vec_lee(folder: Path, split: str) -> Iterable[str]:
    name = "lee_background.cor" if split == "background" else "lee.cor"
    return sources.read_text(folder / name, encoding="latin-1")


def _gh(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_CHAR_RNN = ("karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e")
_NAMES = ("spro/practical-pytorch", "5e79b652c199421f54e11534b6bdf6257637a49b")
_MULTI30K = ("multi30k/dataset", "c9be912dc05a3ebf9ae5bb5f7f58c1791cda43ab")
_SST2 = ("eyalbd2/Reproducing-AutoPrompt", "6288fb5bec9c572f2492875ae0111df5b6daed11")
_ETT = ("zhouhaoyi/ETDataset", "1d16c8f4f943005d613b5bc962e9eeb06058cf07")
# gensim's test data; our copies come from the 4.4.0 wheel, the same files as the tag.
_GENSIM = ("piskvorky/gensim", "4.4.0")

# (language, bytes, sha256) of the surname files, from names/SOURCE.md.
_NAME_FILES = (
    ("Arabic", 13190, "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc"),
    ("Chinese", 1247, "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e"),
    ("Czech", 3919, "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e"),
    ("Dutch", 2351, "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3"),
    ("English", 27125, "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2"),
    ("French", 2178, "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95"),
    ("German", 5610, "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db"),
    ("Greek", 1981, "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6"),
    ("Irish", 1858, "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058"),
    ("Italian", 5657, "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4"),
    ("Japanese", 7622, "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f"),
    ("Korean", 423, "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136"),
    ("Polish", 1165, "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826"),
    ("Portuguese", 554, "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53"),
    ("Russian", 85605, "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3"),
    ("Scottish", 752, "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd"),
    ("Spanish", 2284, "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7"),
    ("Vietnamese", 339, "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d"),
)

# Multi30k: (file, bytes, sha256), the repository's own gzip files, byte-identical.
_MULTI30K_FILES = (
    ("train.de.gz", 637044, "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    ("train.en.gz", 568929, "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    ("val.de.gz", 24681, "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    ("val.en.gz", 21650, "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    ("test_2016_flickr.de.gz", 22890, "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
    ("test_2016_flickr.en.gz", 21077, "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "tinyshakespeare",
            "lm",
            "MIT (karpathy/char-rnn); the text is public domain",
            "https://github.com/karpathy/char-rnn (data/tinyshakespeare/input.txt)",
            (
                RemoteFile(
                    "input.txt",
                    1115394,
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                    _gh(*_CHAR_RNN, "data/tinyshakespeare/input.txt"),
                ),
            ),
            ("all", "train", "valid"),
            "str: the whole text ('all') or its first 90% / last 10% of characters",
            _tinyshakespeare,
        ),
        Dataset(
            "imdb",
            "classify",
            "not stated (research dataset; cite Maas et al., ACL 2011)",
            "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz, converted to one CSV "
            "per split (header text,label; 0 = negative, 1 = positive) as in ../shared/datasets/imdb",
            (
                RemoteFile(
                    "train.csv.gz", 12814882, "88f1be071c27b7e86720fe72a76422d3a13d588aa638ac6d80b664c1a5a8a758", None
                ),
                RemoteFile(
                    "test.csv.gz", 12510672, "2118d1a372e34228def776adf11a81c88ffb924db427cb0f2e1eb0e9dca9f611", None
                ),
            ),
            ("train", "test"),
            "(text, label) with label '0' (negative) or '1' (positive)",
            _imdb,
        ),
        Dataset(
            "sst2",
            "classify",
            "not stated (SST, Socher et al. 2013, via GLUE)",
            "GLUE SST-2 via github.com/eyalbd2/Reproducing-AutoPrompt (glue_data/SST-2)",
            (
                RemoteFile(
                    "train.tsv",
                    3806081,
                    "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
                    _gh(*_SST2, "glue_data/SST-2/train_full.tsv"),
                ),
                RemoteFile(
                    "dev.tsv",
                    94931,
                    "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
                    _gh(*_SST2, "glue_data/SST-2/dev.tsv"),
                ),
                RemoteFile(
                    "test.tsv",
                    197335,
                    "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
                    _gh(*_SST2, "glue_data/SST-2/test.tsv"),
                ),
            ),
            ("train", "dev", "test"),
            "(text, label) with label '0'/'1'; test is unlabeled: (text, None)",
            _sst2,
        ),
        Dataset(
            "names",
            "classify",
            "MIT (spro/practical-pytorch)",
            "https://github.com/spro/practical-pytorch (data/names/, the PyTorch char-RNN tutorial data)",
            tuple(
                RemoteFile(f"{lang}.txt", size, sha, _gh(*_NAMES, f"data/names/{lang}.txt"))
                for lang, size, sha in _NAME_FILES
            ),
            ("all",),
            "(surname, language); use seeded_split for train/valid/test",
            _names,
        ),
        Dataset(
            "multi30k",
            "seq2seq",
            "not stated; Flickr30K-derived, non-commercial research/education",
            "https://github.com/multi30k/dataset (data/task1/raw/)",
            tuple(
                RemoteFile(name, size, sha, _gh(*_MULTI30K, f"data/task1/raw/{name}"))
                for name, size, sha in _MULTI30K_FILES
            ),
            ("train", "val", "test_2016_flickr"),
            "(German, English)",
            _multi30k,
        ),
        Dataset(
            "eng-fra",
            "seq2seq",
            "CC-BY 2.0 (Tatoeba; www.manythings.org/anki)",
            "https://www.manythings.org/anki/fra-eng.zip (2017-09-29 release; fra.txt gzip-compressed "
            "as eng-fra.txt.gz), via github.com/genimind/seq2seq",
            (
                RemoteFile(
                    "eng-fra.txt.gz", 2941514, "ec59d6aaba2103a1320330f39bec51dbebbb20cb6bbe9976bd16b0622c965a50", None
                ),
                RemoteFile(
                    "_about.txt", 1441, "359011f5738272138286287b44db215d184823911eb049da2160a6ac6933d6c9", None
                ),
            ),
            ("all",),
            "(English, French)",
            _eng_fra,
        ),
        Dataset(
            "jena_climate",
            "forecast",
            "not stated by Keras (MPI-BGC Jena weather station; see bgc-jena.mpg.de/wetter)",
            "Keras's copy of the MPI-BGC Jena weather station record, 2009-2016 (10-minute readings)",
            # No sha256 for this zip is published by Keras or found in any public source
            # consulted; fetch refuses it until someone verifies and records one here.
            (
                RemoteFile(
                    "jena_climate_2009_2016.csv.zip",
                    None,
                    None,
                    "https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip",
                ),
            ),
            ("all", "train", "val", "test"),
            "one TimeSeries (14 features); train/val/test = first 50% / next 25% / last 25% "
            "(Chollet, Deep Learning with Python)",
            _jena_climate,
        ),
        Dataset(
            "ett_small",
            "forecast",
            "CC BY-ND 4.0 (zhouhaoyi/ETDataset)",
            "https://github.com/zhouhaoyi/ETDataset (ETT-small/)",
            (
                RemoteFile(
                    "ETTh1.csv",
                    2589657,
                    "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                    _gh(*_ETT, "ETT-small/ETTh1.csv"),
                ),
                RemoteFile(
                    "ETTh2.csv",
                    2417960,
                    "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
                    _gh(*_ETT, "ETT-small/ETTh2.csv"),
                ),
            ),
            tuple(f"{t}/{s}" for t in ("ETTh1", "ETTh2") for s in ("all", "train", "val", "test")),
            "one TimeSeries (7 features, target OT); Informer split: train 8,640 / val 2,880 / test 2,880 rows",
            _ett_small,
        ),
        Dataset(
            "ud_english_ewt",
            "tag",
            "CC BY-SA 4.0",
            "https://github.com/UniversalDependencies/UD_English-EWT (r2.16), each .conllu gzip-compressed "
            "(gzip -9 -n); fetch cannot reproduce those bytes, so place the files by hand",
            (
                RemoteFile(
                    "en_ewt-ud-train.conllu.gz",
                    2605912,
                    "bd47e08c9e18ec12d319e84df2ccdb272ff6de1d0dba5761117d3caf8b358f7b",
                    None,
                ),
                RemoteFile(
                    "en_ewt-ud-dev.conllu.gz",
                    333837,
                    "41086e3afc9ae572f899c9123f874d6d04a52e374a3d2ac7a6667ce48e3bf3e3",
                    None,
                ),
                RemoteFile(
                    "en_ewt-ud-test.conllu.gz",
                    330912,
                    "29c151eee8846d3f3ef7806c126ecac9932af2317c008c6d6b076c5e14950dbe",
                    None,
                ),
            ),
            ("train", "dev", "test"),
            "(tokens, UPOS tags)",
            _ud_english_ewt,
        ),
        Dataset(
            "word_analogy",
            "word2vec-eval",
            "LGPL-2.1 (gensim); questions-words Apache-2.0 (Google word2vec)",
            "gensim's test data (gensim/test/test_data/)",
            (
                RemoteFile(
                    "questions-words.txt",
                    603955,
                    "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
                    _gh(*_GENSIM, "gensim/test/test_data/questions-words.txt"),
                ),
                RemoteFile(
                    "wordsim353.tsv",
                    7186,
                    "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
                    _gh(*_GENSIM, "gensim/test/test_data/wordsim353.tsv"),
                ),
                RemoteFile(
                    "simlex999.txt",
                    18126,
                    "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
                    _gh(*_GENSIM, "gensim/test/test_data/simlex999.txt"),
                ),
            ),
            ("analogy", "wordsim353", "simlex999"),
            "analogy: (section, [(a, b, c, d), ...]); wordsim353/simlex999: (word1, word2, score)",
            _word_analogy,
        ),
        Dataset(
            "text8",
            "word2vec",
            "Wikipedia text (CC BY-SA); prepared by Matt Mahoney",
            "http://mattmahoney.net/dc/textdata.html (first 10^8 bytes of cleaned English Wikipedia)",
            # 31,344,016 bytes is the size TensorFlow's word2vec tutorial checks; no sha256 of
            # the zip was found in a public source, so fetch refuses an unverified download.
            (RemoteFile("text8.zip", 31344016, None, "http://mattmahoney.net/dc/text8.zip"),),
            ("all",),
            "str: runs of up to 10,000 space-separated lowercase words",
            _text8,
        ),
        Dataset(
            "word2vec_lee",
            "word2vec",
            "LGPL-2.1 (gensim); Lee, Pincombe & Welsh 2005",
            "gensim's test data (gensim/test/test_data/)",
            (
                RemoteFile(
                    "lee_background.cor",
                    360082,
                    "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
                    _gh(*_GENSIM, "gensim/test/test_data/lee_background.cor"),
                ),
                RemoteFile(
                    "lee.cor",
                    24658,
                    "a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
                    _gh(*_GENSIM, "gensim/test/test_data/lee.cor"),
                ),
            ),
            ("background", "eval"),
            "str: one document per line (latin-1)",
            _word2vec_lee,
        ),
    )
}
