"""The inbound journal and the outbox, in SQLite: what makes intake and answers durable.

A journaled chat message stays unsettled until a ``Settle`` write names it; a reply in the
outbox stays until ``OutboxDone``. At start, ``unsettled_inbound`` and ``pending_outbox`` say
what the last run left unfinished.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import Final, assert_never

from hermes.adapters.storage.sqlite_batch import Executor
from hermes.adapters.storage.sqlite_codec import to_text
from hermes.adapters.storage.sqlite_messages import (
    delivery_from_json,
    delivery_to_json,
    inbound_from_json,
    inbound_to_json,
)
from hermes.messages.delivery import DeliverMessage
from hermes.messages.store import OutboxDone, RecordInbound, Settle
from hermes.messages.values import InboundMessage, Platform

logger = logging.getLogger(__name__)

_INSERT_INBOUND: Final = """INSERT OR IGNORE INTO inbound_journal (platform, message_id,
    session_key, received_at, message, settled) VALUES (?, ?, ?, ?, ?, ?)"""
_SETTLE: Final = """INSERT INTO inbound_journal (platform, message_id, session_key,
    received_at, message, settled) VALUES (?, ?, '', ?, NULL, 1)
    ON CONFLICT (platform, message_id) DO UPDATE SET settled = 1"""
"""Settle a journaled message; one not journaled yet (its journal write was lost, or comes
later) gets a settled row, so that a later journal write of it changes nothing and its
re-delivery is dropped."""
_INSERT_OUTBOX: Final = """INSERT OR REPLACE INTO outbox (delivery_id, message, created_at)
    VALUES (?, ?, ?)"""
_DELETE_OUTBOX: Final = "DELETE FROM outbox WHERE delivery_id = ?"
WRITES: Final = (_INSERT_INBOUND, _SETTLE, _INSERT_OUTBOX, _DELETE_OUTBOX)
"""The statements ``apply_intake`` runs, in an order they may be batched in (``sqlite_batch``):
a message is journaled before it is settled, a reply put in the outbox before it leaves it."""
_SELECT_UNSETTLED: Final = """SELECT platform, message_id, message FROM inbound_journal
    WHERE settled = 0 AND received_at >= ? ORDER BY received_at, rowid"""
_SELECT_RECENT: Final = """SELECT platform, message_id FROM inbound_journal
    WHERE received_at >= ? ORDER BY received_at"""
_PRUNE: Final = "DELETE FROM inbound_journal WHERE received_at < ?"
_SELECT_OUTBOX: Final = "SELECT delivery_id, message FROM outbox ORDER BY created_at, rowid"
_ABANDON_UNSETTLED: Final = (
    "UPDATE inbound_journal SET settled = 1 WHERE settled = 0 AND received_at < ?"
)


def apply_intake(conn: Executor, write: RecordInbound | Settle | OutboxDone) -> None:
    """Apply one journal or outbox write (inside the caller's transaction)."""
    match write:
        case RecordInbound():
            record_inbound(conn, write)
        case Settle():
            settle(conn, write, datetime.now(UTC))
        case OutboxDone():
            conn.executemany(_DELETE_OUTBOX, ((done,) for done in write.delivery_ids))
        case _:
            assert_never(write)


def record_inbound(conn: Executor, write: RecordInbound) -> None:
    """Journal one inbound message (a message already journaled is left as it is)."""
    payload = None if write.message is None else inbound_to_json(write.message)
    conn.execute(
        _INSERT_INBOUND,
        (
            write.platform.value,
            write.message_id,
            write.session_key.value,
            to_text(write.received_at),
            payload,
            int(payload is None),  # only a message kept whole can be resumed
        ),
    )


def settle(conn: Executor, write: Settle, at: datetime) -> None:
    """Mark ``write``'s inputs settled and put its reply in the outbox."""
    stamp = to_text(at)
    conn.executemany(_SETTLE, ((ref.platform.value, ref.message_id, stamp) for ref in write.inputs))
    if write.reply is not None:
        conn.execute(
            _INSERT_OUTBOX, (write.reply.delivery_id, delivery_to_json(write.reply), stamp)
        )


def unsettled_inbound(conn: sqlite3.Connection, since: datetime) -> tuple[InboundMessage, ...]:
    """Journaled messages received since ``since`` and never settled, oldest first.

    Older ones are given up (marked settled, and logged): after that long an answer would
    surprise more than help. An entry that no longer decodes is skipped, and logged.
    """
    given_up = conn.execute(_ABANDON_UNSETTLED, (to_text(since),)).rowcount
    if given_up:
        logger.warning("%d unanswered message(s) older than %s given up", given_up, since)
    messages = []
    for platform, message_id, payload in conn.execute(_SELECT_UNSETTLED, (to_text(since),)):
        try:
            messages.append(inbound_from_json(payload))
        except (ValueError, KeyError, TypeError):
            logger.exception("journaled message %s/%s is unreadable", platform, message_id)
    return tuple(messages)


def pending_outbox(conn: sqlite3.Connection) -> tuple[DeliverMessage, ...]:
    """Replies committed but never confirmed by their platform, oldest first."""
    entries = []
    for delivery_id, payload in conn.execute(_SELECT_OUTBOX):
        try:
            entries.append(delivery_from_json(delivery_id, payload))
        except (ValueError, KeyError, TypeError):
            logger.exception("outbox entry %s is unreadable", delivery_id)
    return tuple(entries)


def recent_inbound(conn: sqlite3.Connection, since: datetime) -> tuple[tuple[Platform, str], ...]:
    """(platform, message_id) of messages journaled at or after ``since``, in journal order."""
    cursor = conn.execute(_SELECT_RECENT, (to_text(since),))
    return tuple((Platform(platform), str(mid)) for platform, mid in cursor)


def prune_inbound(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete journal entries received before ``before``; return how many."""
    return int(conn.execute(_PRUNE, (to_text(before),)).rowcount)
