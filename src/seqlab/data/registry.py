"""Named datasets in the cache: where they are, how they are checked, fetched and loaded.

The table of datasets (`DATASETS`: files with size, sha256 and URL, license, splits,
parser) is in :mod:`seqlab.data.datasets`.

Files live in ``<cache>/<name>/<file>`` under the source's own file names, where
``<cache>`` is ``$SEQLAB_DATA_DIR`` or ``~/.cache/seqlab``; so pointing
``SEQLAB_DATA_DIR`` at a folder of copies (the CI uses ``../shared/datasets``) loads
everything offline. A file is used only if its sha256 matches the table.

    load("sst2", "dev")[0]   # -> ("it 's a charming and often affecting journey .", "1")
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from seqlab.data import sources
from seqlab.data.datasets import DATASETS, Dataset, RemoteFile
from seqlab.errors import DataError

__all__ = [
    "DATASETS",
    "Dataset",
    "RemoteFile",
    "cache_dir",
    "fetch",
    "fetch_dataset",
    "get",
    "is_cached",
    "load",
    "local_folder",
    "sha256_of",
]

CACHE_ENV = "SEQLAB_DATA_DIR"
DEFAULT_CACHE = Path("~/.cache/seqlab")
CHUNK = 1 << 20  # download and hash in 1 MiB pieces, never a whole file at once


# ----------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """``$SEQLAB_DATA_DIR``, else ``~/.cache/seqlab``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def get(name: str) -> Dataset:
    """The registry entry for ``name``; unknown names list the known ones."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Hashing IMDB's 25 MB on every load would cost ~0.1 s each time; a file whose size and
# modification time are unchanged since we hashed it in this process is not rehashed.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    return _VERIFIED[key]


def is_cached(dataset: Dataset, root: Path | None = None) -> bool:
    """All files present with the listed sizes (a quick check; `load` verifies sha256)."""
    folder = (root or cache_dir()) / dataset.name
    return all(
        (folder / f.name).is_file() and (f.size is None or (folder / f.name).stat().st_size == f.size)
        for f in dataset.files
    )


def local_folder(dataset: Dataset, root: Path | None = None) -> Path:
    """The dataset's cache folder after checking every file; raises `DataError` saying
    where it looked and how to get the files if one is missing or has the wrong sha256."""
    folder = (root or cache_dir()) / dataset.name
    for remote in dataset.files:
        path = folder / remote.name
        if not path.is_file():
            raise DataError(
                f"dataset {dataset.name!r} is not in the cache: no {path} "
                f"(cache = ${CACHE_ENV} or {DEFAULT_CACHE}). Run `seqlab data fetch {dataset.name}`, "
                f"or put the files {[f.name for f in dataset.files]} in {folder}/ (origin: {dataset.origin})"
            )
        if remote.sha256 is not None and _digest(path) != remote.sha256:
            raise DataError(
                f"{path}: sha256 mismatch, expected {remote.sha256}, got {_digest(path)}; "
                f"the file is not used. Run `seqlab data fetch {dataset.name}` to replace it"
            )
    return folder


def load(name: str, split: str, root: Path | None = None) -> list | sources.TimeSeries:
    """Load one official split of a named dataset as plain records.

    Returns a list of examples (see ``get(name).example`` for their type), or one
    `TimeSeries` for forecasting datasets."""
    dataset = get(name)
    if split not in dataset.splits:
        raise DataError(f"dataset {name!r} has no split {split!r}; expected one of {list(dataset.splits)}")
    examples = dataset.parser(local_folder(dataset, root), split)
    return examples if hasattr(examples, "names") else list(examples)


# ----------------------------------------------------------------------------- download


def fetch(name: str, root: Path | None = None, progress: bool = True) -> Path:
    """Download whatever files of ``name`` the cache lacks; return the dataset folder."""
    return fetch_dataset(get(name), root, progress)


def fetch_dataset(
    dataset: Dataset, root: Path | None = None, progress: bool = True, opener: Callable = urllib.request.urlopen
) -> Path:
    """Bring every file of ``dataset`` into ``<root>/<name>/``, verified by sha256.

    A file already there with the right checksum is never fetched again. One with the
    wrong checksum is moved aside to ``<file>.corrupt-<sha8>`` (kept, never used) and
    fetched anew. Downloads go to ``<file>.part`` and are renamed only after the
    checksum matches, so an interrupted download never passes as complete."""
    folder = (root or cache_dir()) / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    for remote in dataset.files:
        path = folder / remote.name
        if path.is_file():
            if remote.sha256 is None or sha256_of(path) == remote.sha256:
                continue  # unverifiable files placed by the user are theirs to vouch for
            _move_aside(path)
        _check_downloadable(dataset, remote, folder)
        _download(remote, path, opener, progress)
    return folder


def _check_downloadable(dataset: Dataset, remote: RemoteFile, folder: Path) -> None:
    if remote.url is None:
        raise DataError(
            f"{dataset.name}: no URL serves {remote.name} as the registry records it "
            f"(origin: {dataset.origin}); put the file (sha256 {remote.sha256}) in {folder}/"
        )
    if remote.sha256 is None:
        raise DataError(
            f"{dataset.name}: no published sha256 is recorded for {remote.url}, so seqlab will not "
            f"trust a download of it. Download it yourself, check it, and put it in {folder}/{remote.name}"
        )


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{sha256_of(path)[:8]}")
    os.replace(path, aside)
    return aside


def _download(remote: RemoteFile, path: Path, opener: Callable, progress: bool) -> None:
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with opener(remote.url) as response, open(part, "wb") as out, _progress_bar(progress) as bar:
            task = bar.add_task(remote.name, total=remote.size)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.advance(task, len(chunk))
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)  # ours, half-written: never the user's file
        raise DataError(
            f"could not download {remote.url} ({err}); put {remote.name} in {path.parent}/ "
            f"by hand, or retry `seqlab data fetch` when online"
        ) from None
    got = digest.hexdigest()
    if got != remote.sha256:
        aside = path.with_name(f"{path.name}.corrupt-{got[:8]}")
        os.replace(part, aside)
        raise DataError(
            f"{remote.url}: sha256 mismatch, expected {remote.sha256}, got {got}; "
            f"the download was moved aside to {aside} and not used"
        )
    os.replace(part, path)


def _progress_bar(enabled: bool):
    # Imported here: rich is only needed when something is actually downloaded.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )
