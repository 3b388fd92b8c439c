"""Unique ids for turns and deliveries, cheap enough to draw for every message.

``secrets.token_hex`` costs a system call per id, twice per message on the hot path. An id
here is a random prefix drawn once per process followed by a counter: unique within the
process, and across restarts with the odds of the 48-bit prefix (a delivery id must never
meet one that a previous run left in the outbox). A forked child draws a prefix of its own.
Ids are opaque: nothing parses them.
"""

from __future__ import annotations

import itertools
import os
import secrets
from typing import Final


class _IdSource:
    """The process's prefix and counter."""

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.prefix = ""
        self.counter = itertools.count(1)
        self.reseed()

    def reseed(self) -> None:
        """Draw a new prefix and restart the counter (at start, and in a forked child)."""
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count(1)


_SOURCE: Final = _IdSource()
os.register_at_fork(after_in_child=_SOURCE.reseed)


def new_id() -> str:
    """A fresh id (at least 16 hex digits); safe from any thread (``count`` is atomic)."""
    source = _SOURCE
    return f"{source.prefix}{next(source.counter):04x}"
