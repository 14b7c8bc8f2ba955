"""The errors the corpus generators raise: one line naming the input or option at fault.

Each corpus has its own class (a test or a caller can tell them apart), all
UserErrors, so the command line prints them without a traceback. They live
here, below the generators' modules, because the casting, rendering, mixing
and input-reading modules of one corpus all raise the same one.
"""

from __future__ import annotations

from separation.errors import UserError


class CorpusError(UserError):
    """The speech corpus cannot be generated as asked (one-line message)."""


class NoisyCorpusError(UserError):
    """The noisy corpus cannot be generated or read as asked (one-line message naming the input)."""


class MusicCorpusError(UserError):
    """The music corpus cannot be generated as asked (one-line message)."""
