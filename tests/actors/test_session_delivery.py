"""A real SessionActor and what Delivery brings it: mirrors of texts delivered into its chat, the
gateway view its turns describe to the agent, and the messaging tools bound to each turn."""

from __future__ import annotations

import pytest

from hermes.actors.messaging_client import DeliveryMessenger
from hermes.messages.agent import TurnPurpose
from hermes.messages.session import GatewayView, HandleUserMessage, MirrorMessage
from hermes.messages.store import LoadSession, RecordTurn
from hermes.messages.values import ChatAddress, ChatMessage, HomeChannel, Platform, Role
from tests.actors.session_harness import Harness, http_message, http_route

MIRRORED = ChatMessage(role=Role.ASSISTANT, content="[Delivered from cron] Daily digest: 3 items")
HOME = HomeChannel(
    platform=Platform.TELEGRAM,
    address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-77"),
    name="Family",
)


@pytest.fixture
def harness():
    return Harness()


def test_a_mirror_joins_the_transcript_without_counting_as_activity(harness):
    harness.start()
    harness.store.expect(LoadSession)
    harness.address.tell(MirrorMessage(text="Daily digest: 3 items", label="cron"))  # before load
    harness.load()

    write = harness.store.expect(RecordTurn)
    assert write.messages == (MIRRORED,)
    assert harness.status().transcript_length == 1
    assert write.record.updated_at == write.record.created_at  # the reset clock did not move

    harness.send("what did you post this morning?")
    assert harness.expect_turn().context.history == (MIRRORED,)


def test_a_stateless_request_keeps_no_mirror(harness):
    message = http_message(harness, "hi")
    harness.start(route=http_route(message))
    harness.address.tell(MirrorMessage(text="posted", label="telegram"))
    assert harness.status().transcript_length == 0
    assert harness.store.of_type(RecordTurn) == []


def test_each_turn_describes_where_it_is_and_the_latest_homes(harness):
    harness.start()
    harness.load()
    view = GatewayView(connected=(Platform.EMBEDDED, Platform.TELEGRAM))
    harness.address.tell(HandleUserMessage(message=harness.message("one"), gateway=view))
    first = harness.expect_turn().context
    harness.complete(harness.expect_turn())
    homes = GatewayView(connected=view.connected, homes=(HOME,))
    harness.address.tell(HandleUserMessage(message=harness.message("two"), gateway=homes))
    second = harness.expect_turn(count=2).context

    assert first.session_context is not None
    assert "**Source:** an embedded chat, a direct message" in first.session_context
    assert "**Connected platforms:** an embedded chat, Telegram" in first.session_context
    assert "Home channels" not in first.session_context
    assert second.session_context is not None
    assert '- telegram: "Family" (id -77)' in second.session_context


def test_reply_turns_get_messaging_tools_bound_to_their_chat(harness):
    harness.start()
    harness.load()
    message = harness.send("hello")
    context = harness.expect_turn().context
    assert isinstance(context.messaging, DeliveryMessenger)
    assert context.messaging.origin == message.origin
    assert context.messaging.label == "embedded"
    assert context.purpose is TurnPurpose.REPLY
