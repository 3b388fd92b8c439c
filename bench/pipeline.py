"""What every contender offers the load drivers: start, send, stop, and replies to a sink.

The gateway and both baselines implement ``Pipeline``, so each scenario drives all three with
the same code and the same message pattern. A reply reaches the sink on the contender's own
delivery thread (or loop), exactly once per message, with ``ok`` False when the message got an
error or a rejection instead of an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

ReplySink = Callable[[str, str, bool], None]
"""Called with (chat_id, message_id, ok) for each answered message."""


class Pipeline(Protocol):
    """One contender: the gateway, the asyncio baseline or the bare pykka baseline."""

    @property
    def name(self) -> str:
        """The contender's column name in the tables."""
        ...

    def start(self, sink: ReplySink) -> None:
        """Start; every later reply goes to ``sink``."""
        ...

    def send(self, chat_id: str, message_id: str, text: str) -> None:
        """Inject one message from ``chat_id`` (any thread; never blocks)."""
        ...

    def stop(self) -> dict[str, Any]:
        """Stop everything started; return figures taken just before (and the stop time)."""
        ...


@dataclass(frozen=True, slots=True)
class Contender:
    """A named way to make a fresh pipeline (one per run)."""

    name: str
    make: Callable[[], Pipeline]
