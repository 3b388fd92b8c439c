"""The real StoreActor on a real SQLite file: what it tells once a batch is durable.

A receipt is answered only after the journal entry is committed (so a platform confirms nothing
the disk does not hold); a settled reply goes to Delivery only after the settle is committed,
and still goes (not as an outbox entry) when the disk refuses the batch for good.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.store import COMMIT_ATTEMPTS, StoreActor
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.delivery import DeliverMessage, OutboundKind, OutboundMessage
from hermes.messages.intake import InboundJournaled, InboundReceipt, InboundRef
from hermes.messages.ports import StorageError
from hermes.messages.store import GetStoreStatus, RecordInbound, Settle, StoreCommand
from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender, SessionKey
from tests.fakes.recording import RecordingAddress

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CHAT = ChatAddress(platform=Platform.TELEGRAM, chat_id="7")


def inbound(message_id: str) -> InboundMessage:
    return InboundMessage(
        message_id=message_id, origin=CHAT, sender=Sender(user_id="7"), text="hi", received_at=NOW
    )


def journal(message_id: str, platform: RecordingAddress) -> RecordInbound:
    return RecordInbound(
        platform=Platform.TELEGRAM,
        message_id=message_id,
        session_key=SessionKey(value="k"),
        received_at=NOW,
        message=inbound(message_id),
        receipt=InboundReceipt(token=f"t-{message_id}", reply_to=platform),
    )


def reply(delivery_id: str) -> DeliverMessage:
    return DeliverMessage(
        delivery_id=delivery_id,
        message=OutboundMessage(target=CHAT, text="answer", kind=OutboundKind.REPLY),
        durable=True,
    )


class WatchedStorage:
    """Real storage that can hold a commit, or refuse the next ``failures`` of them."""

    def __init__(self, inner: SqliteStorage, failures: int = 0) -> None:
        self.inner = inner
        self.failures = failures
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def apply(self, writes):
        self.entered.set()
        assert self.gate.wait(5.0)
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("disk I/O error (injected)")
        self.inner.apply(writes)


@pytest.fixture
def storage(tmp_path):
    return SqliteStorage.open(tmp_path / "state.db")


def start(storage) -> ActorAddress[StoreCommand]:
    return ActorAddress(StoreActor.start(storage))


def test_a_receipt_is_answered_only_once_the_journal_is_committed(storage):
    watched = WatchedStorage(storage)
    watched.gate.clear()
    store = start(watched)
    platform = RecordingAddress("platform")
    store.tell(journal("m1", platform))
    assert watched.entered.wait(2.0)  # inside the commit, not yet done
    assert platform.messages == []

    watched.gate.set()
    assert platform.expect(InboundJournaled).token == "t-m1"  # noqa: S105  (a receipt id)
    assert [m.message_id for m in storage.unsettled_inbound(NOW)] == ["m1"]
    store.stop(2.0)


def test_a_settled_reply_is_sent_after_its_commit(storage):
    store = start(storage)
    delivery = RecordingAddress("delivery")
    store.tell(
        Settle(
            inputs=(InboundRef(platform=Platform.TELEGRAM, message_id="m1"),),
            reply=reply("d1"),
            delivery=delivery,
        )
    )
    sent = delivery.expect(DeliverMessage)
    assert (sent.delivery_id, sent.durable) == ("d1", True)
    assert [e.delivery_id for e in storage.pending_outbox()] == ["d1"]
    store.stop(2.0)


def test_a_commit_that_fails_once_is_retried_and_nothing_is_lost(storage):
    store = start(WatchedStorage(storage, failures=1))
    platform, delivery = RecordingAddress("platform"), RecordingAddress("delivery")
    store.tell(journal("m1", platform))
    store.tell(Settle(inputs=(), reply=reply("d1"), delivery=delivery))

    platform.expect(InboundJournaled)
    assert delivery.expect(DeliverMessage).durable
    assert [m.message_id for m in storage.unsettled_inbound(NOW)] == ["m1"]
    assert store.ask(GetStoreStatus(), timeout=2.0).writes == 2
    store.stop(2.0)


def test_a_batch_the_disk_refuses_for_good_still_answers_but_confirms_nothing(storage):
    store = start(WatchedStorage(storage, failures=COMMIT_ATTEMPTS))
    platform, delivery = RecordingAddress("platform"), RecordingAddress("delivery")
    store.tell(journal("m1", platform))
    store.tell(Settle(inputs=(), reply=reply("d1"), delivery=delivery))

    sent = delivery.expect(DeliverMessage)
    assert not sent.durable  # not in the outbox: Delivery must not report it done there
    store.ask(GetStoreStatus(), timeout=2.0)
    assert platform.messages == []  # the platform keeps it unconfirmed and sends it again
    assert storage.pending_outbox() == ()
    store.stop(2.0)


def test_the_answered_mark_of_a_lost_batch_is_written_with_the_next_one(storage):
    store = start(WatchedStorage(storage, failures=COMMIT_ATTEMPTS))
    platform, delivery = RecordingAddress("platform"), RecordingAddress("delivery")
    storage.apply([journal("m1", platform)])  # journaled by an earlier, healthy commit
    answered = (InboundRef(platform=Platform.TELEGRAM, message_id="m1"),)
    store.tell(Settle(inputs=answered, reply=reply("d1"), delivery=delivery))
    delivery.expect(DeliverMessage)  # the lost batch: answered anyway, not in the outbox
    assert [m.message_id for m in storage.unsettled_inbound(NOW)] == ["m1"]

    store.tell(journal("m2", platform))  # the disk is back: the next batch
    platform.expect(InboundJournaled)

    assert [m.message_id for m in storage.unsettled_inbound(NOW)] == ["m2"]  # m1 not resumed
    assert storage.pending_outbox() == ()
    store.stop(2.0)


def test_a_journal_write_of_a_lost_batch_is_written_and_confirmed_with_the_next_one(storage):
    store = start(WatchedStorage(storage, failures=COMMIT_ATTEMPTS))
    platform = RecordingAddress("platform")
    store.tell(journal("m1", platform))
    store.ask(GetStoreStatus(), timeout=2.0)  # the batch was tried and lost
    assert platform.messages == []

    store.tell(journal("m2", platform))

    platform.expect(InboundJournaled, count=2)
    assert {m.token for m in platform.messages} == {"t-m1", "t-m2"}
    assert [m.message_id for m in storage.unsettled_inbound(NOW)] == ["m1", "m2"]
    store.stop(2.0)
