"""The whole gateway with Honcho memory: the real honcho-ai SDK against a fake Honcho server.

Scope derived from the session key (not the rotating session id), one peer per platform user,
/new keeping the long-term scope, and the flush turn's own messages never written back.
"""

from __future__ import annotations

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.values import ChatType
from hermes.policies import texts
from tests.fakes.honcho_server import FakeHoncho
from tests.fakes.llm_server import Reply, last_user_text, tool_results


@pytest.fixture
def honcho():
    with FakeHoncho() as fake:
        yield fake


@pytest.fixture
def gateway(tmp_path, llm, honcho):
    systems = []

    def start():
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_MEMORY_PROVIDER": "honcho",
            "HONCHO_BASE_URL": honcho.base_url,
            "HONCHO_WORKSPACE_ID": "hermes",
            "HERMES_SHUTDOWN_TIMEOUT": "10",
            "HERMES_BUSY_INPUT_MODE": "queue",
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        overrides = SystemOverrides(platforms=(EmbeddedPlatform(),), admin_socket=False)
        system = start_system(config, overrides)
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()


def is_flush(body) -> bool:
    return last_user_text(body) == texts.FLUSH_PROMPT


def flush_concludes(body) -> Reply | None:
    """In a flush, the model saves one conclusion and stops; otherwise it echoes."""
    if not is_flush(body):
        return None
    if tool_results(body):
        return Reply(text="done")
    return Reply(tool_calls=(("memory_conclude", {"conclusion": "likes green tea"}),))


SCOPE = "agent-main-embedded-group--100-u1"


def test_turns_land_in_the_scope_of_the_key_with_one_peer_per_user(gateway, honcho):
    chat = gateway().embedded
    chat.send("hi from alice", EmbeddedChat(user_id="u1", chat_id="-100", chat_type=ChatType.GROUP))
    chat.send("hi from bob", EmbeddedChat(user_id="u2", chat_id="-100", chat_type=ChatType.GROUP))
    chat.wait_for(2)
    alice = honcho.wait_for_messages(SCOPE, 2)
    bob = honcho.wait_for_messages("agent-main-embedded-group--100-u2", 2)
    assert [m["content"] for m in alice] == ["hi from alice", "echo: hi from alice"]
    assert [m["content"] for m in bob] == ["hi from bob", "echo: hi from bob"]
    assert alice[0]["peer_id"] != bob[0]["peer_id"]
    assert alice[1]["peer_id"] == bob[1]["peer_id"] == "hermes"


def test_new_keeps_the_scope_and_the_flush_is_not_written_back(gateway, honcho, llm):
    llm.script(flush_concludes)
    chat = gateway().embedded
    me = EmbeddedChat(user_id="u1", chat_id="-100", chat_type=ChatType.GROUP)
    for count, text in enumerate(("I drink green tea", "every morning"), start=1):
        chat.send(text, me)
        chat.wait_for(count)
    chat.send("/new", me)
    chat.send("after the reset", me)
    chat.wait_for(4)
    stored = honcho.wait_for_messages(SCOPE, 6)
    contents = [m["content"] for m in stored]
    assert contents == [
        "I drink green tea",
        "echo: I drink green tea",
        "every morning",
        "echo: every morning",
        "after the reset",
        "echo: after the reset",
    ]
    assert texts.FLUSH_PROMPT not in contents
    assert [c["content"] for c in honcho.conclusions()] == ["likes green tea"]
    session_ids = {m["metadata"]["hermes_session_id"] for m in stored}
    assert len(session_ids) == 2  # two gateway sessions, one Honcho session (the scope)
    assert honcho.sessions() == {SCOPE}
