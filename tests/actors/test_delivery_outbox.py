"""The real DeliveryActor and the Store's outbox: a durable reply is reported done exactly when
Delivery is finished with it, and what the last run left unconfirmed is sent again, logged."""

from __future__ import annotations

import logging

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.delivery import DeliveryActor, DeliveryDeps, PlatformLink
from hermes.messages.delivery import (
    DeliverMessage,
    DeliveryCommand,
    DeliveryFailed,
    GetDeliveryStatus,
    OutboundFailed,
    OutboundKind,
    OutboundMessage,
    OutboundSent,
    ResendOutbox,
    SendOutbound,
)
from hermes.messages.scheduler import ArmTimer, TimerFired
from hermes.messages.store import OutboxDone
from hermes.messages.values import ChatAddress, Platform
from tests.fakes.recording import FakeClock, RecordingAddress
from tests.fakes.waiting import wait_until

CHAT = ChatAddress(platform=Platform.TELEGRAM, chat_id="77")


def deliver(delivery_id: str, *, durable: bool, text: str = "answer") -> DeliverMessage:
    return DeliverMessage(
        delivery_id=delivery_id,
        message=OutboundMessage(target=CHAT, text=text, kind=OutboundKind.REPLY, in_reply_to="9"),
        durable=durable,
    )


def confirm_in_turn(platform: RecordingAddress, count: int) -> list[SendOutbound]:
    """Confirm ``count`` sends one by one, each once it arrived (a chat's lane sends the next
    only when the one before it is confirmed)."""
    for number in range(1, count + 1):
        send = platform.expect(SendOutbound, count=number)
        send.reply_to.tell(OutboundSent(delivery_id=send.delivery_id))
    return platform.of_type(SendOutbound)


def done(store: RecordingAddress) -> list[str]:
    """Every outbox entry Delivery reported done, in order."""
    return [i for write in store.of_type(OutboxDone) for i in write.delivery_ids]


@pytest.fixture
def probes():
    return RecordingAddress("platform"), RecordingAddress("store")


def start(probes, tmp_path, resend=(), scheduler=None) -> ActorAddress[DeliveryCommand]:
    platform, store = probes
    deps = DeliveryDeps(
        links=(PlatformLink(platform=Platform.TELEGRAM, address=platform, max_message_length=100),),
        homes=(),
        store=store,
        scheduler=scheduler or RecordingAddress("scheduler"),
        clock=FakeClock(),
        local_dir=tmp_path / "deliveries",
        resend=resend,
    )
    return ActorAddress(DeliveryActor.start(deps))


def test_a_durable_reply_is_done_once_confirmed_and_a_notice_never_is(probes, tmp_path):
    platform, store = probes
    delivery = start(probes, tmp_path)
    delivery.tell(deliver("d1", durable=True))
    delivery.tell(deliver("n1", durable=False))
    confirm_in_turn(platform, 2)

    store.expect(OutboxDone)
    delivery.ask(GetDeliveryStatus(), timeout=2.0)
    assert done(store) == ["d1"]
    delivery.stop(2.0)


def test_a_durable_reply_given_up_leaves_the_outbox_too(probes, tmp_path):
    platform, store = probes
    delivery = start(probes, tmp_path)
    delivery.tell(deliver("d1", durable=True))
    send = platform.expect(SendOutbound)
    send.reply_to.tell(OutboundFailed(delivery_id="d1", reason="chat not found"))

    assert store.expect(OutboxDone) == OutboxDone(delivery_ids=("d1",))
    delivery.stop(2.0)


def test_what_the_last_run_left_unconfirmed_is_sent_again_and_logged(probes, tmp_path, caplog):
    platform, store = probes
    left = (deliver("d1", durable=True, text="first"), deliver("d2", durable=True, text="second"))
    delivery = start(probes, tmp_path, resend=left)
    with caplog.at_level(logging.WARNING, logger="hermes.actors.delivery"):
        delivery.tell(ResendOutbox())
        sends = confirm_in_turn(platform, 2)
    assert [(s.delivery_id, s.chunks) for s in sends] == [("d1", ("first",)), ("d2", ("second",))]
    lines = [r.getMessage() for r in caplog.records if "delivery resend:" in r.getMessage()]
    assert [line.split()[2] for line in lines] == ["id=d1", "id=d2"]
    assert all("chat=77 in_reply_to=9" in line for line in lines)
    wait_until(lambda: sorted(done(store)) == ["d1", "d2"], 2.0, "both done")  # 1 write or 2
    assert delivery.ask(GetDeliveryStatus(), timeout=2.0).resent == 2
    delivery.stop(2.0)


def test_a_reply_for_a_platform_that_is_gone_is_reported(probes, tmp_path):
    _, store = probes
    delivery = start(probes, tmp_path)
    asker = RecordingAddress("session")
    lost = DeliverMessage(
        delivery_id="d9",
        message=OutboundMessage(
            target=ChatAddress(platform=Platform.DISCORD, chat_id="1"), text="x"
        ),
        reply_to=asker,
        durable=True,
    )
    delivery.tell(lost)
    assert "discord is not connected" in asker.expect(DeliveryFailed).reason
    assert store.expect(OutboxDone) == OutboxDone(delivery_ids=("d9",))
    delivery.stop(2.0)


def test_a_later_reply_waits_until_the_earlier_one_to_its_chat_is_confirmed(probes, tmp_path):
    platform, _ = probes
    scheduler = RecordingAddress("scheduler")
    delivery = start(probes, tmp_path, scheduler=scheduler)
    other = ChatAddress(platform=Platform.TELEGRAM, chat_id="78")
    delivery.tell(deliver("d1", durable=False, text="first"))
    delivery.tell(deliver("d2", durable=False, text="second"))
    elsewhere = OutboundMessage(target=other, text="other chat", kind=OutboundKind.REPLY)
    delivery.tell(DeliverMessage(delivery_id="o1", message=elsewhere))

    platform.expect(SendOutbound, count=2)  # d1, and the other chat's o1: not d2
    delivery.ask(GetDeliveryStatus(), timeout=2.0)  # everything told so far is handled
    assert [s.delivery_id for s in platform.of_type(SendOutbound)] == ["d1", "o1"]

    first = platform.of_type(SendOutbound)[0]
    first.reply_to.tell(OutboundFailed(delivery_id="d1", reason="429", retryable=True))
    timer = scheduler.expect(ArmTimer)
    delivery.ask(GetDeliveryStatus(), timeout=2.0)
    assert [s.delivery_id for s in platform.of_type(SendOutbound)] == ["d1", "o1"]  # d2 waits

    delivery.tell(TimerFired(key=timer.key))
    retry = platform.expect(SendOutbound, count=3)
    assert retry.delivery_id == "d1"
    retry.reply_to.tell(OutboundSent(delivery_id="d1"))
    assert platform.expect(SendOutbound, count=4).chunks == ("second",)
    delivery.stop(2.0)


def test_a_reply_given_up_lets_the_next_one_to_its_chat_go(probes, tmp_path):
    platform, _ = probes
    delivery = start(probes, tmp_path)
    delivery.tell(deliver("d1", durable=False, text="first"))
    delivery.tell(deliver("d2", durable=False, text="second"))
    first = platform.expect(SendOutbound)
    first.reply_to.tell(OutboundFailed(delivery_id="d1", reason="chat not found"))

    assert platform.expect(SendOutbound, count=2).delivery_id == "d2"
    delivery.stop(2.0)
