"""Telegram messages in the core's terms: translation, group gating, and gathering fragments.

``to_inbound`` and ``addressing`` are pure functions over the shape of python-telegram-bot's
``Message`` (described here as Protocols, so this module needs no SDK import; tests feed them
``Update.de_json`` objects). ``chat_ref`` and ``replied_message_id`` read the ids this module
writes back into Telegram's terms. ``TextGatherer`` joins the quick fragments one person sends
(a long text that the Telegram client split) into one message, and ``Intake`` puts it all
together on the adapter's event loop: it only ever ``tell``s the Router.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from hermes.messages.address import Address, AddressClosedError
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender

logger = logging.getLogger(__name__)

MAX_GATHER_FACTOR: Final = 5
"""A gathered message waits at most this many batch delays after its first fragment."""

_CHAT_TYPES: Final = {
    "private": ChatType.DM,
    "group": ChatType.GROUP,
    "supergroup": ChatType.GROUP,
    "channel": ChatType.CHANNEL,
}
_GROUP_TYPES: Final = frozenset({"group", "supergroup"})


class TelegramUser(Protocol):
    """The parts of a ``telegram.User`` read here."""

    id: int
    is_bot: bool
    username: str | None

    @property
    def full_name(self) -> str:
        """First and last name."""


class TelegramChat(Protocol):
    """The parts of a ``telegram.Chat`` read here."""

    id: int
    type: str
    title: str | None


class TelegramEntity(Protocol):
    """The parts of a ``telegram.MessageEntity`` read here (offsets in UTF-16 code units)."""

    type: str
    offset: int
    length: int


class TelegramMessage(Protocol):
    """The parts of a ``telegram.Message`` read here."""

    message_id: int
    date: datetime
    text: str | None
    caption: str | None
    message_thread_id: int | None
    is_topic_message: bool | None

    @property
    def chat(self) -> TelegramChat:
        """Where it was sent."""

    @property
    def from_user(self) -> TelegramUser | None:
        """Who sent it (None for channel posts)."""

    @property
    def entities(self) -> Sequence[TelegramEntity]:
        """Mentions, commands and formatting in ``text``."""

    @property
    def caption_entities(self) -> Sequence[TelegramEntity]:
        """Mentions, commands and formatting in ``caption``."""

    @property
    def reply_to_message(self) -> TelegramMessage | None:
        """The message this one answers (in a forum topic, by default the topic's first)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BotIdentity:
    """Who the bot is, as ``getMe`` said."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupGating:
    """When a group message is for the bot."""

    require_mention: bool = True
    free_response_chats: frozenset[str] = frozenset()


class Addressing(StrEnum):
    """Whether a message is for this bot."""

    TAKEN = "taken"
    """A direct message, a free-response chat, or addressed to the bot."""
    NOT_ADDRESSED = "not_addressed"
    """Group chatter the bot was not asked about."""
    OTHER_BOT = "other_bot"
    """A command addressed to another bot (``/status@otherbot``)."""


def to_inbound(message: TelegramMessage, bot: BotIdentity) -> InboundMessage | None:
    """``message`` in the core's terms, or None when there is nothing to take.

    Only text and captions are taken; messages from bots (and without a sender) are not. The
    message id is ``"<chat id>:<message id>"``, because Telegram numbers messages per chat.
    """
    sender, chat_type = message.from_user, _CHAT_TYPES.get(message.chat.type)
    text, _ = _content(message)
    if sender is None or sender.is_bot or chat_type is None or not text:
        return None
    chat_id = str(message.chat.id)
    replied = _real_reply(message)
    return InboundMessage(
        message_id=f"{chat_id}:{message.message_id}",
        origin=ChatAddress(
            platform=Platform.TELEGRAM,
            chat_id=chat_id,
            chat_type=chat_type,
            thread_id=topic_of(message),
            chat_name=message.chat.title or sender.full_name,
        ),
        sender=Sender(user_id=str(sender.id), user_name=sender.username or sender.full_name),
        text=strip_mention(text, bot.username),
        received_at=message.date,
        reply_to_message_id=None if replied is None else f"{chat_id}:{replied.message_id}",
    )


def addressing(message: TelegramMessage, bot: BotIdentity, gating: GroupGating) -> Addressing:
    """Whether ``message`` is for the bot (direct messages always are)."""
    if message.chat.type not in _GROUP_TYPES:
        return Addressing.TAKEN
    text, entities = _content(message)
    command = _leading_command(text or "", entities)
    if command is not None:
        _, _, addressee = command.partition("@")
        if addressee and addressee.lower() != bot.username.lower():
            return Addressing.OTHER_BOT
        return Addressing.TAKEN
    if not gating.require_mention or str(message.chat.id) in gating.free_response_chats:
        return Addressing.TAKEN
    if _mentions(text or "", entities, bot.username) or _replies_to(message, bot):
        return Addressing.TAKEN
    return Addressing.NOT_ADDRESSED


def topic_of(message: TelegramMessage) -> str | None:
    """The forum topic ``message`` belongs to, if any."""
    if message.is_topic_message and message.message_thread_id:
        return str(message.message_thread_id)
    return None


def strip_mention(text: str, username: str) -> str:
    """``text`` without ``@username`` (a message that is only the mention is kept as is)."""
    name = re.escape(username)
    stripped = re.sub(rf"(?i)^(/\w+)@{name}\b", r"\1", text)
    stripped = re.sub(rf"(?i)\s*(?<![\w@])@{name}\b", "", stripped).strip()
    return stripped or text


def chat_ref(address: ChatAddress) -> tuple[int | str, int | None]:
    """The chat id (a number, or an ``@channel`` name) and topic id Telegram takes.

    Raises:
        ValueError: ``address`` cannot be a Telegram chat.
    """
    chat = address.chat_id
    if not chat.lstrip("-").isdigit() and not chat.startswith("@"):
        raise ValueError(f"not a Telegram chat id: {chat}")
    chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
    return chat_id, int(address.thread_id) if address.thread_id else None


def replied_message_id(target: ChatAddress, in_reply_to: str | None) -> int | None:
    """The Telegram message id to answer in ``target``: in groups only, and only in its chat."""
    if target.chat_type is ChatType.DM or not in_reply_to:
        return None
    chat, _, number = in_reply_to.rpartition(":")
    return int(number) if chat == target.chat_id and number.isdigit() else None


def is_command(text: str) -> bool:
    """True when ``text`` is a slash command (never gathered with other text)."""
    return text.startswith("/")


def _content(message: TelegramMessage) -> tuple[str | None, Sequence[TelegramEntity]]:
    if message.text is not None:
        return message.text, message.entities
    return message.caption, message.caption_entities


def _utf16_slice(text: str, offset: int, length: int) -> str:
    data = text.encode("utf-16-le")
    return data[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def _leading_command(text: str, entities: Sequence[TelegramEntity]) -> str | None:
    for entity in entities:
        if entity.type == "bot_command" and entity.offset == 0:
            return _utf16_slice(text, 0, entity.length)
    return None


def _mentions(text: str, entities: Sequence[TelegramEntity], username: str) -> bool:
    wanted = "@" + username.lower()
    for entity in entities:
        if entity.type == "mention" and (
            _utf16_slice(text, entity.offset, entity.length).lower() == wanted
        ):
            return True
    return re.search(rf"(?i)(?<![\w@]){re.escape(wanted)}\b", text) is not None


def _real_reply(message: TelegramMessage) -> TelegramMessage | None:
    """The message ``message`` answers; in a forum topic, not the topic's opening message."""
    replied = message.reply_to_message
    if replied is None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied


def _replies_to(message: TelegramMessage, bot: BotIdentity) -> bool:
    replied = _real_reply(message)
    author = None if replied is None else replied.from_user
    return author is not None and author.id == bot.user_id


@dataclass(slots=True)
class _Pending:
    first: InboundMessage
    texts: list[str]
    started: float
    timer: asyncio.TimerHandle | None = None


class TextGatherer:
    """Joins consecutive text fragments of one sender in one chat (or topic) into one message.

    A fragment waits ``delay`` seconds for the next; each new fragment restarts the wait, up to
    ``MAX_GATHER_FACTOR`` delays after the first. Commands are never gathered: the sender's
    gathered text goes first, then the command. Used on one event loop only.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, emit: Callable[[InboundMessage], None]
    ) -> None:
        """Gather on ``loop``; hand each finished message to ``emit``."""
        self._loop = loop
        self._delay = delay
        self._emit = emit
        self._pending: dict[tuple[str, str | None, str], _Pending] = {}

    def add(self, message: InboundMessage) -> None:
        """Take one fragment (or command) of a sender."""
        key = _gather_key(message)
        if is_command(message.text) or self._delay <= 0:
            self.flush(key)
            self._emit(message)
            return
        now = self._loop.time()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first=message, texts=[], started=now)
        pending.texts.append(message.text)
        if pending.timer is not None:
            pending.timer.cancel()
        due = min(now + self._delay, pending.started + MAX_GATHER_FACTOR * self._delay)
        pending.timer = self._loop.call_at(due, self.flush, key)

    def continues(self, message: InboundMessage) -> bool:
        """True when ``message`` would join text its sender is still sending."""
        return not is_command(message.text) and _gather_key(message) in self._pending

    def flush(self, key: tuple[str, str | None, str]) -> None:
        """Hand on what ``key``'s sender gathered so far, if anything."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        self._emit(dataclasses.replace(pending.first, text="\n".join(pending.texts)))

    def drop_all(self) -> int:
        """Forget every unfinished message; return how many there were."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        count = len(self._pending)
        self._pending.clear()
        return count


def _gather_key(message: InboundMessage) -> tuple[str, str | None, str]:
    return (message.origin.chat_id, message.origin.thread_id, message.sender.user_id)


class Intake:
    """What the adapter takes from Telegram: gated, gathered, and told to the Router.

    Lives on the adapter's event loop. After ``close`` nothing more reaches the Router.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        router: Address[RouteInbound],
        gating: GroupGating,
        batch_delay: float,
    ) -> None:
        """Take messages for ``router`` on ``loop``."""
        self._router = router
        self._gating = gating
        self._gatherer = TextGatherer(loop, batch_delay, self._route)
        self.is_open = True

    def take(self, message: TelegramMessage, bot: BotIdentity) -> None:
        """Route ``message`` (now, or once its sender's fragments are gathered) if it is for us."""
        if not self.is_open:
            return
        taken = to_inbound(message, bot)
        if taken is None:
            logger.debug(
                "Telegram message %s skipped: no text, or not from a person", message.message_id
            )
            return
        verdict = addressing(message, bot, self._gating)
        if verdict is Addressing.OTHER_BOT or (
            verdict is Addressing.NOT_ADDRESSED and not self._gatherer.continues(taken)
        ):
            return  # a continuation of what its sender is already writing to the bot is kept
        self._gatherer.add(taken)

    def close(self) -> None:
        """Take nothing more; drop unfinished gathered messages."""
        self.is_open = False
        # Gathered fragments were never told to the Router, so nothing acknowledged them; but
        # PTB has already confirmed their updates to Telegram: they are lost, so say so.
        dropped = self._gatherer.drop_all()
        if dropped:
            logger.warning("Telegram: dropped %d unfinished gathered message(s)", dropped)

    def _route(self, message: InboundMessage) -> None:
        if not self.is_open:
            return
        try:
            self._router.tell(RouteInbound(message=message))
        except AddressClosedError:
            logger.warning(
                "Telegram message %s dropped: the Router has stopped", message.message_id
            )
