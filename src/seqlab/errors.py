"""Errors raised at seqlab's boundaries, written for the person who caused them.

Both subclass ValueError so callers that catch ValueError keep working; the CLI prints
their message as one line instead of a traceback.
"""


class ConfigError(ValueError):
    """A recipe or override names an unknown key or gives a bad value."""


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names file and line."""


class TrainingError(ValueError):
    """Training cannot go on (a non-finite loss); the message says where and what was kept."""
