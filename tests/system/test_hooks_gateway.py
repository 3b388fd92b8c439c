"""User hooks in the whole gateway: the events a conversation emits reach a real hook in
``$HERMES_HOME/hooks`` with their payloads, while a hook that raises and one that hangs past its
timeout change nothing for the people talking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from tests.fakes.waiting import wait_until

ALICE = EmbeddedChat(chat_id="alice-chat", user_id="alice", user_name="Alice")
KEY = "agent:main:embedded:dm:alice-chat"

RECORDER = """
import json, pathlib
LOG = pathlib.Path(__file__).with_name("events.jsonl")

def handle(event_type, context):
    with LOG.open("a") as log:
        log.write(json.dumps({"event": event_type, "context": context}) + "\\n")
"""
RAISER = """
def handle(event_type, context):
    context.clear()  # a hook may do anything to its own copy
    raise RuntimeError("this hook is broken")
"""
SLEEPER = """
import pathlib, time
RELEASE = pathlib.Path(__file__).with_name("release")

def handle(event_type, context):
    deadline = time.monotonic() + 30
    while not RELEASE.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def install(home: Path, name: str, events: str, handler: str) -> Path:
    directory = home / "hooks" / name
    directory.mkdir(parents=True)
    (directory / "HOOK.yaml").write_text(f"name: {name}\nevents: {events}\n")
    (directory / "handler.py").write_text(textwrap.dedent(handler))
    return directory


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def gateway(home, llm):
    systems = []

    def start():
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            "HERMES_HOOK_TIMEOUT": "0.5",
            "HERMES_MEMORY_PROVIDER": "none",
        }
        config = load_config(home=home, environ=environ).config
        overrides = SystemOverrides(platforms=(EmbeddedPlatform(),), admin_socket=False)
        system = start_system(config, overrides)
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()


def recorded(directory: Path) -> list[dict[str, Any]]:
    log = directory / "events.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_conversation_emits_its_events_and_bad_hooks_change_nothing(gateway, home):
    recorder = install(home, "recorder", '["*"]', RECORDER)
    install(home, "raiser", '["agent:*", "command:*"]', RAISER)
    sleeper = install(home, "sleeper", "[agent:start]", SLEEPER)
    system = gateway()
    chat = system.embedded

    chat.send("hello", ALICE)
    assert chat.wait_for(1, timeout=10.0)[0].text == "echo: hello"
    chat.send("/new", ALICE)
    chat.wait_for(2, timeout=10.0)
    chat.send("again", ALICE)
    assert chat.wait_for(3, timeout=10.0)[-1].text == "echo: again"

    wait_until(lambda: len(recorded(recorder)) >= 10, 10.0, "ten events recorded")
    events = recorded(recorder)
    assert [e["event"] for e in events] == [
        "gateway:startup",
        "session:start",
        "agent:start",
        "agent:end",
        "command:new",
        "session:end",
        "session:reset",
        "session:start",
        "agent:start",
        "agent:end",
    ]
    context = [e["context"] for e in events]
    assert context[0] == {"platforms": ["embedded"]}
    first_id, second_id = context[1]["session_id"], context[7]["session_id"]
    assert first_id != second_id
    common = {"platform": "embedded", "user_id": "alice", "session_key": KEY}
    assert context[1] == {**common, "session_id": first_id}
    assert context[2] == {**common, "session_id": first_id, "message": "hello"}
    assert context[3] == {
        **common,
        "session_id": first_id,
        "message": "hello",
        "response": "echo: hello",
    }
    assert context[4] == {**common, "session_id": first_id, "command": "new", "args": ""}
    assert context[5] == {**common, "session_id": first_id, "reason": "user"}
    assert context[6] == {**common, "session_id": second_id, "reason": "user"}
    assert context[9]["response"] == "echo: again"

    runner = system.hooks
    assert runner is not None

    def hook(name: str):
        return next(h for h in runner.status().hooks if h.name == name)

    wait_until(lambda: hook("raiser").calls == 5, 10.0, "the raiser called five times")
    assert hook("raiser").failures == 5  # agent:start, agent:end (twice), command:new
    # The conversation did not wait for it: the sleeper times out only now, and misses the
    # second agent:start while its first call hangs on.
    wait_until(lambda: hook("sleeper").missed == 1, 10.0, "the sleeper skipped an event")
    assert (hook("sleeper").calls, hook("sleeper").timeouts) == (1, 1)
    (sleeper / "release").touch()
