"""One real SessionActor; its collaborators are recording probes the test answers for."""

from __future__ import annotations

import pytest

from hermes.messages.agent import CancelTurn, StartTurn, TurnFailure
from hermes.messages.delivery import DeliverMessage, OutboundKind, SetHomeChannel, SetTyping
from hermes.messages.router import SessionCrashed, SessionStopping, StopReason
from hermes.messages.session import HandleUserMessage
from hermes.messages.store import LoadSession, RecordTurn, SaveSession
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    ClientContext,
    Platform,
    Role,
    TokenUsage,
)
from hermes.policies import texts
from hermes.policies.inputs import MAX_PENDING_INPUTS
from tests.actors.session_harness import KEY, Harness, http_message, http_route, settings


@pytest.fixture
def harness():
    return Harness()


def started(harness: Harness, **kwargs) -> Harness:
    harness.start(**kwargs)
    harness.store.expect(LoadSession)
    harness.load()
    return harness


def test_first_message_creates_the_session_and_starts_a_turn(harness):
    harness.start()
    load = harness.store.expect(LoadSession)
    assert load.session_key == KEY
    assert load.session_id is None
    harness.load()
    message = harness.send("hello")
    start = harness.expect_turn()
    saved = harness.store.expect(SaveSession)
    assert saved.ended_session_id is None
    assert start.context.inputs == ("hello",)
    assert start.context.history == ()
    assert start.context.session_id == saved.record.session_id
    assert start.context.origin == message.origin
    assert start.stream_to is None


def test_completed_turn_is_recorded_in_one_write_and_delivered(harness):
    started(harness)
    message = harness.send("hello")
    harness.complete(harness.expect_turn(), "hi there", TokenUsage(input_tokens=7, output_tokens=4))
    record = harness.store.expect(RecordTurn)
    assert record.messages == (
        ChatMessage(role=Role.USER, content="hello"),
        ChatMessage(role=Role.ASSISTANT, content="hi there"),
    )
    assert record.record.usage == TokenUsage(input_tokens=7, output_tokens=4)
    delivered = harness.delivery.expect(DeliverMessage).message
    assert delivered.text == "hi there"
    assert delivered.kind is OutboundKind.REPLY
    assert delivered.target == message.origin
    assert delivered.in_reply_to == message.message_id
    assert delivered.session_id == record.record.session_id


def test_history_carries_into_the_next_turn(harness):
    started(harness)
    harness.send("one")
    harness.complete(harness.expect_turn(), "first answer")
    harness.send("two")
    second = harness.expect_turn(count=2)
    assert second.context.history == (
        ChatMessage(role=Role.USER, content="one"),
        ChatMessage(role=Role.ASSISTANT, content="first answer"),
    )


def test_messages_before_loading_wait_and_keep_their_order(harness):
    harness.start()
    harness.store.expect(LoadSession)
    harness.send("early one")
    harness.send("/status")
    assert harness.runtime.messages == []
    harness.load()
    start = harness.expect_turn()
    assert start.context.inputs == ("early one",)
    assert any(text.startswith("Session: ") for text in harness.said(OutboundKind.NOTICE))


def test_status_is_answered_at_once_while_a_turn_runs(harness):
    started(harness)
    harness.send("long question")
    harness.expect_turn()
    harness.send("/status")
    notices = harness.said(OutboundKind.NOTICE)
    assert len(notices) == 1
    assert "Agent running: yes" in notices[0]
    assert harness.runtime.of_type(CancelTurn) == []


def test_help_lists_the_commands(harness):
    started(harness)
    harness.send("/help")
    (text,) = harness.said(OutboundKind.NOTICE)
    for command in ("/new", "/stop", "/status", "/queue", "/help"):
        assert command in text


def test_stop_cancels_the_turn_quietly_and_keeps_the_transcript_clean(harness):
    started(harness)
    harness.send("do something long")
    start = harness.expect_turn()
    harness.send("/stop")
    assert harness.runtime.expect(CancelTurn).turn_id == start.context.turn_id
    harness.fail(start, TurnFailure.CANCELLED)
    assert harness.said() == [texts.STOPPING]
    assert harness.store.of_type(RecordTurn) == []
    harness.send("next")
    nxt = harness.expect_turn(count=2)
    assert nxt.context.inputs == ("next",)
    assert nxt.context.history == ()


def test_stop_with_nothing_running(harness):
    started(harness)
    harness.send("/stop")
    assert harness.said() == [texts.NOTHING_TO_STOP]


def test_interrupt_mode_cancels_and_answers_both_inputs_together(harness):
    started(harness)
    harness.send("first")
    first = harness.expect_turn()
    harness.send("actually, second")
    assert harness.runtime.expect(CancelTurn).turn_id == first.context.turn_id
    harness.fail(first, TurnFailure.CANCELLED)
    again = harness.expect_turn(count=2)
    assert again.context.inputs == ("first", "actually, second")
    harness.complete(again, "both answered")
    record = harness.store.expect(RecordTurn)
    assert [m.content for m in record.messages] == ["first", "actually, second", "both answered"]
    assert harness.said(OutboundKind.REPLY) == ["both answered"]


def test_interrupted_turn_that_finished_anyway_is_delivered(harness):
    started(harness)
    harness.send("first")
    first = harness.expect_turn()
    harness.send("second")
    harness.runtime.expect(CancelTurn)
    harness.complete(first, "answer to first")
    second = harness.expect_turn(count=2)
    assert second.context.inputs == ("second",)
    assert harness.said(OutboundKind.REPLY) == ["answer to first"]


def test_queue_mode_answers_every_input_in_order(harness):
    started(harness, session_settings=settings(interrupt=False))
    harness.send("first")
    first = harness.expect_turn()
    harness.send("second")
    harness.send("third")
    assert harness.said(OutboundKind.NOTICE) == [texts.QUEUED_BUSY]  # once, not per message
    assert harness.runtime.of_type(CancelTurn) == []
    harness.complete(first, "a1")
    second = harness.expect_turn(count=2)
    assert second.context.inputs == ("second",)
    assert [m.content for m in second.context.history] == ["first", "a1"]
    harness.complete(second, "a2")
    third = harness.expect_turn(count=3)
    assert third.context.inputs == ("third",)
    harness.complete(third, "a3")
    assert harness.said(OutboundKind.REPLY) == ["a1", "a2", "a3"]


def test_queue_command_waits_without_interrupting(harness):
    started(harness)
    harness.send("first")
    first = harness.expect_turn()
    harness.send("/queue and then this")
    assert harness.said() == [texts.QUEUED]
    assert harness.runtime.of_type(CancelTurn) == []
    harness.complete(first, "a1")
    assert harness.expect_turn(count=2).context.inputs == ("and then this",)


def test_queue_command_when_idle_runs_at_once_and_needs_text(harness):
    started(harness)
    harness.send("/queue")
    assert harness.said() == [texts.QUEUE_USAGE]
    harness.send("/q now please")
    assert harness.expect_turn().context.inputs == ("now please",)


def test_a_full_queue_refuses_with_a_notice(harness):
    started(harness, session_settings=settings(interrupt=False))
    harness.send("running")
    harness.expect_turn()
    for index in range(MAX_PENDING_INPUTS + 1):
        harness.send(f"waiting {index}")
    rejected = harness.said(OutboundKind.REJECTED)
    assert rejected == [texts.queue_full(MAX_PENDING_INPUTS)]
    assert harness.status().pending_inputs == MAX_PENDING_INPUTS


def test_failed_turn_is_reported_and_leaves_the_transcript_clean(harness):
    started(harness)
    harness.send("break please")
    harness.fail(harness.expect_turn(), TurnFailure.ERROR, "The request failed: boom")
    assert harness.said(OutboundKind.ERROR) == ["The request failed: boom"]
    assert harness.store.of_type(RecordTurn) == []
    harness.send("try again")
    retry = harness.expect_turn(count=2)
    assert retry.context.history == ()
    assert retry.context.inputs == ("try again",)


def test_timed_out_turn_is_reported(harness):
    started(harness)
    harness.send("slow")
    harness.fail(harness.expect_turn(), TurnFailure.TIMEOUT, texts.turn_timed_out(60))
    assert harness.said(OutboundKind.ERROR) == [texts.turn_timed_out(60)]


def test_reset_after_a_conversation_says_so(harness):
    started(harness)
    harness.send("hello")
    harness.complete(harness.expect_turn(), "hi")
    harness.send("/reset")
    assert harness.said(OutboundKind.NOTICE) == [texts.RESET_DONE]


def test_http_requests_never_interrupt_and_are_answered_one_by_one(harness):
    first_message = http_message(harness, "one", session_key="k1")
    harness.start(route=http_route(first_message))
    harness.store.expect(LoadSession)
    harness.load(key=http_route(first_message).key)
    harness.address.tell(HandleUserMessage(message=first_message))
    first = harness.expect_turn()
    second_message = http_message(harness, "two", session_key="k1")
    harness.address.tell(HandleUserMessage(message=second_message))
    assert harness.runtime.of_type(CancelTurn) == []
    assert harness.said() == []  # no "still answering" notice for a waiting HTTP request
    harness.complete(first, "a1")
    second = harness.expect_turn(count=2)
    assert second.context.inputs == ("two",)
    harness.complete(second, "a2")
    harness.delivery.expect(DeliverMessage, count=2)
    replies = [d.message for d in harness.delivery.of_type(DeliverMessage)]
    assert [(r.target, r.text) for r in replies] == [
        (first_message.origin, "a1"),
        (second_message.origin, "a2"),
    ]


def test_pinned_session_reads_its_transcript_and_refuses_reset(harness):
    message = http_message(harness, "/new", session_id="client-chosen-1", session_key="scope-9")
    route = http_route(message)
    harness.start(route=route)
    load = harness.store.expect(LoadSession)
    assert load.session_id == "client-chosen-1"
    harness.load(key=route.key)
    saved = harness.store.expect(SaveSession)
    assert saved.record.session_id == "client-chosen-1"
    harness.address.tell(HandleUserMessage(message=message))
    assert harness.said() == [texts.PINNED_RESET]
    harness.address.tell(
        HandleUserMessage(
            message=http_message(harness, "hi", session_id="client-chosen-1", session_key="scope-9")
        )
    )
    assert harness.expect_turn().context.memory_scope == "scope-9"


def test_stateless_request_uses_its_own_history_and_stores_nothing(harness):
    message = http_message(harness, "and now?")
    message = type(message)(
        message_id=message.message_id,
        origin=message.origin,
        sender=message.sender,
        text=message.text,
        received_at=message.received_at,
        awaits_reply=True,
        client_context=ClientContext(
            system_prompt="be brief", history=(ChatMessage(role=Role.USER, content="earlier"),)
        ),
    )
    route = http_route(message)
    assert route.ephemeral
    harness.start(route=route)
    harness.address.tell(HandleUserMessage(message=message))
    start = harness.expect_turn()
    assert start.context.history == (ChatMessage(role=Role.USER, content="earlier"),)
    assert start.context.system_prompt == "be brief"
    harness.complete(start, "done")
    assert harness.router.expect(SessionStopping).reason is StopReason.IDLE
    assert harness.store.messages == []
    reply = harness.delivery.expect(DeliverMessage).message
    assert reply.session_id is None


def test_a_crash_is_reported_and_waiting_senders_are_told(harness):
    started(harness)
    harness.send("in progress")
    harness.expect_turn()
    harness.address.tell("not a session message")
    crashed = harness.router.expect(SessionCrashed)
    assert crashed.session_key == KEY
    assert harness.delivery.expect(DeliverMessage).message.text == texts.CRASHED


def test_a_message_right_after_stop_waits_without_a_busy_notice(harness):
    started(harness)
    harness.send("long")
    first = harness.expect_turn()
    harness.send("/stop")
    harness.send("are you there?")
    assert harness.said() == [texts.STOPPING]
    harness.fail(first, TurnFailure.CANCELLED)
    assert harness.expect_turn(count=2).context.inputs == ("are you there?",)


def test_sethome_makes_this_chat_the_home_channel(harness):
    started(harness)
    message = harness.send("/sethome")
    (text,) = harness.said(OutboundKind.NOTICE)
    assert text == texts.home_set(message.origin.chat_id)
    home = harness.delivery.expect(SetHomeChannel).home
    assert (home.platform, home.address) == (message.origin.platform, message.origin)


def test_sethome_over_http_is_refused(harness):
    message = http_message(harness, "/set-home", session_key="k")
    harness.start(route=http_route(message))
    harness.store.expect(LoadSession)
    harness.load(key=http_route(message).key)
    harness.address.tell(HandleUserMessage(message=message))
    assert harness.said() == [texts.NO_HOME_HERE]
    assert harness.delivery.of_type(SetHomeChannel) == []


TELEGRAM_DM = ChatAddress(platform=Platform.TELEGRAM, chat_id="55")


def test_the_chat_sees_typing_while_a_turn_runs(harness):
    started(harness)
    message = harness.send("think hard", origin=TELEGRAM_DM)
    start = harness.expect_turn()
    assert harness.delivery.expect(SetTyping) == SetTyping(target=message.origin, active=True)
    harness.complete(start, "done")
    harness.delivery.expect(DeliverMessage)
    typing = harness.delivery.of_type(SetTyping)
    assert [t.active for t in typing] == [True, False]
    order = [type(m).__name__ for m in harness.delivery.messages]
    assert order.index("DeliverMessage") > len(order) - 2  # typing stops before the reply


def test_stop_also_stops_typing(harness):
    started(harness)
    harness.send("long", origin=TELEGRAM_DM)
    harness.expect_turn()
    harness.send("/stop", origin=TELEGRAM_DM)
    harness.said()
    assert [t.active for t in harness.delivery.of_type(SetTyping)] == [True]
    harness.fail(harness.runtime.of_type(StartTurn)[0], TurnFailure.CANCELLED)
    harness.said()
    assert [t.active for t in harness.delivery.of_type(SetTyping)] == [True, False]


def test_no_typing_is_told_for_a_platform_that_shows_none(harness):
    started(harness)
    harness.send("hi")  # an embedded chat
    harness.complete(harness.expect_turn(), "done")
    harness.delivery.expect(DeliverMessage)
    assert harness.delivery.of_type(SetTyping) == []
