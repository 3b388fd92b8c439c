"""A real SessionActor settling what it answers: every chat message ends in exactly one
``Settle`` (with the turn's transcript when it was answered by the agent), its reply queued in
the outbox in the same write; notices that are not an outcome settle nothing, and a stop leaves
the chat's messages unsettled for the next start."""

from __future__ import annotations

import pytest

from hermes.messages.agent import TurnFailure
from hermes.messages.delivery import DeliverMessage
from hermes.messages.intake import InboundRef
from hermes.messages.session import HandleUserMessage
from hermes.messages.store import LoadSession, RecordTurn, Settle
from hermes.messages.values import InboundMessage
from hermes.policies import texts
from hermes.policies.inputs import MAX_PENDING_INPUTS
from tests.actors.session_harness import Harness, http_message, settings


@pytest.fixture
def harness():
    harness = Harness()
    yield harness
    if harness.session is not None:
        harness.session.stop(2.0)


def started(harness: Harness, **kwargs) -> Harness:
    harness.start(**kwargs)
    harness.store.expect(LoadSession)
    harness.load()
    return harness


def ref(message: InboundMessage) -> InboundRef:
    return InboundRef(platform=message.origin.platform, message_id=message.message_id)


def settles(harness: Harness) -> list[Settle]:
    """Every settle the session wrote, standalone or with a turn, in order."""
    harness.status()  # everything told so far is handled
    found = []
    for write in harness.store.messages:
        if isinstance(write, RecordTurn) and write.settle is not None:
            found.append(write.settle)
        elif isinstance(write, Settle):
            found.append(write)
    return found


def test_an_answer_settles_its_inputs_with_the_transcript_in_one_write(harness):
    started(harness)
    first = harness.send("first")
    start = harness.expect_turn()
    second = harness.send("actually, second")  # interrupts: answered together
    harness.fail(start, TurnFailure.CANCELLED)
    harness.complete(harness.expect_turn(count=2), "both")

    write = harness.store.expect(RecordTurn)
    assert write.settle is not None
    assert write.settle.inputs == (ref(first), ref(second))
    reply = write.settle.reply
    assert reply is not None
    assert (reply.message.text, reply.durable) == ("both", True)
    assert write.settle.delivery is harness.delivery
    assert len(settles(harness)) == 1


def test_a_failed_turn_and_a_refusal_are_outcomes_too(harness):
    started(harness, session_settings=settings(interrupt=False))
    failing = harness.send("fails")
    harness.fail(harness.expect_turn(), TurnFailure.ERROR, "The model is down.")
    harness.send("running")
    harness.expect_turn(count=2)
    waiting = [harness.send(f"waiting {index}") for index in range(MAX_PENDING_INPUTS + 1)]

    outcomes = settles(harness)
    assert [(s.inputs, s.reply.message.text if s.reply else None) for s in outcomes] == [
        ((ref(failing),), "The model is down."),
        ((ref(waiting[-1]),), texts.queue_full(MAX_PENDING_INPUTS)),
    ]
    assert all(s.reply is not None and s.reply.durable for s in outcomes)


def test_commands_are_answered_and_stop_settles_what_it_dropped(harness):
    started(harness)
    status = harness.send("/status")
    running = harness.send("long question")
    start = harness.expect_turn()
    stop = harness.send("/stop")
    harness.fail(start, TurnFailure.CANCELLED)

    outcomes = settles(harness)
    assert [s.inputs for s in outcomes] == [(ref(status),), (ref(stop),), (ref(running),)]
    assert outcomes[1].reply is not None
    assert outcomes[1].reply.message.text == texts.STOPPING
    assert outcomes[2].reply is None  # dropped on request: nothing more to say


def test_notices_that_are_not_outcomes_settle_nothing(harness):
    started(harness, session_settings=settings(interrupt=False))
    harness.send("running")
    harness.expect_turn()
    harness.send("behind it")  # "still answering" notice
    queued = harness.send("/queue later")

    assert settles(harness) == []
    notices = [d for d in harness.delivery.of_type(DeliverMessage) if not d.durable]
    assert [d.message.text for d in notices] == [texts.QUEUED_BUSY, texts.QUEUED]
    assert notices[-1].message.in_reply_to == queued.message_id


def test_a_stop_leaves_the_chats_messages_for_the_next_start(harness):
    started(harness, session_settings=settings(interrupt=False))
    harness.send("cut short")
    harness.expect_turn()
    harness.send("never started")
    harness.address.stop(timeout=2.0)

    assert [w for w in harness.store.messages if isinstance(w, Settle | RecordTurn)] == []
    told = [d.message.text for d in harness.delivery.of_type(DeliverMessage)]
    assert told[-1] == texts.RESTARTING
    assert all(not d.durable for d in harness.delivery.of_type(DeliverMessage))


def test_a_crash_settles_with_its_notice(harness):
    started(harness)
    message = harness.send("in progress")
    harness.expect_turn()
    harness.address.tell("not a session message")

    settle = harness.store.expect(Settle)
    assert settle.inputs == (ref(message),)
    assert settle.reply is not None
    assert settle.reply.message.text == texts.CRASHED


def test_an_http_request_is_answered_directly_and_journals_nothing(harness):
    request = http_message(harness, "hello", session_key="k1")
    harness.start()
    harness.load()
    harness.address.tell(HandleUserMessage(message=request))
    harness.complete(harness.expect_turn(), "hi")

    write = harness.store.expect(RecordTurn)
    assert write.settle is None
    reply = harness.delivery.expect(DeliverMessage)
    assert (reply.message.text, reply.durable) == ("hi", False)
