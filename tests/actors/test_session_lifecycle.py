"""A real SessionActor stopping: passivation, the ending protocol with its memory flush, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hermes.messages.agent import CancelTurn, StartTurn, TurnFailure, TurnPurpose
from hermes.messages.delivery import DeliverMessage, OutboundKind
from hermes.messages.router import SessionStopped, SessionStopping, StopReason
from hermes.messages.scheduler import ArmTimer, CancelTimer, TimerFired
from hermes.messages.session import ExpireSession, HandOver, ResetReason, ResetSession
from hermes.messages.store import LoadSession, RecordTurn, SaveSession, SessionRecord, Settle
from hermes.messages.values import ChatMessage, Role, Sender
from hermes.policies import texts
from hermes.policies.sessions import ResetRule
from tests.actors.session_harness import KEY, ORIGIN, Harness, settings
from tests.fakes.memory import FakeMemoryProvider
from tests.fakes.waiting import wait_until


@pytest.fixture
def harness():
    return Harness()


@pytest.fixture
def memory():
    return FakeMemoryProvider()


def started(harness: Harness, **kwargs) -> Harness:
    harness.start(**kwargs)
    harness.store.expect(LoadSession)
    harness.load()
    return harness


def converse(harness: Harness, *texts_: str) -> None:
    """Run one completed turn per text."""
    for index, text in enumerate(texts_, start=1):
        harness.send(text)
        harness.complete(harness.expect_turn(count=index), f"answer to {text}")
    harness.store.expect(RecordTurn, count=len(texts_))


def replies(harness: Harness) -> list[str]:
    """Replies delivered (readable after the actor stopped)."""
    return [
        d.message.text
        for d in harness.delivery.of_type(DeliverMessage)
        if d.message.kind is OutboundKind.REPLY
    ]


def stopped(harness: Harness) -> bool:
    return harness.address._ref.actor_stopped.wait(2.0)


# -- passivation -------------------------------------------------------------------------------


def test_an_idle_session_asks_to_stop_then_hands_over_and_stops(harness):
    started(harness)
    arm = harness.scheduler.expect(ArmTimer)
    harness.clock.advance(seconds=601)
    harness.address.tell(TimerFired(key=arm.key))
    assert harness.router.expect(SessionStopping).reason is StopReason.IDLE
    late = harness.send("arrived while stopping")
    harness.address.tell(HandOver())
    handed = harness.router.expect(SessionStopped)
    assert handed.session_key == KEY
    assert handed.handover == (late,)
    assert stopped(harness)
    assert harness.runtime.of_type(StartTurn) == []
    assert harness.store.of_type(SaveSession) == [harness.store.of_type(SaveSession)[0]]


def test_the_idle_timer_waits_while_busy_and_for_the_rest_of_the_idle_time(harness):
    started(harness)
    arm = harness.scheduler.expect(ArmTimer)
    harness.send("busy")
    harness.expect_turn()
    harness.address.tell(TimerFired(key=arm.key))
    assert harness.scheduler.expect(ArmTimer, count=2).delay_seconds == 600
    harness.complete(harness.runtime.of_type(StartTurn)[0], "done")
    harness.clock.advance(seconds=200)
    harness.address.tell(TimerFired(key=arm.key))
    assert harness.scheduler.expect(ArmTimer, count=3).delay_seconds == pytest.approx(400)
    assert harness.router.of_type(SessionStopping) == []


def test_passivation_drains_and_closes_memory(harness, memory):
    started(harness, memory=memory)
    converse(harness, "hello")
    harness.address.tell(TimerFired(key=harness.scheduler.of_type(ArmTimer)[0].key))
    harness.clock.advance(seconds=601)
    harness.address.tell(TimerFired(key=harness.scheduler.of_type(ArmTimer)[0].key))
    harness.router.expect(SessionStopping)
    harness.address.tell(HandOver())
    assert stopped(harness)
    # pykka marks an actor stopped before its on_stop (drain, close) has run.
    wait_until(lambda: len(memory.log) >= 3, what="the memory manager closed")
    calls = [entry[1] for entry in memory.log]
    assert calls == ["record", "drain", "close"]  # no flush and no end of session


# -- the ending protocol -----------------------------------------------------------------------


def test_new_ends_the_session_after_the_flush_and_hands_over_what_came_meanwhile(harness, memory):
    started(harness, memory=memory)
    converse(harness, "I like tea", "and biscuits")
    old_id = harness.store.of_type(SaveSession)[0].record.session_id
    harness.send("/new")
    assert harness.said(OutboundKind.NOTICE) == [texts.RESET_DONE]
    assert harness.router.expect(SessionStopping).reason is StopReason.ENDED
    flush = harness.expect_turn(count=3)
    assert flush.context.purpose is TurnPurpose.FLUSH
    assert flush.context.inputs == (texts.FLUSH_PROMPT,)
    assert [m.content for m in flush.context.history][:2] == ["I like tea", "answer to I like tea"]
    assert flush.context.memory is not None
    assert flush.stream_to is None
    m2 = harness.send("second thoughts")
    harness.address.tell(HandOver())
    assert harness.router.of_type(SessionStopped) == []  # the flush is still running
    harness.complete(flush, "saved")
    stop = harness.router.expect(SessionStopped)
    assert stop.handover == (m2,)
    rotated = harness.store.expect(SaveSession, count=2)
    assert rotated.ended_session_id == old_id
    assert rotated.end_reason == ResetReason.USER.value
    assert rotated.record.memory_flushed
    assert rotated.record.session_id != old_id
    # The actor's on_stop (drain, close) runs after it told the Router and the Store.
    wait_until(lambda: len(memory.log) >= 6, what="the memory manager closed")
    assert [entry[1] for entry in memory.log] == [
        "record",
        "record",
        "end_session",
        "drain",
        "drain",
        "close",
    ]
    assert stopped(harness)
    assert replies(harness) == ["answer to I like tea", "answer to and biscuits"]


def test_the_flush_waits_for_the_cancelled_turn_to_settle(harness, memory):
    started(harness, memory=memory)
    converse(harness, "one", "two")
    harness.send("three, long")
    running = harness.expect_turn(count=3)
    harness.send("/reset")
    assert harness.runtime.expect(CancelTurn).turn_id == running.context.turn_id
    assert len(harness.runtime.of_type(StartTurn)) == 3  # no flush before the turn settles
    harness.complete(running, "late answer")  # it finished anyway: discarded
    flush = harness.expect_turn(count=4)
    assert flush.context.purpose is TurnPurpose.FLUSH
    assert "late answer" not in [m.content for m in flush.context.history]
    assert harness.said(OutboundKind.REPLY) == ["answer to one", "answer to two"]


def test_without_memory_or_history_there_is_no_flush_turn(harness):
    started(harness)
    converse(harness, "hi")
    harness.send("/new")
    harness.address.tell(HandOver())
    harness.router.expect(SessionStopped)
    assert [s.context.purpose for s in harness.runtime.of_type(StartTurn)] == [TurnPurpose.REPLY]
    assert harness.store.expect(SaveSession, count=2).end_reason == "user"


def test_a_failed_flush_still_ends_the_session(harness, memory):
    started(harness, memory=memory)
    converse(harness, "a", "b")
    harness.address.tell(ResetSession(reason=ResetReason.ADMIN))
    flush = harness.expect_turn(count=3)
    harness.address.tell(HandOver())
    harness.fail(flush, TurnFailure.ERROR, "model down")
    harness.router.expect(SessionStopped)
    assert harness.store.expect(SaveSession, count=2).end_reason == "admin"
    assert stopped(harness)
    errors = [
        d for d in harness.delivery.of_type(DeliverMessage) if d.message.kind is OutboundKind.ERROR
    ]
    assert errors == []  # nobody is told about a flush


def test_a_stop_in_the_middle_of_an_ending_keeps_the_rotation(harness, memory):
    started(harness, memory=memory)
    converse(harness, "a", "b")
    harness.send("/new")
    harness.expect_turn(count=3)
    waiting = harness.send("sent during the flush")
    harness.address.stop(timeout=2.0)
    rotated = harness.store.of_type(SaveSession)[-1]
    assert rotated.ended_session_id is not None
    texts_to_waiting = [
        d.message.text
        for d in harness.delivery.of_type(DeliverMessage)
        if d.message.in_reply_to == waiting.message_id
    ]
    assert texts_to_waiting == [texts.RESTARTING]  # a chat's message: kept, answered later
    settled = [ref.message_id for write in harness.store.of_type(Settle) for ref in write.inputs]
    assert waiting.message_id not in settled


# -- the reset policy --------------------------------------------------------------------------


IDLE_RULE = ResetRule(idle=True, daily=False, at_hour=4, idle_minutes=60)


def load_old_session(harness: Harness, idle_hours: float) -> SessionRecord:
    old = SessionRecord(
        session_key=KEY,
        session_id="20261122_100000_aaaaaaaa",
        created_at=harness.clock.now() - timedelta(hours=idle_hours + 1),
        updated_at=harness.clock.now() - timedelta(hours=idle_hours),
        origin=ORIGIN,
        last_sender=Sender(user_id="u1"),
        memory_flushed=False,
    )
    history = tuple(
        ChatMessage(role=role, content=f"old {index}")
        for index, role in enumerate((Role.USER, Role.ASSISTANT) * 2)
    )
    harness.load(record=old, history=history)
    return old


def test_a_message_to_an_expired_session_ends_it_and_goes_to_the_next(harness, memory):
    harness.start(session_settings=settings(reset_rule=IDLE_RULE), memory=memory)
    harness.store.expect(LoadSession)
    old = load_old_session(harness, idle_hours=2)
    message = harness.send("back again")
    assert harness.said(OutboundKind.NOTICE) == [texts.auto_reset(ResetReason.IDLE, 60, 4)]
    flush = harness.expect_turn()
    assert flush.context.purpose is TurnPurpose.FLUSH
    assert flush.context.session_id == old.session_id
    harness.complete(flush, "saved")
    harness.address.tell(HandOver())
    assert harness.router.expect(SessionStopped).handover == (message,)
    rotated = harness.store.expect(SaveSession)
    assert (rotated.ended_session_id, rotated.end_reason) == (old.session_id, "idle")


def test_an_expiry_check_ends_an_expired_session(harness, memory):
    harness.start(session_settings=settings(reset_rule=IDLE_RULE), memory=memory)
    harness.store.expect(LoadSession)
    harness.address.tell(ExpireSession())
    old = load_old_session(harness, idle_hours=2)
    harness.router.expect(SessionStopping)
    harness.complete(harness.expect_turn(), "saved")
    harness.address.tell(HandOver())
    harness.router.expect(SessionStopped)
    assert harness.store.expect(SaveSession).ended_session_id == old.session_id


def test_an_expiry_check_leaves_a_fresh_session_alone(harness):
    harness.start(session_settings=settings(reset_rule=IDLE_RULE))
    harness.store.expect(LoadSession)
    load_old_session(harness, idle_hours=0.5)
    harness.address.tell(ExpireSession())
    harness.status()
    assert harness.router.of_type(SessionStopping) == []
    assert harness.store.of_type(SaveSession) == []


def test_timers_are_released_when_the_session_stops(harness):
    started(harness)
    harness.address.stop(timeout=2.0)
    assert harness.scheduler.expect(CancelTimer).key == harness.scheduler.of_type(ArmTimer)[0].key


def test_a_session_without_a_known_user_ends_without_a_flush(harness, memory):
    harness.start(session_settings=settings(reset_rule=IDLE_RULE), memory=memory)
    harness.store.expect(LoadSession)
    harness.address.tell(ExpireSession())
    old = SessionRecord(
        session_key=KEY,
        session_id="20261122_100000_bbbbbbbb",
        created_at=harness.clock.now() - timedelta(hours=5),
        updated_at=harness.clock.now() - timedelta(hours=4),
        memory_flushed=False,
    )
    history = tuple(ChatMessage(role=Role.USER, content=str(i)) for i in range(4))
    harness.load(record=old, history=history)
    harness.router.expect(SessionStopping)
    harness.address.tell(HandOver())
    harness.router.expect(SessionStopped)
    assert harness.runtime.of_type(StartTurn) == []
    assert [entry[1] for entry in memory.log][:2] == ["end_session", "drain"]
