"""The ``send_message`` tools of one turn: send text to a target, list the targets known.

A ``MessagingHandle`` is bound to the chat of the turn that holds it (``origin`` means that
chat, and what it sends is mirrored into the target chat's session labelled with where it came
from). Implementations talk to Delivery by message and are safe on any event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class MessagingError(Exception):
    """A send that did not happen, with a reason fit for the model (and so for the user)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownTarget:
    """One target the agent may name, as text, with what it is."""

    target: str
    """The target as the agent writes it: ``origin``, ``telegram``, ``discord:1234``."""
    description: str
    """What it reaches, with user-supplied names neutralised."""


class MessagingHandle(Protocol):
    """The messaging tools of one turn."""

    async def send(self, target: str, text: str) -> str:
        """Send ``text`` to ``target``; returns what happened, for the model.

        Raises:
            MessagingError: the target is unknown or the platform refused the message.
        """
        ...

    async def targets(self) -> tuple[KnownTarget, ...]:
        """The targets this turn may use: this chat, home channels, group chats seen.

        Raises:
            MessagingError: Delivery did not answer in time.
        """
        ...
