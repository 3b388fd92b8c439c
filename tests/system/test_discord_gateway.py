"""The whole gateway on Discord: real discord.py against the fake Discord, the fake model."""

from __future__ import annotations

import re

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.discord_platform import DiscordPlatform, DiscordSettings
from hermes.adapters.platforms.embedded import EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.ports import PlatformState
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import Reply
from tests.fakes.waiting import wait_until

FENCE = re.compile(r"^ {0,3}```", re.MULTILINE)


@pytest.fixture
def discord_fake():
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def gateway(tmp_path, llm, discord_fake):
    """Starts the gateway with a Discord adapter (and any other platforms); stops it after."""
    systems = []

    def start(*, token: str | None = None, others=(), **discord) -> DiscordPlatform:
        environ = {
            "API_SERVER_ENABLED": "false",
            "GATEWAY_ALLOW_ALL_USERS": "true",
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        platform = DiscordPlatform(
            DiscordSettings(
                token=token or discord_fake.token,
                api_base=discord_fake.api_base,
                gateway_url=discord_fake.gateway_url,
                **discord,
            )
        )
        overrides = SystemOverrides(platforms=(platform, *others), admin_socket=False)
        systems.append(start_system(config, overrides))
        return platform

    yield start
    llm.release("slow")
    for system in systems:
        system.stop()


def running(platform: DiscordPlatform) -> DiscordPlatform:
    wait_until(lambda: platform.health().state is PlatformState.RUNNING, what="Discord running")
    return platform


def user_texts(body) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def test_a_direct_message_is_answered(gateway, discord_fake):
    running(gateway())
    alice = discord_fake.add_user("alice")
    discord_fake.send_dm(alice, "hello")
    (reply,) = discord_fake.wait_for_sent(1, discord_fake.dm_channel_id(alice))
    assert reply.content == "echo: hello"
    assert reply.reference_id is None


def test_two_people_in_one_channel_have_separate_conversations(gateway, discord_fake, llm):
    running(gateway(free_response_channels=(str(discord_fake.free.id),)))
    alice, bob = discord_fake.add_user("alice"), discord_fake.add_user("bob")
    first = discord_fake.send_channel(discord_fake.free, alice, "I am Alice")
    discord_fake.wait_for_sent(1)
    second = discord_fake.send_channel(discord_fake.free, bob, "who am I?")
    replies = discord_fake.wait_for_sent(2, discord_fake.free.id)
    assert [r.content for r in replies] == ["echo: I am Alice", "echo: who am I?"]
    assert [r.reference_id for r in replies] == [int(first["id"]), int(second["id"])]
    assert user_texts(llm.received()[-1]) == ["who am I?"]


def test_in_guild_channels_the_bot_answers_only_when_mentioned(gateway, discord_fake, llm):
    running(gateway())
    alice, bot = discord_fake.add_user("alice"), discord_fake.bot
    discord_fake.send_channel(discord_fake.general, alice, "just chatting")
    discord_fake.send_channel(
        discord_fake.general, alice, f"<@{bot.id}> what's up?", mentions=[bot]
    )
    (reply,) = discord_fake.wait_for_sent(1, discord_fake.general.id)
    assert reply.content == "echo: what's up?"
    assert [user_texts(body) for body in llm.received()] == [["what's up?"]]


def test_a_reply_to_a_thread_message_lands_in_the_thread(gateway, discord_fake):
    running(gateway())
    alice, bot = discord_fake.add_user("alice"), discord_fake.bot
    question = discord_fake.send_thread(
        discord_fake.thread, alice, f"<@{bot.id}> plan the trip", mentions=[bot]
    )
    (reply,) = discord_fake.wait_for_sent(1)
    assert reply.channel_id == discord_fake.thread.id
    assert (reply.content, reply.reference_id) == ("echo: plan the trip", int(question["id"]))


def long_reply() -> str:
    prose = [f"Paragraph {i:03d}: " + "lorem ipsum dolor sit amet " * 5 for i in range(30)]
    code = [f"line_{j:03d} = {j}  # a long comment to fill the line up" for j in range(90)]
    tail = [f"Paragraph {i:03d}: " + "consectetur adipiscing elit " * 5 for i in range(30, 40)]
    return "\n\n".join([*prose, "```python\n" + "\n".join(code) + "\n```", *tail, "END"])


def test_a_long_reply_arrives_in_ordered_chunks_within_the_limit(gateway, discord_fake, llm):
    text = long_reply()
    assert 9_500 < len(text) < 11_000
    llm.script(lambda _body: Reply(text=text))
    running(gateway())
    alice = discord_fake.add_user("alice")
    discord_fake.send_dm(alice, "write a lot")
    wait_until(lambda: discord_fake.sent() and discord_fake.sent()[-1].content.endswith("END"))
    chunks = [m.content for m in discord_fake.sent()]
    assert len(chunks) >= 5
    assert all(len(chunk) <= 2000 for chunk in chunks)
    assert all(len(FENCE.findall(chunk)) % 2 == 0 for chunk in chunks)
    joined = "\n".join(chunks)
    markers = re.findall(r"Paragraph \d{3}|line_\d{3}", joined)
    expected = [f"Paragraph {i:03d}" for i in range(30)] + [f"line_{j:03d}" for j in range(90)]
    assert markers == expected + [f"Paragraph {i:03d}" for i in range(30, 40)]
    assert discord_fake.rejections() == []


def test_a_redispatched_message_is_answered_once(gateway, discord_fake, llm):
    running(gateway())
    alice = discord_fake.add_user("alice")
    hello = discord_fake.send_dm(alice, "hello")
    discord_fake.wait_for_sent(1)
    discord_fake.redispatch(hello)
    discord_fake.send_dm(alice, "next")
    replies = discord_fake.wait_for_sent(2)
    assert [r.content for r in replies] == ["echo: hello", "echo: next"]
    assert len(llm.received()) == 2


def test_the_bot_types_while_the_model_thinks(gateway, discord_fake, llm):
    running(gateway())
    alice = discord_fake.add_user("alice")
    dm = discord_fake.dm_channel_id(alice)
    discord_fake.send_dm(alice, "[hold:slow] think hard")
    llm.wait_for_requests(1)
    discord_fake.wait_for_typing(1, dm)
    assert discord_fake.sent() == []
    llm.release("slow")
    (reply,) = discord_fake.wait_for_sent(1, dm)
    assert reply.content == "echo: [hold:slow] think hard"


def test_an_invalid_token_leaves_the_rest_of_the_gateway_running(gateway, discord_fake):
    embedded = EmbeddedPlatform()
    platform = gateway(token="not-the-right-token", others=(embedded,))  # noqa: S106
    wait_until(lambda: platform.health().state is PlatformState.FAILED)
    assert platform.health().detail == "Discord rejected the bot token"
    embedded.send("are you there?")
    assert embedded.wait_for(1)[0].text == "echo: are you there?"
