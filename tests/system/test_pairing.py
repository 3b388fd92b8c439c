"""DM pairing end to end: the real Telegram adapter against its fake, approvals as an operator.

A stranger DMs the bot and gets a code; the owner approves it through ``system.admin``; the
user is told and served. Expiry (a FakeClock), the rate limit, the per-platform cap, the lockout
after 5 failed approvals, revocation, and a restart that keeps approvals and the lockout.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.config import load_config
from hermes.messages.router import GetRouterStatus
from hermes.policies.pairing import APPROVED_TEXT, REFUSED_TEXT
from tests.fakes.recording import FakeClock
from tests.fakes.telegram_server import FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

ALICE = FakeUser(1001, "Alice", username="alice")
BOB = FakeUser(1002, "Bob")
CAROL = FakeUser(1003, "Carol")
DAVE = FakeUser(1004, "Dave")
ERIN = FakeUser(1005, "Erin")
CODE = re.compile(r"Your pairing code is ([A-Z2-9]{8})")


@pytest.fixture
def telegram():
    with FakeTelegram(bot_username="hermes_bot") as fake:
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def gateway(tmp_path, llm, telegram, clock):
    systems = []

    def start(**env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        system = start_system(config, SystemOverrides(admin_socket=False, clock=clock))
        systems.append(system)
        wait_until(lambda: telegram_state(system) == "running", 10.0, "telegram running")
        return system

    yield start
    for system in systems:
        system.stop()


def telegram_state(system) -> str:
    status = system.admin.run({"command": "status"})["result"]
    return next(p["state"] for p in status["platforms"] if p["platform"] == "telegram")


def admin(system, command: str, **args: object) -> dict[str, Any]:
    return system.admin.run({"command": command, "args": args})


def say(telegram, user: FakeUser, text: str, count: int) -> str:
    """``user`` DMs ``text``; the bot's ``count``-th message to them is returned."""
    telegram.send_text(private_chat(user), user, text)
    return telegram.wait_for_sent(count, chat_id=user.id)[count - 1].text


def code_for(telegram, user: FakeUser, count: int = 1) -> str:
    text = say(telegram, user, "hello?", count)
    match = CODE.search(text)
    assert match, text
    assert f"python -m hermes.actors admin pairing approve telegram {match.group(1)}" in text
    return match.group(1)


def unauthorized(system) -> int:
    return system.router.ask(GetRouterStatus(), 2.0).unauthorized_dropped


def test_a_stranger_is_paired_approved_told_and_served(gateway, telegram):
    system = gateway()
    code = code_for(telegram, ALICE)

    listed = admin(system, "pairing.list")["result"]
    (pending,) = listed["pending"]
    assert (pending["platform"], pending["user_id"], pending["user_name"]) == (
        "telegram",
        str(ALICE.id),
        "alice",
    )
    assert pending["age_seconds"] == 0
    assert code not in str(listed)

    approved = admin(system, "pairing.approve", platform="telegram", code=f" {code.lower()} ")
    assert approved["ok"], approved
    assert approved["result"]["user_id"] == str(ALICE.id)
    assert telegram.wait_for_sent(2, chat_id=ALICE.id)[1].text == APPROVED_TEXT
    assert say(telegram, ALICE, "hello", 3) == "echo: hello"

    listed = admin(system, "pairing.list")["result"]
    assert listed["pending"] == []
    assert [u["user_id"] for u in listed["approved"]] == [str(ALICE.id)]


def test_an_expired_code_cannot_be_approved(gateway, telegram, clock):
    system = gateway()
    code = code_for(telegram, ALICE)
    clock.advance(hours=1)

    answer = admin(system, "pairing.approve", platform="telegram", code=code)

    assert not answer["ok"]
    assert "no pending code on telegram matches" in answer["error"]
    assert admin(system, "pairing.list")["result"]["pending"] == []
    assert code_for(telegram, ALICE, count=2) != code


def test_one_code_per_user_per_ten_minutes_and_three_per_platform(gateway, telegram, clock):
    system = gateway()
    code_for(telegram, ALICE)
    assert say(telegram, ALICE, "again?", 2) == REFUSED_TEXT
    code_for(telegram, BOB)
    code_for(telegram, CAROL)
    assert say(telegram, DAVE, "me too?", 1) == REFUSED_TEXT
    assert len(admin(system, "pairing.list")["result"]["pending"]) == 3

    clock.advance(minutes=10)
    code_for(telegram, ALICE, count=3)
    assert len(admin(system, "pairing.list")["result"]["pending"]) == 3


def test_five_failed_approvals_lock_pairing_then_a_restart_keeps_it(gateway, telegram, clock):
    system = gateway()
    alice_code = code_for(telegram, ALICE)
    assert admin(system, "pairing.approve", platform="telegram", code=alice_code)["ok"]
    bob_code = code_for(telegram, BOB)
    for attempt in range(1, 5):
        answer = admin(system, "pairing.approve", platform="telegram", code="WRONG234")
        assert f"{5 - attempt} more failed approvals" in answer["error"]
    fifth = admin(system, "pairing.approve", platform="telegram", code="WRONG234")
    assert "is locked until" in fifth["error"]

    locked = admin(system, "pairing.approve", platform="telegram", code=bob_code)
    assert "pairing on telegram is locked" in locked["error"]
    assert say(telegram, CAROL, "hi", 1) == REFUSED_TEXT
    assert admin(system, "pairing.list")["result"]["locked"][0]["platform"] == "telegram"
    system.stop()

    restarted = gateway()
    assert say(telegram, ALICE, "still me", 3) == "echo: still me"
    assert say(telegram, ERIN, "hi", 1) == REFUSED_TEXT
    assert (
        "locked" in admin(restarted, "pairing.approve", platform="telegram", code=bob_code)["error"]
    )

    clock.advance(hours=1)
    assert admin(restarted, "pairing.list")["result"]["locked"] == []
    renewed = code_for(telegram, BOB, count=2)
    assert admin(restarted, "pairing.approve", platform="telegram", code=renewed)["ok"]


def test_revoke_removes_access_at_once(gateway, telegram):
    system = gateway()
    code = code_for(telegram, ALICE)
    assert admin(system, "pairing.approve", platform="telegram", code=code)["ok"]
    assert say(telegram, ALICE, "hello", 3) == "echo: hello"
    before = unauthorized(system)

    revoked = admin(system, "pairing.revoke", platform="telegram", user_id=str(ALICE.id))

    assert revoked["result"] == {
        "platform": "telegram",
        "user_id": str(ALICE.id),
        "revoked": True,
        "withdrew_code": False,
    }
    assert say(telegram, ALICE, "still there?", 4) == REFUSED_TEXT
    assert unauthorized(system) == before + 1
    assert "echo: still there?" not in [m.text for m in telegram.sent]
    again = admin(system, "pairing.revoke", platform="telegram", user_id=str(ALICE.id))
    assert not again["ok"]


def test_with_an_allowlist_strangers_are_ignored_unless_pairing_is_configured(gateway, telegram):
    system = gateway(TELEGRAM_ALLOWED_USERS=str(BOB.id))
    telegram.send_text(private_chat(ALICE), ALICE, "hello?")
    assert say(telegram, BOB, "hi", 1) == "echo: hi"
    wait_until(lambda: unauthorized(system) == 1)
    assert [m.chat_id for m in telegram.sent] == [BOB.id]
    system.stop()

    gateway(TELEGRAM_ALLOWED_USERS=str(BOB.id), TELEGRAM_UNAUTHORIZED_DM_BEHAVIOR="pair")
    code_for(telegram, ALICE)


def test_bad_admin_requests_are_errors(gateway):
    system = gateway()
    assert (
        "unknown chat platform 'irc'"
        in admin(system, "pairing.approve", platform="irc", code="ABCDEFGH")["error"]
    )
    assert (
        "unknown chat platform"
        in admin(system, "pairing.approve", platform="api_server", code="ABCDEFGH")["error"]
    )
    assert "needs the code" in admin(system, "pairing.approve", platform="telegram")["error"]
    assert "needs a user id" in admin(system, "pairing.revoke", platform="telegram")["error"]
