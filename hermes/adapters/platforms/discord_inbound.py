"""The Discord adapter's pure rules: which messages the gateway takes, and how they read.

``facts_of`` reads the few plain values the rules need off a discord.py ``Message`` (typed by
the ``DiscordMessage`` protocol: the SDK is imported by ``discord_platform`` alone), and
``translate`` applies reference §4.7 to them: bots (this one first of all) are never answered;
direct messages always are; in guild channels and threads, with ``require_mention``, only a
message that mentions the bot or is written in a free-response channel (or a thread under one)
is taken, and the bot's mentions are stripped. The adapter's settings and the few outbound and
connection decisions that need no SDK object live here too. Nothing here does I/O (beyond a
log line for a message it cannot read) or keeps state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from hermes.adapters.platforms.inbound_text import clean_text
from hermes.messages.delivery import OutboundFailed, OutboundKind, OutboundSent, PlatformEvent
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender

logger = logging.getLogger(__name__)

DEFAULT_API_BASE: Final = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL: Final = "wss://gateway.discord.gg/"
MAX_MESSAGE_LENGTH: Final = 2000
"""Discord's limit on one message's content."""
TYPING_INTERVAL_SECONDS: Final = 8.0
"""How often to trigger the typing indicator; Discord shows it for about 10 s."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordSettings:
    """How the Discord adapter connects and which guild messages it takes."""

    token: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    """REST root with its version."""
    gateway_url: str = DEFAULT_GATEWAY_URL
    require_mention: bool = True
    free_response_channels: tuple[str, ...] = ()
    """Channel ids answered without a mention (and the threads under them)."""
    typing_max_seconds: float = 1800.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0


class ChannelKind(StrEnum):
    """Where on Discord a message was written."""

    DM = "dm"
    GUILD_CHANNEL = "guild_channel"
    """A text channel of a guild (or another guild channel with a text chat)."""
    THREAD = "thread"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordMessageFacts:
    """What the gating and the translation need to know about one Discord message."""

    message_id: str
    channel_id: str
    channel_kind: ChannelKind
    parent_channel_id: str | None = None
    """The channel a thread belongs to (threads only)."""
    guild_name: str | None = None
    channel_name: str | None = None
    parent_channel_name: str | None = None
    author_id: str
    author_name: str
    author_is_bot: bool
    content: str
    mentioned_user_ids: tuple[str, ...] = ()
    """Users the message mentions (Discord's ``mentions``, which includes a reply's ping)."""
    reference_message_id: str | None = None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordGate:
    """The bot's identity and the gating settings."""

    bot_user_id: str
    require_mention: bool = True
    free_response_channels: frozenset[str] = frozenset()


class _User(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def bot(self) -> bool: ...


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Reference(Protocol):
    @property
    def message_id(self) -> int | None: ...


class DiscordMessage(Protocol):
    """What ``facts_of`` reads off a discord.py ``Message``."""

    @property
    def id(self) -> int: ...  # noqa: D102
    @property
    def type(self) -> object: ...  # noqa: D102
    @property
    def channel(self) -> object: ...  # noqa: D102
    @property
    def guild(self) -> _Named | None: ...  # noqa: D102
    @property
    def author(self) -> _User: ...  # noqa: D102
    @property
    def content(self) -> str: ...  # noqa: D102
    @property
    def mentions(self) -> Sequence[_User]: ...  # noqa: D102
    @property
    def reference(self) -> _Reference | None: ...  # noqa: D102
    @property
    def created_at(self) -> datetime: ...  # noqa: D102


# Discord's own numbers (API v10), so that no SDK class is needed to tell them apart.
_PERSON_MESSAGE_TYPES: Final = frozenset({0, 19})
"""DEFAULT and REPLY; joins, pins and thread starters are nothing a person said to the bot."""
_DM_CHANNEL: Final = 1
_GROUP_DM_CHANNEL: Final = 3
_THREAD_CHANNELS: Final = frozenset({10, 11, 12})


def facts_of(message: DiscordMessage) -> DiscordMessageFacts | None:
    """The facts of a discord.py message, or None when no person wrote it to the bot."""
    if _number(message.type) not in _PERSON_MESSAGE_TYPES:
        return None
    channel, guild, reference = message.channel, message.guild, message.reference
    channel_type = _number(getattr(channel, "type", None))
    if channel_type == _GROUP_DM_CHANNEL or (guild is None and channel_type != _DM_CHANNEL):
        return None  # bots are never in group DMs
    kind = ChannelKind.GUILD_CHANNEL
    parent_id = parent_name = None
    if channel_type == _DM_CHANNEL:
        kind = ChannelKind.DM
    elif channel_type in _THREAD_CHANNELS:
        kind, parent_id = ChannelKind.THREAD, _text(getattr(channel, "parent_id", None))
        parent_name = _text(getattr(getattr(channel, "parent", None), "name", None))
    return DiscordMessageFacts(
        message_id=str(message.id),
        channel_id=str(getattr(channel, "id", "")),
        channel_kind=kind,
        parent_channel_id=parent_id,
        guild_name=guild.name if guild is not None else None,
        channel_name=_text(getattr(channel, "name", None)),
        parent_channel_name=parent_name,
        author_id=str(message.author.id),
        author_name=message.author.name,
        author_is_bot=message.author.bot,
        content=message.content,
        mentioned_user_ids=tuple(str(user.id) for user in message.mentions),
        reference_message_id=_text(reference.message_id if reference is not None else None),
        created_at=message.created_at,
    )


def inbound_of(
    message: DiscordMessage, settings: DiscordSettings, *, bot_user_id: str
) -> InboundMessage | None:
    """The ``InboundMessage`` for a discord.py message, or None when it is not taken.

    A message discord.py built from a malformed event (no author, say) is skipped with one
    log line instead of a traceback from discord.py's event dispatch.
    """
    try:
        facts = facts_of(message)
    except (AttributeError, TypeError, ValueError) as error:
        logger.warning(
            "Discord message %s is malformed (%s); skipped",
            getattr(message, "id", "?"),
            type(error).__name__,
        )
        return None
    if facts is None:
        return None
    gate = DiscordGate(
        bot_user_id=bot_user_id,
        require_mention=settings.require_mention,
        free_response_channels=frozenset(settings.free_response_channels),
    )
    return translate(facts, gate)


def translate(facts: DiscordMessageFacts, gate: DiscordGate) -> InboundMessage | None:
    """The ``InboundMessage`` for ``facts``, or None when the gateway must not take it.

    A message with no text (only attachments, stickers or the bot's mention) is not taken; the
    text is cleaned and capped (``clean_text``).
    """
    if facts.author_is_bot or facts.author_id == gate.bot_user_id or not is_taken(facts, gate):
        return None
    text = clean_text(strip_bot_mentions(facts.content, gate.bot_user_id))
    if not text:
        return None
    return InboundMessage(
        message_id=facts.message_id,
        origin=_origin(facts),
        sender=Sender(user_id=facts.author_id, user_name=facts.author_name),
        text=text,
        received_at=facts.created_at,
        reply_to_message_id=facts.reference_message_id,
    )


def is_taken(facts: DiscordMessageFacts, gate: DiscordGate) -> bool:
    """Whether the mention gating lets ``facts`` through (authors are checked elsewhere)."""
    if facts.channel_kind is ChannelKind.DM or not gate.require_mention:
        return True
    free = gate.free_response_channels
    if facts.channel_id in free or (
        facts.channel_kind is ChannelKind.THREAD and facts.parent_channel_id in free
    ):
        return True
    return mentions_bot(facts, gate.bot_user_id)


def mentions_bot(facts: DiscordMessageFacts, bot_user_id: str) -> bool:
    """True when the message mentions the bot, in its text or in Discord's mention list."""
    return bot_user_id in facts.mentioned_user_ids or bool(
        _mention_pattern(bot_user_id).search(facts.content)
    )


def strip_bot_mentions(content: str, bot_user_id: str) -> str:
    """``content`` without the bot's ``<@id>``/``<@!id>`` mentions, trimmed."""
    return _mention_pattern(bot_user_id).sub("", content).strip()


def _mention_pattern(bot_user_id: str) -> re.Pattern[str]:
    # The whitespace before a mention goes with it: "thanks <@1>, bye" reads "thanks, bye".
    return re.compile(rf"\s*<@!?{re.escape(bot_user_id)}>")


def _origin(facts: DiscordMessageFacts) -> ChatAddress:
    match facts.channel_kind:
        case ChannelKind.DM:
            return ChatAddress(
                platform=Platform.DISCORD,
                chat_id=facts.channel_id,
                chat_type=ChatType.DM,
                chat_name=facts.author_name,
            )
        case ChannelKind.THREAD:
            # The thread is both the chat and its thread, as the original gateway keyed it:
            # agent:main:discord:thread:<thread>:<thread>:<user>.
            return ChatAddress(
                platform=Platform.DISCORD,
                chat_id=facts.channel_id,
                chat_type=ChatType.THREAD,
                thread_id=facts.channel_id,
                chat_name=_name(facts.guild_name, facts.parent_channel_name, facts.channel_name),
            )
        case ChannelKind.GUILD_CHANNEL:
            return ChatAddress(
                platform=Platform.DISCORD,
                chat_id=facts.channel_id,
                chat_type=ChatType.GROUP,
                chat_name=_name(facts.guild_name, facts.channel_name),
            )


def _name(guild: str | None, channel: str | None, thread: str | None = None) -> str:
    """``Guild / #channel``, with ``/ thread`` appended for threads."""
    name = f"{guild or '?'} / #{channel or '?'}"
    return f"{name} / {thread}" if thread is not None else name


def _number(enum_value: object) -> int | None:
    value = getattr(enum_value, "value", None)
    return value if isinstance(value, int) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# -- outbound and connection rules --------------------------------------------------------------

TOKEN_REJECTED: Final = "Discord rejected the bot token"  # noqa: S105  (a message, not a secret)
FATAL_CLOSE_CODES: Final = {
    4004: TOKEN_REJECTED,
    4014: "Discord refused the message content intent: enable it for the bot in the portal",
    **dict.fromkeys((4010, 4011, 4012, 4013), "Discord refused the gateway connection"),
}
"""Gateway close codes after which reconnecting cannot help, and what they mean."""
ANSWER_KINDS: Final = frozenset({OutboundKind.REPLY, OutboundKind.ERROR, OutboundKind.REJECTED})
"""Outbound kinds that end a turn: sending one ends the chat's typing indicator."""
_TOO_MANY_REQUESTS: Final = 429
_SERVER_ERRORS: Final = 500
_INVALID_FORM_BODY: Final = 50035
_MIN_SECRET: Final = 8
"""Real tokens are about 70 characters; replacing a one-letter test token would mangle text."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why connecting or sending failed; ``fatal`` when trying again cannot help."""

    reason: str
    fatal: bool = False
    chunks_sent: int = 0
    """Chunks Discord accepted before the failure."""
    retry_after: float | None = None


def channel_id_of(target: ChatAddress) -> int | None:
    """The Discord channel (or thread) id a message to ``target`` goes to, if it is one."""
    return int(target.chat_id) if target.chat_id.isdigit() else None


def reply_reference_id(target: ChatAddress, in_reply_to: str | None) -> int | None:
    """The message a reply points at: in guild channels and threads, not in DMs."""
    if target.chat_type is ChatType.DM or in_reply_to is None or not in_reply_to.isdigit():
        return None
    return int(in_reply_to)


def is_retryable_status(status: int) -> bool:
    """Whether a send refused with HTTP ``status`` may succeed later."""
    return status == _TOO_MANY_REQUESTS or status >= _SERVER_ERRORS


def is_reference_refusal(code: int, text: str) -> bool:
    """Whether Discord refused a message because of its reply reference (error 50035)."""
    return code == _INVALID_FORM_BODY and "message_reference" in text


def refusal_reason(status: int, code: int, text: str) -> str:
    """A short reason for a refused send: status, Discord code, first line of the text."""
    first_line = text.splitlines()[0] if text else ""
    return f"Discord refused the message: {status} (code {code}) {first_line}".strip()[:200]


def outcome(delivery_id: str, failure: Failure | None, reason: str) -> PlatformEvent:
    """What to tell Delivery: sent when ``failure`` is None, else failed for ``reason``."""
    if failure is None:
        return OutboundSent(delivery_id=delivery_id)
    return OutboundFailed(
        delivery_id=delivery_id,
        reason=reason,
        retryable=not failure.fatal,
        chunks_sent=failure.chunks_sent,
        retry_after=failure.retry_after,
    )


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` (the bot token) replaced; too short a secret is left alone."""
    return text.replace(secret, "[token]") if len(secret) >= _MIN_SECRET else text


def describe_error(error: BaseException) -> str:
    """``Type: message``, at most 200 characters."""
    text = str(error)
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def retry_detail(reason: str, attempt: int, delay: float, now: datetime) -> str:
    """What failed, and when the next attempt is, for the adapter's health."""
    at = now + timedelta(seconds=delay)
    return f"{reason}; attempt {attempt} in {delay:.1f} s (at {at:%H:%M:%S} UTC)"


def next_health(
    current: PlatformHealth, state: PlatformState, detail: str, *, intake_over: bool
) -> PlatformHealth:
    """The health after a move to ``state``.

    FAILED (a rejected token) stays until STOPPED, so that it cannot be missed; once intake has
    stopped, STARTING and RUNNING read DRAINING.
    """
    if current.state is PlatformState.FAILED and state is not PlatformState.STOPPED:
        return current
    if intake_over and state in {PlatformState.STARTING, PlatformState.RUNNING}:
        state = PlatformState.DRAINING
    return PlatformHealth(platform=current.platform, state=state, detail=detail)
