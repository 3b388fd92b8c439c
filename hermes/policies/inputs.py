"""Which waiting inputs the next turn answers.

In ``interrupt`` mode consecutive chat messages are answered together (a user who sends three
quick lines gets one answer to all three, as in the original gateway); in ``queue`` mode each
input gets its own turn. A message whose sender awaits its own reply (an HTTP request) is
always answered alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hermes.messages.values import InboundMessage

MAX_PENDING_INPUTS: Final = 32
"""Inputs a session holds while busy; beyond this a message is refused with a notice."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingInput:
    """One user input waiting for (or in) a turn."""

    message: InboundMessage
    text: str
    """What the agent answers: the message text, or the text after /queue."""


def next_batch(pending: Sequence[PendingInput], *, merge: bool) -> int:
    """How many inputs at the head of ``pending`` the next turn answers (0 when empty)."""
    if not pending:
        return 0
    if not merge or pending[0].message.awaits_reply:
        return 1
    count = 0
    for item in pending:
        if item.message.awaits_reply:
            break
        count += 1
    return count
