"""How values are written in the SQLite state database, and read back.

Datetimes are fixed-width ISO-8601 in UTC (so text order is time order); a ``ChatAddress``
is a small JSON object.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache

from hermes.messages.store import SessionRecord
from hermes.messages.values import ChatAddress, ChatType, Platform, Sender, SessionKey, TokenUsage


def to_text(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that text order is time order."""
    if moment.tzinfo is UTC:  # the usual case: already UTC, nothing to convert
        return moment.isoformat(timespec="microseconds")
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps aware UTC only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    """An aware UTC datetime from its stored text."""
    return datetime.fromisoformat(text).astimezone(UTC)


@lru_cache(maxsize=4096)
def address_to_json(origin: ChatAddress) -> str:
    """A chat address as JSON (the addresses of busy chats are encoded once, then reused)."""
    fields = {
        "platform": origin.platform.value,
        "chat_id": origin.chat_id,
        "chat_type": origin.chat_type.value,
        "thread_id": origin.thread_id,
        "chat_name": origin.chat_name,
    }
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def address_from_json(text: str) -> ChatAddress:
    """A chat address from JSON."""
    fields = json.loads(text)
    return ChatAddress(
        platform=Platform(fields["platform"]),
        chat_id=str(fields["chat_id"]),
        chat_type=ChatType(fields["chat_type"]),
        thread_id=fields.get("thread_id"),
        chat_name=fields.get("chat_name"),
    )


SessionRow = tuple[str, str, str, str, str | None, int, int, int, str | None]


@lru_cache(maxsize=4096)
def sender_to_json(sender: Sender) -> str:
    """A sender as JSON (encoded once per sender while it is busy)."""
    return json.dumps({"user_id": sender.user_id, "user_name": sender.user_name})


def sender_from_json(text: str) -> Sender:
    """A sender from JSON."""
    fields = json.loads(text)
    return Sender(user_id=str(fields["user_id"]), user_name=fields.get("user_name"))


def record_from_row(row: SessionRow) -> SessionRecord:
    """A session entry from a row of ``sessions``."""
    (
        key,
        session_id,
        created_at,
        updated_at,
        origin,
        input_tokens,
        output_tokens,
        flushed,
        sender,
    ) = row
    return SessionRecord(
        session_key=SessionKey(value=key),
        session_id=session_id,
        created_at=from_text(created_at),
        updated_at=from_text(updated_at),
        origin=None if origin is None else address_from_json(origin),
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        memory_flushed=bool(flushed),
        last_sender=None if sender is None else sender_from_json(sender),
    )
