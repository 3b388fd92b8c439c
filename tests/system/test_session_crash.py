"""A session actor that crashes, and turns that would leave a session stuck, in the whole gateway.

The embedded chat platform, the real OpenAI agent against the fake model on loopback, and a
memory provider (an external port) that fails on purpose: its ``record`` raises on a marked
message, so the SessionActor crashes while it handles that turn's completion; a memory tool
that calls ``sys.exit`` tests the runtime's containment end to end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.actors.admin_cli import render_status
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.delivery import OutboundKind, OutboundMessage
from hermes.messages.router import GetRouterStatus
from hermes.messages.values import Sender
from hermes.policies import texts
from tests.fakes.llm_server import last_user_text, tool_then_answer
from tests.fakes.memory import FakeHandle, FakeManager, FakeMemoryProvider
from tests.fakes.stubborn_agent import StubbornAgent
from tests.fakes.waiting import wait_until

CRASH_MARKER = "[crash]"
EXIT_MARKER = "[exit]"
ALICE, BOB = (
    EmbeddedChat(chat_id="alice", user_id="alice"),
    EmbeddedChat(chat_id="bob", user_id="bob"),
)


class BrokenMemoryError(RuntimeError):
    """What the memory provider raises on a marked message."""


@dataclass
class ExitingHandle(FakeHandle):
    async def search(self, query: str) -> str:
        raise SystemExit(f"a tool exited while searching {query!r}")


@dataclass
class BrokenManager(FakeManager):
    def for_user(self, sender: Sender) -> FakeHandle:
        return ExitingHandle(scope=self.scope.scope, user_id=sender.user_id)

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        if any(CRASH_MARKER in text for text in inputs):
            raise BrokenMemoryError("the memory backend failed on a marked message")
        super().record(session_id, sender, inputs, reply)


@dataclass
class BrokenMemory(FakeMemoryProvider):
    """Records like the fake provider; raises on marked messages and exits in memory_search."""

    def open(self, scope):
        with self.lock:
            self.opened.append(scope)
        return BrokenManager(scope=scope, log=self.log, lock=self.lock)

    def opens(self, chat_id: str) -> int:
        with self.lock:
            return sum(1 for scope in self.opened if scope.session_key.endswith(f":{chat_id}"))


@pytest.fixture
def gateway(tmp_path, llm):
    systems = []

    def start(memory=None, agent=None, **env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        overrides = SystemOverrides(
            platforms=(EmbeddedPlatform(),), admin_socket=False, memory=memory, agent=agent
        )
        system = start_system(config, overrides)
        systems.append(system)
        return system

    yield start
    for tag in ("bob", "alice"):
        llm.release(tag)
    for system in systems:
        system.stop()


def router_status(system):
    return system.router.ask(GetRouterStatus(), timeout=2.0)


def replies_to(chat_id: str, chat) -> list[OutboundMessage]:
    return [m for m in chat.outbox(chat_id) if m.kind is OutboundKind.REPLY]


def history_of(body) -> list[str]:
    return [m["content"] for m in body["messages"][1:]]


def test_a_crashed_session_is_noticed_and_restarted_and_no_other_session_notices(
    gateway, llm, caplog
):
    memory = BrokenMemory()
    system = gateway(memory=memory)
    chat = system.embedded
    chat.send("hello", ALICE)
    assert chat.wait_for(1, chat_id="alice")[-1].text == "echo: hello"
    chat.send("[hold:bob] a long question", BOB)  # bob's turn runs through alice's crash
    llm.wait_for_requests(2)
    with caplog.at_level(logging.ERROR, logger="hermes.actors.router"):
        chat.send("[crash] boom", ALICE)
        wait_until(lambda: router_status(system).crashes == 1, what="the router noticing")
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "hermes.actors.router"]
    assert "agent:main:embedded:dm:alice" in logged
    assert "BrokenMemoryError" in logged

    chat.send("are you back?", ALICE)
    replies = wait_until(lambda: replies_to("alice", chat)[1:], what="alice answered again")
    assert [r.text for r in replies] == ["echo: are you back?"]
    assert history_of(llm.received()[-1]) == ["hello", "echo: hello", "are you back?"], (
        "re-activated from the Store: the transcript up to the crash, without the crashed turn"
    )

    llm.release("bob")
    assert chat.wait_for(1, chat_id="bob")[-1].text == "echo: [hold:bob] a long question"
    chat.send("and now?", BOB)
    assert chat.wait_for(2, chat_id="bob")[-1].text == "echo: and now?"
    assert history_of(llm.received()[-1]) == [
        "[hold:bob] a long question",
        "echo: [hold:bob] a long question",
        "and now?",
    ]
    assert (memory.opens("alice"), memory.opens("bob")) == (2, 1), "bob's session never restarted"
    assert [m.kind for m in chat.outbox("bob")] == [OutboundKind.REPLY, OutboundKind.REPLY]
    assert router_status(system).crashes == 1


def test_the_user_of_a_crashed_turn_is_told_and_the_message_is_not_run_again(gateway, llm):
    system = gateway(memory=BrokenMemory())
    chat = system.embedded
    chat.send("[crash] boom", ALICE, message_id="m-1")
    notice = chat.wait_for(1, chat_id="alice", timeout=3.0)[-1]
    assert (notice.text, notice.kind) == (texts.CRASHED, OutboundKind.ERROR)
    system.stop()
    restarted = gateway(memory=BrokenMemory())
    restarted.embedded.send("after the restart", ALICE, message_id="m-2")
    replies = restarted.embedded.wait_for(1, chat_id="alice")
    assert [r.text for r in replies] == ["echo: after the restart"]
    assert [last_user_text(body) for body in llm.received()] == [
        "[crash] boom",
        "after the restart",
    ]


def test_a_tool_calling_sys_exit_fails_one_turn_and_stops_nothing(gateway, llm):
    def rule(body):
        if EXIT_MARKER in last_user_text(body):
            return tool_then_answer("memory_search", {"query": "anything"}, "unreachable")(body)
        return None

    llm.script(rule)
    system = gateway(memory=BrokenMemory())
    chat = system.embedded
    chat.send("[hold:bob] slow one", BOB)
    chat.send(f"{EXIT_MARKER} look me up", ALICE)
    failure = chat.wait_for(1, chat_id="alice")[-1]
    assert failure.kind is OutboundKind.ERROR
    assert "(SystemExit)" in failure.text
    llm.release("bob")
    assert chat.wait_for(1, chat_id="bob")[-1].text == "echo: [hold:bob] slow one"
    chat.send("still there?", ALICE)
    assert chat.wait_for(2, chat_id="alice")[-1].text == "echo: still there?"
    assert router_status(system).crashes == 0
    assert system.runtime.status(2.0).failed == 1


@pytest.fixture
def stubborn():
    agent = StubbornAgent()
    yield agent
    agent.release()


def running_turns(system) -> list[dict[str, Any]]:
    result = system.admin.run({"command": "status"})
    assert result["ok"], result
    return result["result"]["turns"]["running"]


def test_admin_status_shows_an_overdue_turn_and_the_watchdog_unsticks_its_chat(gateway, stubborn):
    system = gateway(agent=stubborn, HERMES_TURN_TIMEOUT="1")
    chat = system.embedded
    chat.send("think forever", ALICE)
    (young,) = wait_until(lambda: running_turns(system), what="the turn running")
    assert (young["over_timeout"], young["abandoned"]) == (False, False)
    assert young["session_key"].endswith(":alice")
    assert system.admin.run({"command": "status"})["result"]["turns"]["timeout_seconds"] == 1.0

    (overdue,) = wait_until(
        lambda: [t for t in running_turns(system) if t["over_timeout"]], what="overdue"
    )
    assert overdue["running_seconds"] >= 1.0
    text = render_status(system.admin.run({"command": "status"})["result"])
    assert "OVER TIMEOUT" in text
    assert f"{young['session_key']}: " in text

    timed_out = chat.wait_for(1, chat_id="alice", timeout=10.0)[-1]
    assert timed_out.text == texts.turn_timed_out(1.0)
    (abandoned,) = running_turns(system)
    assert (abandoned["over_timeout"], abandoned["abandoned"]) == (True, True)
    assert "abandoned" in render_status(system.admin.run({"command": "status"})["result"])

    chat.send("quick, are you free?", ALICE)
    assert chat.wait_for(2, chat_id="alice")[-1].text == "answer to quick, are you free?"
    stubborn.release()
    wait_until(lambda: not running_turns(system), what="the abandoned turn ending")
    assert len(chat.outbox("alice")) == 2, "the late answer was dropped"


def test_stop_frees_a_chat_whose_turn_ignores_cancellation(gateway, stubborn):
    system = gateway(agent=stubborn)
    chat = system.embedded
    chat.send("think forever", ALICE)
    wait_until(lambda: running_turns(system), what="the turn running")
    chat.send("/stop", ALICE)
    assert chat.wait_for(1, chat_id="alice")[-1].text == texts.STOPPING
    chat.send("quick, still there?", ALICE)
    replies = chat.wait_for(2, chat_id="alice", timeout=10.0)
    assert replies[-1].text == "answer to quick, still there?"
    assert router_status(system).crashes == 0
