"""The inbound journal and the outbox in the real SQLite file: what a restart finds unfinished."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hermes.adapters.storage import sqlite_schema
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.delivery import DeliverMessage, OutboundKind, OutboundMessage
from hermes.messages.intake import InboundRef
from hermes.messages.store import OutboxDone, RecordInbound, RecordTurn, SessionRecord, Settle
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    ChatType,
    Conversation,
    InboundMessage,
    Platform,
    Role,
    Sender,
    SessionKey,
    TokenUsage,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
KEY = SessionKey(value="agent:main:telegram:group:-100:7")
CHAT = ChatAddress(
    platform=Platform.TELEGRAM,
    chat_id="-100",
    chat_type=ChatType.GROUP,
    thread_id="7",
    chat_name="Team ✓",
)


def message(message_id: str, at: datetime = T0, text: str = "hello") -> InboundMessage:
    return InboundMessage(
        message_id=message_id,
        origin=CHAT,
        sender=Sender(user_id="42", user_name="Ana"),
        text=text,
        received_at=at,
        reply_to_message_id="3",
        conversation=Conversation(session_key="k"),
    )


def journal(inbound: InboundMessage, *, keep: bool = True) -> RecordInbound:
    return RecordInbound(
        platform=inbound.origin.platform,
        message_id=inbound.message_id,
        session_key=KEY,
        received_at=inbound.received_at,
        message=inbound if keep else None,
    )


def reply(delivery_id: str, text: str = "answer") -> DeliverMessage:
    return DeliverMessage(
        delivery_id=delivery_id,
        message=OutboundMessage(
            target=CHAT,
            text=text,
            kind=OutboundKind.REPLY,
            in_reply_to="m1",
            session_id="s1",
            usage=TokenUsage(input_tokens=3, output_tokens=4),
        ),
        durable=True,
    )


def ref(message_id: str) -> InboundRef:
    return InboundRef(platform=Platform.TELEGRAM, message_id=message_id)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    opened = SqliteStorage.open(tmp_path / "state.db")
    yield opened
    opened.close()


def test_a_journaled_message_comes_back_whole_until_settled(storage):
    first, second = message("m1"), message("m2", T0 + timedelta(seconds=1), text="two ✓")
    storage.apply([journal(first), journal(second), journal(first)])  # a repeat changes nothing

    assert storage.unsettled_inbound(T0 - timedelta(hours=1)) == (first, second)

    storage.apply([Settle(inputs=(ref("m1"),))])
    assert storage.unsettled_inbound(T0 - timedelta(hours=1)) == (second,)


def test_a_settle_before_its_journal_write_leaves_the_message_settled(storage):
    storage.apply([Settle(inputs=(ref("m1"),))])  # its journal write was lost, or comes later
    storage.apply([journal(message("m1"))])

    assert storage.unsettled_inbound(T0 - timedelta(days=1)) == ()  # never answered again
    assert (Platform.TELEGRAM, "m1") in storage.recent_inbound(T0 - timedelta(days=1))


def test_an_answer_settles_and_queues_its_reply_in_the_same_write(storage):
    storage.apply([journal(message("m1"))])
    session = SessionRecord(session_key=KEY, session_id="s1", created_at=T0, updated_at=T0)
    turn = RecordTurn(
        record=session,
        messages=(ChatMessage(role=Role.USER, content="hello"),),
        settle=Settle(inputs=(ref("m1"),), reply=reply("d1")),
    )
    storage.apply([turn])

    assert storage.unsettled_inbound(T0 - timedelta(hours=1)) == ()
    assert storage.pending_outbox() == (reply("d1"),)
    storage.apply([OutboxDone(delivery_ids=("d1",))])
    assert storage.pending_outbox() == ()


def test_a_failed_batch_keeps_neither_the_settle_nor_the_reply(storage):
    storage.apply([journal(message("m1"))])
    broken = RecordInbound(
        platform=Platform.TELEGRAM,
        message_id="bad",
        session_key=KEY,
        received_at=datetime(2026, 1, 1),  # naive: refused, and the whole batch with it  # noqa: DTZ001
    )
    with pytest.raises(ValueError, match="naive"):
        storage.apply([Settle(inputs=(ref("m1"),), reply=reply("d1")), broken])

    assert [m.message_id for m in storage.unsettled_inbound(T0 - timedelta(hours=1))] == ["m1"]
    assert storage.pending_outbox() == ()


def test_old_unanswered_messages_are_given_up_and_ids_only_entries_never_resume(storage):
    storage.apply([journal(message("old", T0 - timedelta(days=3))), journal(message("new"))])
    storage.apply([journal(message("ids-only"), keep=False)])

    assert [m.message_id for m in storage.unsettled_inbound(T0 - timedelta(days=2))] == ["new"]
    assert storage.unsettled_inbound(T0 - timedelta(days=5)) == (message("new"),)  # given up


def test_outbox_entries_come_back_oldest_first(storage):
    storage.apply([Settle(inputs=(), reply=reply("d2", "second"))])
    storage.apply([Settle(inputs=(), reply=reply("d1", "first"))])
    assert [e.delivery_id for e in storage.pending_outbox()] == ["d2", "d1"]


def test_a_version_5_database_gains_the_journal_columns_and_the_outbox(tmp_path):
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as conn:
        for statements in sqlite_schema.MIGRATIONS[:5]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO inbound_journal VALUES ('telegram', 'm0', 'k', ?)",
            (T0.isoformat(timespec="microseconds"),),
        )
        conn.execute(f"PRAGMA application_id = {sqlite_schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 5")
        conn.commit()

    storage = SqliteStorage.open(path)
    try:
        assert storage.recent_inbound(T0 - timedelta(hours=1)) == ((Platform.TELEGRAM, "m0"),)
        assert storage.unsettled_inbound(T0 - timedelta(hours=1)) == ()  # old entries: settled
        storage.apply([journal(message("m1"))])
        assert [m.message_id for m in storage.unsettled_inbound(T0 - timedelta(hours=1))] == ["m1"]
        assert storage.pending_outbox() == ()
    finally:
        storage.close()
