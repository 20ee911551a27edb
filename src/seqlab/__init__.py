"""seqlab: sequence models you can read and trust.

The math lives in :mod:`seqlab.nn`; the command line in :mod:`seqlab.cli`.
"""

__version__ = "0.1.0"
