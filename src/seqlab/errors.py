"""Errors raised at seqlab's boundaries, written for the person who caused them.

Both subclass ValueError so callers that catch ValueError keep working; the CLI prints
their message as one line instead of a traceback.
"""

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A recipe or override names an unknown key or gives a bad value."""


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names file and line."""


class TrainingError(ValueError):
    """Training cannot go on (a non-finite loss); the message says where and what was kept."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
