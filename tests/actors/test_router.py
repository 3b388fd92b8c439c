"""The real RouterActor; sessions and the Store are recording probes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.router import ExpiryCheck, RouterActor, RouterDeps
from hermes.messages.delivery import ChatSeen, HomesChanged, MirrorDelivery
from hermes.messages.router import (
    AdminResetSession,
    ExpireSessions,
    GetRouterStatus,
    RouteInbound,
    RouterStatus,
    SessionCrashed,
    SessionStopped,
    SessionStopping,
    StopReason,
)
from hermes.messages.scheduler import ArmTimer, TimerFired
from hermes.messages.session import (
    ExpireSession,
    GatewayView,
    HandleUserMessage,
    HandOver,
    MirrorMessage,
    ResetSession,
)
from hermes.messages.store import FindExpiredSessions, RecordInbound
from hermes.messages.values import (
    ChatAddress,
    ChatType,
    Conversation,
    HomeChannel,
    InboundMessage,
    Platform,
    Sender,
    SessionKey,
)
from hermes.policies.authorization import AuthRules, PlatformRules
from hermes.policies.session_keys import SessionRoute
from hermes.policies.sessions import ResetRule, ResetRules
from tests.fakes.recording import FakeClock, RecordingAddress


@dataclass
class FakeHandle:
    address: RecordingAddress
    stopped: list[float] = field(default_factory=list)

    def stop(self, timeout: float) -> None:
        self.stopped.append(timeout)


class FakeSessions:
    """A SessionFactory whose sessions are recording probes."""

    def __init__(self) -> None:
        self.spawned: list[tuple[SessionRoute, int, FakeHandle]] = []

    def spawn(self, route, incarnation, router):
        del router
        handle = FakeHandle(RecordingAddress(f"session {route.key} #{incarnation}"))
        self.spawned.append((route, incarnation, handle))
        return handle

    def handles(self, key: str) -> list[FakeHandle]:
        return [h for route, _, h in self.spawned if route.key.value == key]


def message(text, *, chat_id="c1", user_id="u1", message_id=None, chat_type=ChatType.DM, **extra):
    return InboundMessage(
        message_id=message_id or f"{chat_id}-{text}",
        origin=ChatAddress(platform=Platform.TELEGRAM, chat_id=chat_id, chat_type=chat_type),
        sender=Sender(user_id=user_id),
        text=text,
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
        **extra,
    )


@pytest.fixture
def sessions():
    return FakeSessions()


@pytest.fixture
def store():
    return RecordingAddress("store")


def start_router(sessions, store, **deps):
    return ActorAddress(
        RouterActor.start(
            RouterDeps(
                sessions=sessions,
                store=store,
                group_sessions_per_user=True,
                auth=deps.pop("auth", AuthRules(allow_all=True)),
                **deps,
            )
        )
    )


def status(router) -> RouterStatus:
    return router.ask(GetRouterStatus(), timeout=2.0)


DM_KEY = "agent:main:telegram:dm:c1"


def test_messages_of_one_chat_go_to_one_session_in_order(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    router.tell(RouteInbound(message=message("b")))
    router.tell(RouteInbound(message=message("x", chat_id="c2")))
    assert status(router).live_sessions == 2
    (handle,) = sessions.handles(DM_KEY)
    texts = [m.message.text for m in handle.address.of_type(HandleUserMessage)]
    assert texts == ["a", "b"]
    assert len(sessions.handles("agent:main:telegram:dm:c2")) == 1


def test_group_members_get_sessions_of_their_own(sessions, store):
    router = start_router(sessions, store)
    router.tell(
        RouteInbound(message=message("hi", chat_id="-100", user_id="u1", chat_type=ChatType.GROUP))
    )
    router.tell(
        RouteInbound(message=message("yo", chat_id="-100", user_id="u2", chat_type=ChatType.GROUP))
    )
    status(router)
    keys = sorted(route.key.value for route, _, _ in sessions.spawned)
    assert keys == ["agent:main:telegram:group:-100:u1", "agent:main:telegram:group:-100:u2"]


def test_every_accepted_message_is_journaled(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a", message_id="42")))
    record = store.expect(RecordInbound)
    assert (record.platform, record.message_id, record.session_key.value) == (
        Platform.TELEGRAM,
        "42",
        DM_KEY,
    )


def test_a_redelivered_message_is_dropped(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a", message_id="42")))
    router.tell(RouteInbound(message=message("a", message_id="42")))
    report = status(router)
    assert report.duplicates_dropped == 1
    (handle,) = sessions.handles(DM_KEY)
    assert len(handle.address.of_type(HandleUserMessage)) == 1
    assert len(store.of_type(RecordInbound)) == 1


def test_ids_journaled_before_a_restart_are_dropped_too(sessions, store):
    router = start_router(sessions, store, recent_inbound=((Platform.TELEGRAM, "42"),))
    router.tell(RouteInbound(message=message("a", message_id="42")))
    assert status(router).duplicates_dropped == 1
    assert sessions.spawned == []


def test_requests_awaiting_a_reply_are_neither_deduped_nor_journaled(sessions, store):
    router = start_router(sessions, store)
    request = message(
        "q", message_id="http-1", awaits_reply=True, conversation=Conversation(session_key="k")
    )
    router.tell(RouteInbound(message=request))
    router.tell(RouteInbound(message=request))
    assert status(router).duplicates_dropped == 0
    assert store.messages == []
    (handle,) = sessions.handles("k")
    assert len(handle.address.of_type(HandleUserMessage)) == 2


def test_a_stopping_session_gets_nothing_more_and_its_key_is_replayed_in_order(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    status(router)
    (_, incarnation, first) = sessions.spawned[0]
    key = SessionKey(value=DM_KEY)
    router.tell(SessionStopping(session_key=key, incarnation=incarnation, reason=StopReason.IDLE))
    first.address.expect(HandOver)
    router.tell(RouteInbound(message=message("b")))
    router.tell(RouteInbound(message=message("c")))
    report = status(router)
    assert (report.live_sessions, report.stopping, report.buffered_messages) == (0, 1, 2)
    assert [m.message.text for m in first.address.of_type(HandleUserMessage)] == ["a"]
    late = message("late")
    router.tell(SessionStopped(session_key=key, incarnation=incarnation, handover=(late,)))
    status(router)
    assert len(sessions.spawned) == 2
    second = sessions.spawned[1][2]
    texts = [m.message.text for m in second.address.of_type(HandleUserMessage)]
    assert texts == ["late", "b", "c"]  # what the old one held first, then the buffer
    assert sessions.spawned[1][1] != incarnation


def test_a_stopped_session_with_nothing_to_replay_is_not_reactivated(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    status(router)
    (_, incarnation, _handle) = sessions.spawned[0]
    key = SessionKey(value=DM_KEY)
    router.tell(SessionStopping(session_key=key, incarnation=incarnation, reason=StopReason.ENDED))
    router.tell(SessionStopped(session_key=key, incarnation=incarnation))
    report = status(router)
    assert (report.live_sessions, report.stopping) == (0, 0)
    assert len(sessions.spawned) == 1


def test_stale_stopping_reports_are_ignored(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    status(router)
    key = SessionKey(value=DM_KEY)
    router.tell(SessionStopping(session_key=key, incarnation=999, reason=StopReason.IDLE))
    assert status(router).live_sessions == 1
    assert sessions.spawned[0][2].address.of_type(HandOver) == []


def test_a_crashed_session_is_replaced_on_the_next_message(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    status(router)
    (_, incarnation, _handle) = sessions.spawned[0]
    router.tell(
        SessionCrashed(session_key=SessionKey(value=DM_KEY), incarnation=incarnation, error="boom")
    )
    assert status(router).crashes == 1
    router.tell(RouteInbound(message=message("b")))
    status(router)
    assert len(sessions.spawned) == 2
    assert [m.message.text for m in sessions.spawned[1][2].address.of_type(HandleUserMessage)] == [
        "b"
    ]


def test_a_dead_session_is_reactivated_and_gets_the_message(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    status(router)
    sessions.spawned[0][2].address.closed = True
    router.tell(RouteInbound(message=message("b")))
    status(router)
    assert len(sessions.spawned) == 2
    assert [m.message.text for m in sessions.spawned[1][2].address.of_type(HandleUserMessage)] == [
        "b"
    ]


def test_admin_reset_reaches_the_session(sessions, store):
    router = start_router(sessions, store)
    router.tell(AdminResetSession(session_key=SessionKey(value=DM_KEY)))
    status(router)
    (handle,) = sessions.handles(DM_KEY)
    assert handle.address.expect(ResetSession).reason.value == "admin"


def test_stopping_the_router_stops_every_session(sessions, store):
    router = start_router(sessions, store)
    router.tell(RouteInbound(message=message("a")))
    router.tell(RouteInbound(message=message("x", chat_id="c2")))
    status(router)
    router.stop(timeout=2.0)
    assert all(handle.stopped for _, _, handle in sessions.spawned)


def test_unlisted_users_are_ignored_and_counted(sessions, store):
    rules = AuthRules(
        platforms=(PlatformRules(platform=Platform.TELEGRAM, allowed_users=frozenset({"u1"})),)
    )
    router = start_router(sessions, store, auth=rules)
    router.tell(RouteInbound(message=message("hi", user_id="u1")))
    router.tell(RouteInbound(message=message("hi", chat_id="c2", user_id="intruder")))
    report = status(router)
    assert report.unauthorized_dropped == 1
    assert [route.key.value for route, _, _ in sessions.spawned] == [DM_KEY]
    assert [m.message_id for m in store.of_type(RecordInbound)] == ["c1-hi"]


def test_the_expiry_check_asks_the_store_and_wakes_expired_sessions(sessions, store):
    scheduler = RecordingAddress("scheduler")
    clock = FakeClock()
    expiry = ExpiryCheck(
        rules=ResetRules(default=ResetRule(idle=True, daily=False, at_hour=4, idle_minutes=60)),
        scheduler=scheduler,
        clock=clock,
        local_zone=UTC,
        interval_seconds=30,
        batch=7,
    )
    router = start_router(sessions, store, expiry=expiry)
    arm = scheduler.expect(ArmTimer)
    assert arm.delay_seconds == 30
    router.tell(TimerFired(key=arm.key))
    find = store.expect(FindExpiredSessions)
    assert find.updated_before == clock.now() - timedelta(minutes=60)
    assert find.limit == 7
    scheduler.expect(ArmTimer, count=2)
    router.tell(ExpireSessions(session_keys=(SessionKey(value=DM_KEY),)))
    status(router)
    (handle,) = sessions.handles(DM_KEY)
    handle.address.expect(ExpireSession)


def test_no_expiry_check_without_a_reset_policy(sessions, store):
    scheduler = RecordingAddress("scheduler")
    expiry = ExpiryCheck(rules=ResetRules(), scheduler=scheduler, clock=FakeClock(), local_zone=UTC)
    router = start_router(sessions, store, expiry=expiry)
    status(router)
    assert scheduler.messages == []


def group_message(text, *, user_id="u1", chat_name="Team", thread_id=None, **extra):
    return InboundMessage(
        message_id=f"g-{user_id}-{text}",
        origin=ChatAddress(
            platform=Platform.TELEGRAM,
            chat_id="-10",
            chat_type=ChatType.GROUP,
            chat_name=chat_name,
            thread_id=thread_id,
        ),
        sender=Sender(user_id=user_id),
        text=text,
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
        **extra,
    )


def test_delivery_hears_of_each_new_or_renamed_chat_once(sessions, store):
    delivery = RecordingAddress("delivery")
    router = start_router(sessions, store, delivery=delivery)
    for text in ("a", "b"):
        router.tell(RouteInbound(message=group_message(text)))
    router.tell(RouteInbound(message=group_message("c", chat_name="Team 2")))
    router.tell(RouteInbound(message=message("dm")))
    api = InboundMessage(
        message_id="api-1",
        origin=ChatAddress(platform=Platform.API_SERVER, chat_id="x"),
        sender=Sender(user_id="api"),
        text="hi",
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
        conversation=Conversation(session_key="k1"),
    )
    router.tell(RouteInbound(message=api))
    assert status(router).routed == 5
    seen = delivery.of_type(ChatSeen)
    assert [(s.address.chat_id, s.address.chat_name) for s in seen] == [
        ("-10", "Team"),
        ("-10", "Team 2"),
        ("c1", None),
    ]  # the HTTP API cannot be sent to unasked: not a target


def test_a_mirror_goes_to_the_session_last_active_in_that_chat(sessions, store):
    router = start_router(sessions, store, delivery=RecordingAddress("delivery"))
    router.tell(RouteInbound(message=group_message("a", user_id="u1", thread_id="7")))
    router.tell(RouteInbound(message=group_message("b", user_id="u2")))
    group = ChatAddress(platform=Platform.TELEGRAM, chat_id="-10")
    router.tell(MirrorDelivery(address=group, text="posted", label="telegram"))
    router.tell(MirrorDelivery(address=replace(group, thread_id="7"), text="in 7", label="cron"))
    router.tell(MirrorDelivery(address=replace(group, chat_id="-99"), text="x", label="cron"))

    assert status(router).mirrored == 2
    (u2,) = sessions.handles("agent:main:telegram:group:-10:u2")
    assert u2.address.expect(MirrorMessage) == MirrorMessage(text="posted", label="telegram")
    (u1,) = sessions.handles("agent:main:telegram:group:-10:7:u1")
    assert u1.address.expect(MirrorMessage) == MirrorMessage(text="in 7", label="cron")


def test_a_mirror_reaches_a_session_known_only_from_the_store(sessions, store):
    chat = ChatAddress(platform=Platform.DISCORD, chat_id="55")
    key = SessionKey(value="agent:main:discord:dm:55")
    router = start_router(sessions, store, known_chats=((chat, key),))
    router.tell(MirrorDelivery(address=chat, text="hello", label="operator"))
    assert status(router).mirrored == 1
    (handle,) = sessions.handles(key.value)
    assert handle.address.expect(MirrorMessage).label == "operator"


def test_sessions_get_the_gateway_view_with_the_latest_home_channels(sessions, store):
    router = start_router(sessions, store, connected=(Platform.TELEGRAM, Platform.DISCORD))
    router.tell(RouteInbound(message=message("a")))
    home = HomeChannel(
        platform=Platform.TELEGRAM,
        address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-10"),
        name="Team",
    )
    router.tell(HomesChanged(homes=(home,)))
    router.tell(RouteInbound(message=message("b")))
    assert status(router).routed == 2
    (handle,) = sessions.handles(DM_KEY)
    handle.address.expect(HandleUserMessage, count=2)
    first, second = (m.gateway for m in handle.address.of_type(HandleUserMessage))
    assert first == GatewayView(connected=(Platform.TELEGRAM, Platform.DISCORD))
    assert second.homes == (home,)
    assert second.connected == first.connected
