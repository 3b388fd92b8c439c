"""Telegram messages in the core's terms: translation and group gating.

``to_inbound`` and ``addressing`` are pure functions over the shape of python-telegram-bot's
``Message`` (described here as Protocols, so this module needs no SDK import; tests feed them
``Update.de_json`` objects). ``chat_ref`` and ``replied_message_id`` read the ids this module
writes back into Telegram's terms. Gathering fragments and routing them is ``telegram_intake``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from hermes.adapters.platforms.inbound_text import clean_text
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender

logger = logging.getLogger(__name__)


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

    Only text and captions are taken; messages from bots (and without a sender) are not, nor
    are stickers, photos without a caption and the like (nothing in them can be read). The text
    is cleaned and capped (``clean_text``). The message id is ``"<chat id>:<message id>"``,
    because Telegram numbers messages per chat.
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
        text=clean_text(strip_mention(text, bot.username)),
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
