"""The Scheduler, Delivery and Store actors, each real, with recording collaborators."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.delivery import DeliveryActor, DeliveryDeps, PlatformLink
from hermes.actors.delivery_outbox import RETRY_BACKOFF
from hermes.actors.scheduler import SchedulerActor
from hermes.actors.store import StoreActor
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.delivery import (
    ChatSeen,
    ConnectRouter,
    DeliverDelta,
    DeliverMessage,
    DeliverToTarget,
    DeliveryFailed,
    DeliveryStatus,
    Directory,
    GetDeliveryStatus,
    GetDirectory,
    GetHomeChannels,
    HomesChanged,
    MessageDelivered,
    MirrorDelivery,
    OutboundFailed,
    OutboundMessage,
    OutboundSent,
    SendDelta,
    SendOutbound,
    SetHomeChannel,
    SetTyping,
)
from hermes.messages.scheduler import ArmTimer, CancelTimer, TimerFired
from hermes.messages.store import (
    GetStoreStatus,
    ListSessions,
    LoadSession,
    RecordInbound,
    RecordTurn,
    SaveHomeChannel,
    SaveSession,
    SessionLoaded,
    SessionRecord,
    StoreCommand,
)
from hermes.messages.values import ChatAddress, ChatMessage, HomeChannel, Platform, Role, SessionKey
from tests.fakes.recording import FakeClock, RecordingAddress

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


# -- Scheduler ---------------------------------------------------------------------------------


@pytest.fixture
def scheduler():
    actor = SchedulerActor()
    actor.start()
    yield actor
    actor.stop(2.0)


def test_a_timer_fires_once(scheduler):
    probe = RecordingAddress()
    scheduler.address.tell(ArmTimer(key="k", delay_seconds=0.01, reply_to=probe))
    assert probe.expect(TimerFired).key == "k"
    assert scheduler.status(2.0).timers == 0


def test_rearming_replaces_and_cancelling_forgets(scheduler):
    probe = RecordingAddress()
    scheduler.address.tell(ArmTimer(key="replaced", delay_seconds=0.01, reply_to=probe))
    scheduler.address.tell(ArmTimer(key="replaced", delay_seconds=0.2, reply_to=probe))
    scheduler.address.tell(ArmTimer(key="cancelled", delay_seconds=0.05, reply_to=probe))
    scheduler.address.tell(CancelTimer(key="cancelled"))
    scheduler.address.tell(ArmTimer(key="last", delay_seconds=0.3, reply_to=probe))
    probe.expect(TimerFired, count=2)
    assert [m.key for m in probe.messages] == ["replaced", "last"]


def test_a_timer_for_a_stopped_actor_is_dropped(scheduler):
    gone, witness = RecordingAddress("gone"), RecordingAddress("witness")
    gone.closed = True
    scheduler.address.tell(ArmTimer(key="a", delay_seconds=0.0, reply_to=gone))
    scheduler.address.tell(ArmTimer(key="b", delay_seconds=0.01, reply_to=witness))
    witness.expect(TimerFired)


# -- Delivery ----------------------------------------------------------------------------------


def outbound(platform: Platform, text: str) -> OutboundMessage:
    return OutboundMessage(target=ChatAddress(platform=platform, chat_id="c"), text=text)


@pytest.fixture
def platform_probe():
    return RecordingAddress("platform")


HOME = HomeChannel(
    platform=Platform.TELEGRAM,
    address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-100home"),
    name="Home",
)


@pytest.fixture
def delivery_store():
    return RecordingAddress("store")


@pytest.fixture
def delivery_scheduler():
    return RecordingAddress("scheduler")


@pytest.fixture
def delivery(platform_probe, delivery_store, delivery_scheduler, tmp_path):
    links = (
        PlatformLink(platform=Platform.TELEGRAM, address=platform_probe, max_message_length=100),
        PlatformLink(
            platform=Platform.API_SERVER,
            address=platform_probe,
            max_message_length=None,
            streams=True,
        ),
    )
    deps = DeliveryDeps(
        links=links,
        homes=(HOME,),
        store=delivery_store,
        scheduler=delivery_scheduler,
        clock=FakeClock(),
        local_dir=tmp_path / "deliveries",
    )
    return ActorAddress(DeliveryActor.start(deps))


def test_long_text_is_split_at_the_platform_limit_in_order(delivery, platform_probe):
    text = " ".join(f"word{i}" for i in range(100))
    delivery.tell(DeliverMessage(delivery_id="d1", message=outbound(Platform.TELEGRAM, text)))
    send = platform_probe.expect(SendOutbound)
    assert len(send.chunks) > 1
    assert all(len(chunk) <= 100 for chunk in send.chunks)
    assert " ".join(send.chunks).split() == text.split()


def test_unknown_platform_is_reported_to_the_requester(delivery):
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverMessage(
            delivery_id="d1", message=outbound(Platform.DISCORD, "hi"), reply_to=requester
        )
    )
    failed = requester.expect(DeliveryFailed)
    assert "discord" in failed.reason


def test_a_platform_failure_is_reported_to_the_requester(delivery, platform_probe):
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverMessage(
            delivery_id="d1", message=outbound(Platform.TELEGRAM, "hi"), reply_to=requester
        )
    )
    send = platform_probe.expect(SendOutbound)
    send.reply_to.tell(OutboundFailed(delivery_id="d1", reason="chat not found"))
    assert requester.expect(DeliveryFailed).reason == "chat not found"
    status = delivery.ask(GetDeliveryStatus(), timeout=2.0)
    assert status == DeliveryStatus(in_flight=0, sent=0, failed=1)


def test_deltas_go_only_to_platforms_that_stream(delivery, platform_probe):
    for platform in (Platform.TELEGRAM, Platform.API_SERVER):
        delivery.tell(
            DeliverDelta(
                target=ChatAddress(platform=platform, chat_id="c"),
                in_reply_to=None,
                session_id="s",
                text=platform.value,
            )
        )
    delivery.ask(GetDeliveryStatus(), timeout=2.0)
    assert [d.text for d in platform_probe.of_type(SendDelta)] == ["api_server"]


def test_a_target_resolves_to_the_home_channel_or_an_explicit_chat(delivery, platform_probe):
    delivery.tell(DeliverToTarget(delivery_id="d1", target="telegram", text="to home"))
    delivery.tell(
        DeliverToTarget(delivery_id="d2", target="Telegram:@AbChannel:7", text="to topic")
    )
    delivery.ask(GetDeliveryStatus(), timeout=2.0)
    sends = platform_probe.of_type(SendOutbound)
    assert [(s.message.target.chat_id, s.message.target.thread_id) for s in sends] == [
        ("-100home", None),
        ("@AbChannel", "7"),
    ]


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("discord", "no home channel"), ("slack:1", "unknown platform"), ("telegram:", "malformed")],
)
def test_an_unresolvable_target_is_reported(delivery, target, fragment):
    requester = RecordingAddress("requester")
    delivery.tell(DeliverToTarget(delivery_id="d1", target=target, text="x", reply_to=requester))
    assert fragment in requester.expect(DeliveryFailed).reason


def test_sethome_takes_effect_at_once_and_is_persisted(delivery, platform_probe, delivery_store):
    new_home = HomeChannel(
        platform=Platform.TELEGRAM,
        address=ChatAddress(platform=Platform.TELEGRAM, chat_id="42", thread_id="3"),
        name="Ops",
    )
    delivery.tell(SetHomeChannel(home=new_home))
    delivery.tell(DeliverToTarget(delivery_id="d1", target="telegram", text="hi"))
    assert platform_probe.expect(SendOutbound).message.target == new_home.address
    assert delivery_store.expect(SaveHomeChannel).home == new_home
    assert delivery.ask(GetHomeChannels(), timeout=2.0) == (new_home,)


def test_typing_goes_to_the_platform(delivery, platform_probe):
    typing = SetTyping(target=ChatAddress(platform=Platform.TELEGRAM, chat_id="c"), active=True)
    delivery.tell(typing)
    assert platform_probe.expect(SetTyping) == typing


# -- Store -------------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path):
    return SqliteStorage.open(tmp_path / "state.db")


def record(session_id: str = "s1") -> SessionRecord:
    return SessionRecord(
        session_key=SessionKey(value="k"), session_id=session_id, created_at=NOW, updated_at=NOW
    )


class GatedStorage:
    """Real storage whose first commit waits for the test, so later writes pile up."""

    def __init__(self, inner: SqliteStorage) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def apply(self, writes):
        self.entered.set()
        assert self.gate.wait(5.0)
        self.inner.apply(writes)


def test_writes_that_arrive_together_commit_together(storage):
    gated = GatedStorage(storage)
    store: ActorAddress[StoreCommand] = ActorAddress(StoreActor.start(gated))
    store.tell(SaveSession(record=record()))
    assert gated.entered.wait(2.0)  # the Store is inside its first commit
    for index in range(20):
        store.tell(
            RecordInbound(
                platform=Platform.TELEGRAM,
                message_id=str(index),
                session_key=SessionKey(value="k"),
                received_at=NOW,
            )
        )
    gated.gate.set()
    store.ask(GetStoreStatus(), timeout=2.0)
    status = store.ask(GetStoreStatus(), timeout=2.0)
    assert (status.writes, status.commits, status.pending_writes) == (21, 2, 0)
    store.stop(2.0)


def test_a_load_sees_every_write_sent_before_it(storage):
    store: ActorAddress[StoreCommand] = ActorAddress(StoreActor.start(storage))
    reader = RecordingAddress("session")
    turn = (ChatMessage(role=Role.USER, content="q"), ChatMessage(role=Role.ASSISTANT, content="a"))
    store.tell(RecordTurn(record=record(), messages=turn))
    store.tell(
        LoadSession(
            session_key=SessionKey(value="k"), session_id=None, history_limit=10, reply_to=reader
        )
    )
    loaded = reader.expect(SessionLoaded)
    assert loaded.snapshot.record is not None
    assert loaded.snapshot.history == turn
    assert [r.session_id for r in store.ask(ListSessions(), timeout=2.0)] == ["s1"]
    store.stop(2.0)


def test_stopping_commits_what_is_pending(tmp_path):
    store: ActorAddress[StoreCommand] = ActorAddress(
        StoreActor.start(SqliteStorage.open(tmp_path / "state.db"))
    )
    store.tell(SaveSession(record=record("kept")))
    store.stop(2.0)
    reopened = SqliteStorage.open(tmp_path / "state.db")
    try:
        assert [r.session_id for r in reopened.list_sessions(None)] == ["kept"]
    finally:
        reopened.close()


def test_a_delivery_to_a_target_reports_its_success(delivery, platform_probe):
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverToTarget(delivery_id="d9", target="telegram", text="hi", reply_to=requester)
    )
    send = platform_probe.expect(SendOutbound)
    send.reply_to.tell(OutboundSent(delivery_id="d9"))
    assert requester.expect(MessageDelivered).delivery_id == "d9"


def fail(send, *, sent=0, retryable=True, retry_after=None, reason="flood"):
    send.reply_to.tell(
        OutboundFailed(
            delivery_id=send.delivery_id,
            reason=reason,
            retryable=retryable,
            chunks_sent=sent,
            retry_after=retry_after,
        )
    )


def test_a_retryable_failure_is_retried_without_resending_confirmed_chunks(
    delivery, platform_probe, delivery_scheduler
):
    requester = RecordingAddress("requester")
    text = " ".join(f"word{i}" for i in range(60))
    delivery.tell(
        DeliverToTarget(delivery_id="d1", target="telegram", text=text, reply_to=requester)
    )
    first = platform_probe.expect(SendOutbound)
    assert len(first.chunks) >= 3
    fail(first, sent=1, retry_after=3.0)
    arm = delivery_scheduler.expect(ArmTimer)
    assert arm.delay_seconds == 3.0  # the platform asked for longer than the first backoff
    delivery.tell(TimerFired(key=arm.key))
    second = platform_probe.expect(SendOutbound, count=2)
    assert second.chunks == first.chunks[1:]
    fail(second, sent=1)
    delivery.tell(TimerFired(key=delivery_scheduler.expect(ArmTimer, count=2).key))
    third = platform_probe.expect(SendOutbound, count=3)
    assert third.chunks == first.chunks[2:]
    third.reply_to.tell(OutboundSent(delivery_id="d1"))
    assert requester.expect(MessageDelivered).delivery_id == "d1"
    assert requester.of_type(DeliveryFailed) == []


def test_a_final_failure_is_reported_once(delivery, platform_probe, delivery_scheduler):
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverToTarget(delivery_id="d1", target="telegram", text="x", reply_to=requester)
    )
    attempts = len(RETRY_BACKOFF) + 1
    for attempt in range(1, attempts + 1):
        send = platform_probe.expect(SendOutbound, count=attempt)
        fail(send)
        if attempt < attempts:
            delivery.tell(TimerFired(key=delivery_scheduler.expect(ArmTimer, count=attempt).key))
    assert requester.expect(DeliveryFailed).reason == "flood"
    assert attempts == 10
    delays = [arm.delay_seconds for arm in delivery_scheduler.of_type(ArmTimer)]
    assert delays == list(RETRY_BACKOFF)
    assert delivery.ask(GetDeliveryStatus(), timeout=2.0).in_flight == 0


def test_a_non_retryable_failure_is_final_at_once(delivery, platform_probe, delivery_scheduler):
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverToTarget(delivery_id="d1", target="telegram", text="x", reply_to=requester)
    )
    fail(platform_probe.expect(SendOutbound), retryable=False, reason="chat not found")
    assert requester.expect(DeliveryFailed).reason == "chat not found"
    assert delivery_scheduler.of_type(ArmTimer) == []


def test_origin_local_and_names(delivery, platform_probe, tmp_path):
    origin = ChatAddress(platform=Platform.TELEGRAM, chat_id="777", thread_id="5")
    delivery.tell(
        DeliverToTarget(delivery_id="o1", target="origin", text="to origin", origin=origin)
    )
    assert platform_probe.expect(SendOutbound).message.target == origin
    requester = RecordingAddress("requester")
    delivery.tell(
        DeliverToTarget(delivery_id="l1", target="local", text="to a file", reply_to=requester)
    )
    requester.expect(MessageDelivered)
    (written,) = (tmp_path / "deliveries").iterdir()
    assert written.read_text() == "to a file\n"
    delivery.tell(
        ChatSeen(
            address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-55", chat_name="Ops Room")
        )
    )
    delivery.tell(DeliverToTarget(delivery_id="n1", target="telegram:ops room", text="by name"))
    assert platform_probe.expect(SendOutbound, count=2).message.target.chat_id == "-55"
    asker = RecordingAddress("asker")
    delivery.tell(GetDirectory(reply_to=asker))
    directory = asker.expect(Directory)
    assert [a.chat_id for a in directory.chats] == ["-55"]
    assert [h.platform for h in directory.homes] == [Platform.TELEGRAM]


def test_a_delivered_text_is_mirrored_through_the_router(delivery, platform_probe):
    router = RecordingAddress("router")
    delivery.tell(ConnectRouter(router=router))
    delivery.tell(
        DeliverToTarget(
            delivery_id="m1", target="telegram:42", text="digest", mirror_label="cron job daily"
        )
    )
    platform_probe.expect(SendOutbound).reply_to.tell(OutboundSent(delivery_id="m1"))
    mirror = router.expect(MirrorDelivery)
    assert (mirror.address.chat_id, mirror.text, mirror.label) == ("42", "digest", "cron job daily")
    assert [h.platform for h in router.expect(HomesChanged).homes] == [Platform.TELEGRAM]


def test_sethome_is_told_to_the_router(delivery):
    router = RecordingAddress("router")
    delivery.tell(ConnectRouter(router=router))
    home = HomeChannel(
        platform=Platform.DISCORD,
        address=ChatAddress(platform=Platform.DISCORD, chat_id="9"),
        name="bots",
    )
    delivery.tell(SetHomeChannel(home=home))
    changes = router.expect(HomesChanged, count=2)
    assert home in changes.homes
