"""User hooks: the events the gateway emits to the scripts in ``$HERMES_HOME/hooks/``.

Actors tell a ``HookEvent`` to the hook runner (an ``Address[HookEvent]``) and never wait:
hooks run on the runner's own thread, each call bounded by a timeout, and a failing or slow
hook is logged and changes nothing (reference §9, fixed: emission is fire-and-forget).

Events and their payload keys:

- ``gateway:startup``: platforms
- ``session:start``: platform, user_id, session_id, session_key
- ``session:end``: platform, user_id, session_id, session_key, reason
- ``session:reset``: platform, user_id, session_id (the new one), session_key, reason
- ``agent:start``: platform, user_id, session_id, session_key, message (first 500 characters)
- ``agent:end``: the ``agent:start`` keys plus response (first 500 characters) or error
- ``command:<name>``: platform, user_id, session_key, command, args
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HookValue = str | int | float | bool | None | tuple[str, ...]
EXCERPT_CHARS: Final = 500
"""Message and response texts in payloads are cut to this many characters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HookEvent:
    """Told by actors to the hook runner: ``name`` happened, with ``payload``."""

    name: str
    """``<family>:<what>``, such as ``session:start`` or ``command:new``."""
    payload: tuple[tuple[str, HookValue], ...] = ()
    """Key/value pairs; handlers receive them as a fresh dict (tuples become lists)."""

    def as_dict(self) -> dict[str, object]:
        """The payload as a new dict, safe to hand to user code."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in self.payload
        }


def excerpt(text: str) -> str:
    """``text`` cut to ``EXCERPT_CHARS``."""
    return text[:EXCERPT_CHARS]
