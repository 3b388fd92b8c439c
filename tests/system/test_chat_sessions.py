"""The whole gateway with a chat platform (the embedded one) and the fake model on loopback.

Chat semantics: per-chat sessions, re-delivery dedupe, interrupt, splitting, passivation and
re-activation from the Store.
"""

from __future__ import annotations

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.delivery import DeliveryFailed, OutboundKind
from hermes.messages.router import GetRouterStatus
from hermes.messages.values import ChatType
from tests.fakes.recording import RecordingAddress
from tests.fakes.waiting import wait_until


@pytest.fixture
def gateway(tmp_path, llm):
    systems = []

    def start(max_message_length: int | None = None, **env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        platform = EmbeddedPlatform(max_message_length=max_message_length)
        system = start_system(config, SystemOverrides(platforms=(platform,), admin_socket=False))
        systems.append(system)
        return system

    yield start
    llm.release("slow")
    for system in systems:
        system.stop()


def live_sessions(system) -> int:
    return system.router.ask(GetRouterStatus(), timeout=2.0).live_sessions


def test_each_chat_has_its_own_conversation(gateway, llm):
    chat = gateway().embedded
    chat.send("I am Alice", EmbeddedChat(chat_id="alice"))
    chat.send("I am Bob", EmbeddedChat(chat_id="bob"))
    chat.wait_for(1, chat_id="alice")
    chat.wait_for(1, chat_id="bob")
    chat.send("who am I?", EmbeddedChat(chat_id="bob"))
    assert chat.wait_for(2, chat_id="bob")[-1].text == "echo: who am I?"
    assert [m["content"] for m in llm.received()[-1]["messages"][1:]] == [
        "I am Bob",
        "echo: I am Bob",
        "who am I?",
    ]


def test_group_members_do_not_share_a_conversation(gateway, llm):
    chat = gateway().embedded
    chat.send("secret of u1", EmbeddedChat(user_id="u1", chat_id="-100", chat_type=ChatType.GROUP))
    chat.wait_for(1)
    chat.send(
        "what do you know?", EmbeddedChat(user_id="u2", chat_id="-100", chat_type=ChatType.GROUP)
    )
    chat.wait_for(2)
    assert [m["content"] for m in llm.received()[-1]["messages"][1:]] == ["what do you know?"]


def test_a_redelivered_message_is_answered_once(gateway, llm):
    chat = gateway().embedded
    chat.send("hello", message_id="update-1")
    chat.send("hello", message_id="update-1")
    chat.wait_for(1)
    chat.send("hello", message_id="update-1")
    chat.send("next", message_id="update-2")
    replies = chat.wait_for(2)
    assert [r.text for r in replies] == ["echo: hello", "echo: next"]
    assert len(llm.received()) == 2


def test_redelivery_after_a_restart_is_answered_once(gateway, llm):
    system = gateway()
    system.embedded.send("hello", message_id="update-7")
    system.embedded.wait_for(1)
    system.stop()
    restarted = gateway()
    restarted.embedded.send("hello", message_id="update-7")
    restarted.embedded.send("after restart", message_id="update-8")
    assert [r.text for r in restarted.embedded.wait_for(1)] == ["echo: after restart"]
    assert len(llm.received()) == 2


def test_a_new_message_interrupts_and_both_are_answered_together(gateway, llm):
    chat = gateway().embedded
    chat.send("[hold:slow] long task")
    llm.wait_for_requests(1)
    chat.send("never mind, quick one")
    second = llm.wait_for_requests(2)[-1]
    assert [m["content"] for m in second["messages"][1:]] == [
        "[hold:slow] long task",
        "never mind, quick one",
    ]
    (reply,) = chat.wait_for(1)
    assert reply.text == "echo: never mind, quick one"


def test_queue_mode_answers_each_message(gateway, llm):
    chat = gateway(HERMES_BUSY_INPUT_MODE="queue").embedded
    chat.send("[hold:slow] first")
    llm.wait_for_requests(1)
    chat.send("second")
    notice = chat.wait_for(1)[0]
    assert notice.kind is OutboundKind.NOTICE
    llm.release("slow")
    replies = chat.wait_for(3)
    assert [r.text for r in replies[1:]] == ["echo: [hold:slow] first", "echo: second"]


def test_stop_works_while_the_model_is_busy(gateway, llm):
    chat = gateway().embedded
    chat.send("[hold:slow] endless")
    llm.wait_for_requests(1)
    chat.send("/stop")
    assert chat.wait_for(1)[0].text.startswith("⚡ Stopping")
    chat.send("are you there?")
    assert chat.wait_for(2)[-1].text == "echo: are you there?"


def test_a_long_reply_is_split_in_order(gateway, llm):
    chat = gateway(max_message_length=100).embedded
    words = " ".join(f"w{i}" for i in range(120))
    chat.send(words)
    llm.wait_for_requests(1)
    chat.wait_for(1)
    replies = chat.outbox()  # the chunks of one delivery are recorded together
    assert len(replies) > 1
    assert all(len(r.text) <= 100 for r in replies)
    assert " ".join(r.text for r in replies).split() == f"echo: {words}".split()


def test_an_idle_session_passivates_and_continues_from_the_store(gateway, llm):
    system = gateway(HERMES_IDLE_PASSIVATE_SECONDS="0.2")
    chat = system.embedded
    chat.send("remember: blue")
    chat.wait_for(1)
    assert live_sessions(system) == 1
    wait_until(lambda: live_sessions(system) == 0, what="passivation")
    chat.send("what colour?")
    assert chat.wait_for(2)[-1].text == "echo: what colour?"
    assert [m["content"] for m in llm.received()[-1]["messages"][1:]] == [
        "remember: blue",
        "echo: remember: blue",
        "what colour?",
    ]


def test_many_sessions_passivate_back_to_no_live_actors(gateway, llm):
    system = gateway(HERMES_IDLE_PASSIVATE_SECONDS="0.2")
    chat = system.embedded
    for index in range(50):
        chat.send(f"hi {index}", EmbeddedChat(chat_id=f"chat-{index}"))
    chat.wait_for(50, timeout=20)
    wait_until(lambda: live_sessions(system) == 0, timeout=10, what="all sessions passivated")
    chat.send("back", EmbeddedChat(chat_id="chat-7"))
    assert [m["content"] for m in llm.wait_for_requests(51)[-1]["messages"][1:]] == [
        "hi 7",
        "echo: hi 7",
        "back",
    ]


def test_sethome_is_effective_at_once_and_survives_a_restart(gateway, llm):
    system = gateway()
    chat = system.embedded
    chat.send("/sethome", EmbeddedChat(chat_id="ops-room"))
    assert chat.wait_for(1)[0].text.startswith("✅ Home channel set to ops-room")
    system.deliver("embedded", "first delivery")
    assert chat.wait_for(2, chat_id="ops-room")[-1].text == "first delivery"
    system.stop()
    restarted = gateway()
    restarted.deliver("embedded", "after restart")
    assert restarted.embedded.wait_for(1, chat_id="ops-room")[0].text == "after restart"


def test_a_delivery_to_a_platform_without_home_is_reported(gateway):
    system = gateway()
    requester = RecordingAddress("requester")
    system.deliver("embedded", "nowhere to go", reply_to=requester)
    assert "no home channel" in requester.expect(DeliveryFailed).reason
