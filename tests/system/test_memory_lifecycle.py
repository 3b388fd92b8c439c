"""The whole gateway with long-term memory (local SQLite) and the fake model calling memory tools.

Isolation of memory between sessions, the flush protocol on /new, expiry with a controllable
clock, and passivation at scale.
"""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pykka
import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.actors.session import SessionActor
from hermes.adapters.memory.local_memory import LocalMemoryProvider
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.delivery import OutboundKind
from hermes.messages.memory import MemoryScope
from hermes.messages.router import GetRouterStatus
from hermes.messages.values import Platform, Sender
from hermes.policies import texts
from tests.fakes.llm_server import Reply, last_user_text, tool_results
from tests.fakes.recording import FakeClock
from tests.fakes.waiting import wait_until


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def gateway(tmp_path, llm, clock):
    systems = []

    def start(**env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "10",
            "HERMES_BUSY_INPUT_MODE": "queue",
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        overrides = SystemOverrides(
            platforms=(EmbeddedPlatform(),), admin_socket=False, clock=clock
        )
        system = start_system(config, overrides)
        systems.append(system)
        return system

    yield start
    llm.release("flush")
    for system in systems:
        system.stop()


def is_flush(body) -> bool:
    return last_user_text(body) == texts.FLUSH_PROMPT


def conclude_then_answer(body) -> Reply:
    """The model saves a fact about whoever spoke, then answers."""
    if is_flush(body):
        return Reply(text="saved")
    if tool_results(body):
        return Reply(text="noted")
    fact = last_user_text(body)
    return Reply(tool_calls=(("memory_conclude", {"conclusion": f"fact: {fact}"}),))


def profile_of(home, scope: str, user_id: str) -> str:
    provider = LocalMemoryProvider(home / "memory.db")
    try:
        manager = provider.open(
            MemoryScope(scope=scope, session_key=scope, platform=Platform.EMBEDDED)
        )
        handle = manager.for_user(Sender(user_id=user_id))
        text = asyncio.run(handle.profile())
        manager.close()
    finally:
        provider.close(5.0)
    return text


def test_fifty_sessions_at_once_each_write_only_their_own_memory(gateway, llm, tmp_path):
    llm.script(conclude_then_answer)
    system = gateway()
    chat = system.embedded
    with ThreadPoolExecutor(8) as pool:
        for index in range(50):
            pool.submit(
                chat.send,
                f"I am user {index}",
                EmbeddedChat(chat_id=f"c{index}", user_id=f"u{index}"),
            )
    chat.wait_for(50, timeout=30)
    system.stop()
    for index in (0, 17, 49):
        profile = profile_of(tmp_path / "home", f"agent:main:embedded:dm:c{index}", f"u{index}")
        assert re.findall(r"fact: I am user (\d+)", profile) == [str(index)]


def test_new_flushes_the_old_session_before_the_new_one_answers(gateway, llm):
    llm.script(lambda body: Reply(text="saved") if is_flush(body) else None)
    chat = gateway().embedded
    chat.send("my cat is called Tom")
    chat.wait_for(1)
    chat.send("and my dog is Rex")
    chat.wait_for(2)
    chat.send("/new")
    chat.send("who is Tom?")
    replies = chat.wait_for(4)
    assert replies[2].text == texts.RESET_DONE
    assert replies[3].text == "echo: who is Tom?"
    bodies = llm.received()
    assert is_flush(bodies[2])
    flushed = [m["content"] for m in bodies[2]["messages"] if m["role"] != "system"]
    assert "my cat is called Tom" in flushed
    new_session = [m["content"] for m in bodies[3]["messages"] if m["role"] != "system"]
    assert new_session == ["who is Tom?"]


def test_messages_during_a_slow_flush_are_answered_in_order(gateway, llm):
    llm.script(lambda body: Reply(text="saved", hold="flush") if is_flush(body) else None)
    chat = gateway().embedded
    for count, text in enumerate(("one", "two"), start=1):
        chat.send(text)
        chat.wait_for(count)
    chat.send("/new")
    wait_until(lambda: any(is_flush(b) for b in llm.received()), what="the flush turn")
    for text in ("a", "b", "c"):
        chat.send(text)
    llm.release("flush")

    def answers():
        return [m.text for m in chat.outbox() if m.kind is OutboundKind.REPLY]

    wait_until(lambda: len(answers()) == 5, timeout=10, what="five answers")
    assert answers() == ["echo: one", "echo: two", "echo: a", "echo: b", "echo: c"]
    assert texts.RESET_DONE in [m.text for m in chat.outbox()]


def test_an_expired_session_is_finalized_once_even_across_a_restart(gateway, llm, clock):
    llm.script(lambda body: Reply(text="saved") if is_flush(body) else None)
    policy = {"SESSION_RESET_MODE": "idle", "SESSION_IDLE_MINUTES": "60"}
    system = gateway(
        HERMES_EXPIRY_CHECK_SECONDS="0.05", HERMES_IDLE_PASSIVATE_SECONDS="0.2", **policy
    )
    chat = system.embedded
    chat.send("remember the milk")
    chat.wait_for(1)
    chat.send("and the bread")
    chat.wait_for(2)
    clock.advance(hours=2)
    wait_until(lambda: any(is_flush(b) for b in llm.received()), what="a flush after expiry")
    wait_until(lambda: system.router.ask(GetRouterStatus(), timeout=2).live_sessions == 0)
    flushes = sum(is_flush(b) for b in llm.received())
    system.stop()
    clock.advance(hours=2)
    restarted = gateway(HERMES_EXPIRY_CHECK_SECONDS="0.05", **policy)
    restarted.embedded.send("hello again")
    reply = restarted.embedded.wait_for(1)[0]
    assert reply.text == "echo: hello again"
    assert sum(is_flush(b) for b in llm.received()) == flushes == 1
    fresh = [m["content"] for m in llm.received()[-1]["messages"] if m["role"] != "system"]
    assert fresh == ["hello again"]


def test_two_thousand_sessions_passivate_and_continue(gateway, clock):
    system = gateway(
        HERMES_IDLE_PASSIVATE_SECONDS="0.5", HERMES_MEMORY_PROVIDER="none", HERMES_MODEL=""
    )
    chat = system.embedded
    baseline = threading.active_count()
    for index in range(2000):
        chat.send(f"hello {index}", EmbeddedChat(chat_id=f"chat-{index}"))
    chat.wait_for(2000, timeout=60)
    assert system.router.ask(GetRouterStatus(), timeout=5).live_sessions == 2000
    clock.advance(seconds=1)  # the sessions' idle time is measured on the gateway's clock
    wait_until(
        lambda: system.router.ask(GetRouterStatus(), timeout=5).live_sessions == 0,
        timeout=60,
        what="all 2,000 sessions passivated",
    )

    def session_actors() -> int:
        return len(pykka.ActorRegistry.get_by_class(SessionActor))

    wait_until(lambda: session_actors() == 0, timeout=30, what="session actors freed")
    assert threading.active_count() <= baseline  # sessions run on the pool: no thread each
    for index in (0, 999, 1999):
        chat.send("/status", EmbeddedChat(chat_id=f"chat-{index}"))
    statuses = chat.wait_for(2003, timeout=30)[2000:]
    assert all("Messages: 2" in status.text for status in statuses)  # history back from the Store
