"""The one place a session key is derived from an inbound message (reference §1.2).

Chats: ``agent:main:{platform}:dm:{chat_id}[:{thread_id}]`` for direct messages, and the
colon-join of ``agent:main``, platform, chat type, chat id, thread id and (by default) the
sender's user id for groups, channels and threads. The HTTP API may name its conversation
explicitly (``Conversation``); a request that names none is stateless and gets a key of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hermes.messages.values import ChatType, InboundMessage, Platform, SessionKey

KEY_PREFIX: Final = "agent:main"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRoute:
    """Which session serves an inbound message, and how."""

    key: SessionKey
    pinned_session_id: str | None = None
    """A session_id the client chose (X-Hermes-Session-Id); it never rotates."""
    memory_scope: str
    """The long-term memory scope of the session."""
    ephemeral: bool = False
    """A stateless request: nothing is read from or written to the Store."""


def derive_session_key(message: InboundMessage, *, group_sessions_per_user: bool) -> SessionKey:
    """The session key of ``message``: see the module docstring for the rules."""
    return route_for(message, group_sessions_per_user=group_sessions_per_user).key


def route_for(message: InboundMessage, *, group_sessions_per_user: bool) -> SessionRoute:
    """The full routing decision for ``message``."""
    conversation = message.conversation
    if conversation is not None and conversation.session_id is not None:
        key = SessionKey(value=f"{_PINNED_PREFIX}{conversation.session_id}")
        return SessionRoute(
            key=key,
            pinned_session_id=conversation.session_id,
            memory_scope=conversation.session_key or key.value,
        )
    if conversation is not None and conversation.session_key is not None:
        scope = conversation.session_key
        return SessionRoute(key=SessionKey(value=scope), memory_scope=scope)
    if message.origin.platform is Platform.API_SERVER:
        key = SessionKey(value=f"{KEY_PREFIX}:api_server:stateless:{message.message_id}")
        return SessionRoute(key=key, memory_scope=key.value, ephemeral=True)
    key = SessionKey(value=_chat_key(message, group_sessions_per_user=group_sessions_per_user))
    return SessionRoute(key=key, memory_scope=key.value)


def _chat_key(message: InboundMessage, *, group_sessions_per_user: bool) -> str:
    origin = message.origin
    if origin.chat_type is ChatType.DM:
        parts = [KEY_PREFIX, origin.platform.value, "dm", origin.chat_id]
        if origin.thread_id:
            parts.append(origin.thread_id)
        return ":".join(parts)
    parts = [KEY_PREFIX, origin.platform.value, origin.chat_type.value, origin.chat_id]
    if origin.thread_id:
        parts.append(origin.thread_id)
    if group_sessions_per_user and message.sender.user_id:
        parts.append(message.sender.user_id)
    return ":".join(parts)


_PINNED_PREFIX = f"{KEY_PREFIX}:api_server:session:"


def route_for_key(key: SessionKey) -> SessionRoute:
    """The route of a session known only by its key (operator resets, expiry checks)."""
    if key.value.startswith(_PINNED_PREFIX):
        session_id = key.value.removeprefix(_PINNED_PREFIX)
        return SessionRoute(key=key, pinned_session_id=session_id, memory_scope=key.value)
    return SessionRoute(key=key, memory_scope=key.value)


def platform_of_key(key: SessionKey) -> Platform | None:
    """The platform a derived key names (``agent:main:<platform>:...``), if any."""
    parts = key.value.split(":", 3)
    if len(parts) < 3 or f"{parts[0]}:{parts[1]}" != KEY_PREFIX:  # noqa: PLR2004
        return None
    try:
        return Platform(parts[2])
    except ValueError:
        return None
