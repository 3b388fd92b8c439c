"""Telegram and Discord enabled the way users do it: by configuration alone.

The gateway builds the adapters from the environment (tokens, server URLs, allowlists) and
serves only allowlisted users; ``/sethome`` picks a home channel that deliveries reach at once.
"""

from __future__ import annotations

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.config import load_config
from hermes.messages.router import GetRouterStatus
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.telegram_server import FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

ALICE = FakeUser(1001, "Alice", username="alice")
MALLORY = FakeUser(6666, "Mallory", username="mallory")


@pytest.fixture
def gateway(tmp_path, llm):
    systems = []

    def start(**env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        system = start_system(config, SystemOverrides(admin_socket=False))
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()


def platform_state(system, platform: str) -> str:
    status = system.admin.run({"command": "status"})["result"]
    return next(p["state"] for p in status["platforms"] if p["platform"] == platform)


def test_telegram_from_config_serves_only_the_allowlist_and_delivers_home(gateway):
    with FakeTelegram(bot_username="hermes_bot") as telegram:
        system = gateway(
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_BASE_URL=telegram.base_url,
            TELEGRAM_ALLOWED_USERS=str(ALICE.id),
        )
        wait_until(lambda: platform_state(system, "telegram") == "running", 10.0)
        telegram.send_text(private_chat(MALLORY), MALLORY, "let me in")
        telegram.send_text(private_chat(ALICE), ALICE, "hello")
        (reply,) = telegram.wait_for_sent(1, chat_id=ALICE.id)
        assert reply.text == "echo: hello"
        wait_until(lambda: system.router.ask(GetRouterStatus(), 2).unauthorized_dropped == 1)
        assert [m.chat_id for m in telegram.sent] == [ALICE.id]
        telegram.send_text(private_chat(ALICE), ALICE, "/sethome")
        telegram.wait_for_sent(2, chat_id=ALICE.id)
        system.deliver("telegram", "the daily digest")
        assert telegram.wait_for_sent(3, chat_id=ALICE.id)[-1].text == "the daily digest"
        commands = [c["command"] for c in telegram.commands]
        assert {"new", "status", "stop", "help", "queue", "sethome"} <= set(commands)


def test_a_rejected_telegram_token_leaves_the_gateway_running(gateway):
    with FakeTelegram(bot_username="hermes_bot") as telegram:
        system = gateway(
            TELEGRAM_BOT_TOKEN="999:wrong",  # noqa: S106  (a token the fake rejects)
            TELEGRAM_BASE_URL=telegram.base_url,
            GATEWAY_ALLOW_ALL_USERS="true",
        )
        wait_until(lambda: platform_state(system, "telegram") == "failed", 10.0)
        status = system.admin.run({"command": "status"})["result"]
        detail = next(p["detail"] for p in status["platforms"] if p["platform"] == "telegram")
        assert "999:wrong" not in detail


def test_discord_from_config_answers_an_allowlisted_dm(gateway):
    with FakeDiscord() as discord:
        alice = discord.add_user("alice")
        system = gateway(
            DISCORD_BOT_TOKEN=discord.token,
            DISCORD_API_BASE=discord.api_base,
            DISCORD_GATEWAY_URL=discord.gateway_url,
            DISCORD_ALLOWED_USERS="alice",
        )
        wait_until(lambda: platform_state(system, "discord") == "running", 10.0)
        discord.send_dm(alice, "hello")
        (reply,) = discord.wait_for_sent(1, discord.dm_channel_id(alice))
        assert reply.content == "echo: hello"
