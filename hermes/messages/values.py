"""Value types carried inside messages: chats, senders, inbound messages, transcript entries.

Every type is a frozen, slotted, keyword-only dataclass holding only immutable values, because
pykka hands the same object to another thread. Validation raises ``ValueError``; nothing here
normalises by mutation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

MAX_HEADER_ID_LENGTH: Final = 256
"""Longest session id or session key a client may name (reference §12.2)."""

_FORBIDDEN_ID_CHARS: Final = frozenset("\r\n\x00")


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def check_client_id(value: str) -> str | None:
    """Return why ``value`` is not acceptable as a client-named session id or key, or None."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_HEADER_ID_LENGTH:
        return f"must be at most {MAX_HEADER_ID_LENGTH} characters"
    if not _FORBIDDEN_ID_CHARS.isdisjoint(value):
        return "must not contain CR, LF or NUL"
    return None


class Platform(StrEnum):
    """The platforms a message can come from or go to."""

    API_SERVER = "api_server"
    TELEGRAM = "telegram"
    DISCORD = "discord"
    CONSOLE = "console"
    EMBEDDED = "embedded"


class ChatType(StrEnum):
    """The kind of chat, as the session-key rules distinguish them (reference §1.2)."""

    DM = "dm"
    GROUP = "group"
    CHANNEL = "channel"
    THREAD = "thread"


class Role(StrEnum):
    """The author of a transcript entry."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatAddress:
    """One chat on one platform: where an inbound message came from, or where a reply goes."""

    platform: Platform
    chat_id: str
    chat_type: ChatType = ChatType.DM
    thread_id: str | None = None
    """Forum topic or thread inside the chat, if any."""
    chat_name: str | None = None
    """Display name, for people reading logs and status; never used for routing."""

    def __post_init__(self) -> None:
        if not self.chat_id:
            raise ValueError("chat_id must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """The person who sent an inbound message."""

    user_id: str
    user_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """One entry of a conversation as the agent sees it."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenUsage:
    """Tokens one turn consumed, as the model provider reported them (zero when unknown)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """Sum two usages."""
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionKey:
    """The stable identity of a conversation: its actor's name and its long-term scope.

    Derived from an inbound message by exactly one function,
    ``hermes.policies.session_keys.derive_session_key``.
    """

    value: str

    def __post_init__(self) -> None:
        if not self.value or not _FORBIDDEN_ID_CHARS.isdisjoint(self.value):
            raise ValueError(f"invalid session key {self.value!r}")

    def __str__(self) -> str:
        """The key as users and the store know it."""
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A conversation a client names explicitly (the HTTP API's session headers).

    ``session_id`` selects the conversation (its actor and transcript); ``session_key`` is the
    long-term memory scope, and is the conversation itself when no ``session_id`` is given.
    """

    session_id: str | None = None
    session_key: str | None = None

    def __post_init__(self) -> None:
        if self.session_id is None and self.session_key is None:
            raise ValueError("a conversation names a session_id, a session_key or both")
        for name, value in (("session_id", self.session_id), ("session_key", self.session_key)):
            problem = None if value is None else check_client_id(value)
            if problem:
                raise ValueError(f"{name} {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientContext:
    """Context a client sends along with its message (the HTTP API's request body)."""

    system_prompt: str | None = None
    """Extra system instructions for this turn only; never stored."""
    history: tuple[ChatMessage, ...] = ()
    """Earlier messages; used only by stateless requests, which have no transcript."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message a person sent, translated by its platform adapter into the core's terms."""

    message_id: str
    """The platform's id for this message; with the platform, the dedupe key."""
    origin: ChatAddress
    sender: Sender
    text: str
    received_at: datetime
    reply_to_message_id: str | None = None
    conversation: Conversation | None = None
    client_context: ClientContext | None = None
    awaits_reply: bool = False
    """True when the sender waits for the answer to this very message (an HTTP request):
    such a message is never merged with others nor interrupted by a newer one."""
    stream_reply: bool = False
    """True when the sender shows the reply as it is written (an SSE request)."""

    def __post_init__(self) -> None:
        if not self.message_id:
            raise ValueError("message_id must not be empty")
        _require_aware("received_at", self.received_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeChannel:
    """A platform's home channel: where deliveries addressed to the bare platform go."""

    platform: Platform
    address: ChatAddress
    name: str

    def __post_init__(self) -> None:
        if self.address.platform is not self.platform:
            raise ValueError("a home channel's address must be on its platform")
