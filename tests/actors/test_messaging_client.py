"""The ``send_message`` tool through the turn's ``DeliveryMessenger`` against a real DeliveryActor
(the platform and the Router are recording probes, so the test plays the platform's answers)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.delivery import DeliveryActor, DeliveryDeps, PlatformLink
from hermes.actors.messaging_client import DeliveryMessenger
from hermes.adapters.agents.messaging_tools import MessagingTools
from hermes.messages.delivery import (
    ChatSeen,
    ConnectRouter,
    DeliveryCommand,
    MirrorDelivery,
    OutboundFailed,
    OutboundSent,
    SendOutbound,
)
from hermes.messages.messaging import MessagingError
from hermes.messages.values import ChatAddress, ChatType, HomeChannel, Platform
from tests.fakes.recording import FakeClock, RecordingAddress

ORIGIN = ChatAddress(
    platform=Platform.TELEGRAM, chat_id="1001", chat_type=ChatType.DM, chat_name="Alice"
)
HOME = HomeChannel(
    platform=Platform.TELEGRAM,
    address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-100"),
    name="Family",
)


@pytest.fixture
def platform():
    return RecordingAddress("platform")


@pytest.fixture
def router():
    return RecordingAddress("router")


@pytest.fixture
def delivery(platform, router, tmp_path):
    deps = DeliveryDeps(
        links=(
            PlatformLink(platform=Platform.TELEGRAM, address=platform, max_message_length=4096),
        ),
        homes=(HOME,),
        store=RecordingAddress("store"),
        scheduler=RecordingAddress("scheduler"),
        clock=FakeClock(),
        local_dir=tmp_path / "deliveries",
    )
    address: ActorAddress[DeliveryCommand] = ActorAddress(DeliveryActor.start(deps))
    address.tell(ConnectRouter(router=router))
    yield address
    address.stop(2.0)


def messenger(delivery, **waits: float) -> DeliveryMessenger:
    return DeliveryMessenger(delivery=delivery, origin=ORIGIN, label="telegram", **waits)


def answer_platform(platform: RecordingAddress, outcome) -> threading.Thread:
    """Play the platform: answer the first ``SendOutbound`` with ``outcome(send)``."""

    def play() -> None:
        send = platform.expect(SendOutbound, timeout=5.0)
        send.reply_to.tell(outcome(send))

    thread = threading.Thread(target=play)
    thread.start()
    return thread


def test_a_confirmed_send_says_delivered_and_is_mirrored(delivery, platform, router):
    player = answer_platform(platform, lambda send: OutboundSent(delivery_id=send.delivery_id))

    said = asyncio.run(messenger(delivery).send("telegram", "Dinner at 7."))
    player.join(5.0)

    assert said == "Delivered to telegram."
    send = platform.expect(SendOutbound)
    assert (send.message.target, send.chunks) == (HOME.address, ("Dinner at 7.",))
    mirror = router.expect(MirrorDelivery)
    assert (mirror.address, mirror.text, mirror.label) == (HOME.address, "Dinner at 7.", "telegram")


def test_origin_means_the_turns_chat(delivery, platform):
    player = answer_platform(platform, lambda send: OutboundSent(delivery_id=send.delivery_id))
    asyncio.run(messenger(delivery).send("origin", "hi"))
    player.join(5.0)
    assert platform.expect(SendOutbound).message.target == ORIGIN


def test_a_final_refusal_is_an_error(delivery, platform, router):
    player = answer_platform(
        platform, lambda send: OutboundFailed(delivery_id=send.delivery_id, reason="chat gone")
    )
    with pytest.raises(MessagingError, match="chat gone"):
        asyncio.run(messenger(delivery).send("telegram:-5", "hello"))
    player.join(5.0)
    assert router.of_type(MirrorDelivery) == []


@pytest.mark.parametrize(
    ("target", "text", "error"),
    [
        ("slack", "hi", "unknown platform 'slack'"),
        ("discord", "hi", "discord has no home channel"),
        ("discord:42", "hi", "discord is not connected"),
        ("telegram:Nobody", "hi", "no telegram chat called 'Nobody'"),
        ("telegram", "   ", "the message is empty"),
        ("telegram", "x" * 20_001, "longer than 20000"),
    ],
)
def test_what_cannot_be_sent_is_an_error(delivery, platform, target, text, error):
    with pytest.raises(MessagingError, match=error):
        asyncio.run(messenger(delivery).send(target, text))
    assert platform.of_type(SendOutbound) == []


def test_an_unconfirmed_send_says_it_is_still_on_its_way(delivery, platform):
    said = asyncio.run(messenger(delivery, send_wait=0.2).send("telegram", "later"))
    assert said.startswith("Accepted for telegram, but the platform has not confirmed it")
    assert platform.expect(SendOutbound).chunks == ("later",)


def test_a_stopped_delivery_refuses_at_once(delivery):
    delivery.stop(2.0)
    with pytest.raises(MessagingError, match="shutting down"):
        asyncio.run(messenger(delivery).send("telegram", "hello"))


def test_targets_hide_other_peoples_direct_messages(delivery):
    for chat_id, kind, name in (
        ("2002", ChatType.DM, "Bob"),
        ("-300", ChatType.GROUP, "Book club"),
        ("1001", ChatType.DM, "Alice"),
        ("-100", ChatType.GROUP, "Family"),
    ):
        address = ChatAddress(
            platform=Platform.TELEGRAM, chat_id=chat_id, chat_type=kind, chat_name=name
        )
        delivery.tell(ChatSeen(address=address))

    targets = asyncio.run(messenger(delivery).targets())

    assert [(t.target, t.description) for t in targets] == [
        ("origin", 'this chat (telegram direct message "Alice")'),
        ("telegram", 'the telegram home channel "Family"'),
        ("telegram:-300", 'telegram group "Book club"'),
    ]


def test_the_tool_sends_lists_and_explains_bad_calls(delivery, platform):
    tools = MessagingTools(messenger(delivery))
    player = answer_platform(platform, lambda send: OutboundSent(delivery_id=send.delivery_id))

    def run(arguments: object) -> str:
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return asyncio.run(tools.run("send_message", text))

    assert run({"target": "telegram", "message": "hi"}) == "Delivered to telegram."
    player.join(5.0)
    assert run({"action": "list"}).splitlines()[0] == (
        'origin: this chat (telegram direct message "Alice")'
    )
    assert run({"target": "telegram"}) == (
        "Error: the argument 'message' is required for this action"
    )
    assert run({"action": "shout"}) == "Error: 'action' must be one of send, list"
    assert run("{not json").startswith("Error: the arguments are not valid JSON")
    assert run({"target": "telegram", "message": "x", "urgent": "yes"}).startswith(
        "Error: unknown argument 'urgent'"
    )
    assert run({"target": "slack", "message": "x"}).startswith("Error: unknown platform 'slack'")
    (definition,) = tools.definitions()
    assert definition["function"]["name"] == "send_message"
    assert tools.offers("send_message")
    assert not tools.offers("cronjob")
