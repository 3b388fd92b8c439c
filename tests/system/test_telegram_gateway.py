"""The whole gateway with the real Telegram adapter (PTB 22) against the fake Bot API, and the
fake model on loopback: what Telegram users see."""

from __future__ import annotations

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedPlatform
from hermes.adapters.platforms.telegram_platform import TelegramPlatform, TelegramSettings
from hermes.config import load_config
from hermes.messages.ports import PlatformState
from hermes.policies.chunking import split_message
from tests.fakes.llm_server import Reply
from tests.fakes.telegram_server import FakeChat, FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

BOT_NAME = "hermes_test_bot"
ALICE = FakeUser(1001, "Alice", username="alice")
BOB = FakeUser(1002, "Bob", username="bob")
GROUP = FakeChat(-2001, "group", title="Team")
FORUM = FakeChat(-1003002, "supergroup", title="Forum", is_forum=True)


@pytest.fixture
def fake():
    with FakeTelegram(bot_username=BOT_NAME) as server:
        yield server


@pytest.fixture
def gateway(tmp_path, llm, fake):
    systems = []

    def start(token: str | None = None, extra=()):
        environ = {
            "API_SERVER_ENABLED": "false",
            "GATEWAY_ALLOW_ALL_USERS": "true",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        telegram = TelegramPlatform(
            TelegramSettings(
                token=token or fake.token,
                base_url=fake.base_url,
                poll_timeout=1.0,
                text_batch_delay=0.0,
                retry_initial_seconds=0.05,
            )
        )
        overrides = SystemOverrides(platforms=(telegram, *extra), admin_socket=False)
        system = start_system(config, overrides)
        systems.append(system)
        return system, telegram

    yield start
    for system in systems:
        system.stop()


def running(telegram: TelegramPlatform) -> None:
    wait_until(lambda: telegram.health().state is PlatformState.RUNNING, 10.0, "telegram running")


def user_texts(body) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] != "system"]


def test_a_direct_message_is_answered(gateway, fake):
    _, telegram = gateway()
    running(telegram)
    fake.send_text(private_chat(ALICE), ALICE, "hello there.")

    (reply,) = fake.wait_for_sent(1, timeout=10.0)

    assert (reply.chat_id, reply.text) == (ALICE.id, "echo: hello there.")
    assert reply.parse_mode == "MarkdownV2"
    assert reply.reply_parameters is None


def test_two_people_in_a_group_have_separate_conversations(gateway, fake, llm):
    gateway()
    fake.send_text(GROUP, ALICE, f"@{BOT_NAME} my secret is 42")
    fake.wait_for_sent(1, timeout=10.0)
    fake.send_text(GROUP, BOB, f"@{BOT_NAME} what is my secret?")

    first, second = fake.wait_for_sent(2, timeout=10.0)

    assert second.text == "echo: what is my secret?"
    assert user_texts(llm.received()[-1]) == ["what is my secret?"]
    assert first.reply_parameters is not None  # each answer quotes its question
    assert second.reply_parameters is not None
    assert first.reply_parameters["message_id"] != second.reply_parameters["message_id"]


def test_in_a_group_only_messages_for_the_bot_are_answered(gateway, fake, llm):
    gateway()
    fake.send_text(GROUP, ALICE, "people talking among themselves")
    fake.send_text(GROUP, BOB, "/status@other_bot")
    fake.send_text(GROUP, BOB, f"@{BOT_NAME} are you there?")

    (reply,) = fake.wait_for_sent(1, timeout=10.0)

    assert reply.text == "echo: are you there?"
    assert [user_texts(body) for body in llm.received()] == [["are you there?"]]


def test_a_reply_in_a_forum_topic_lands_in_that_topic(gateway, fake):
    gateway()
    topic = fake.create_topic(FORUM, "Ideas", ALICE)
    asked = fake.send_text(FORUM, ALICE, f"@{BOT_NAME} an idea?", thread_id=topic)

    (reply,) = fake.wait_for_sent(1, timeout=10.0)

    assert (reply.chat_id, reply.message_thread_id) == (FORUM.id, topic)
    assert reply.reply_parameters == {
        "message_id": asked["message"]["message_id"],
        "allow_sending_without_reply": True,
    }


def test_a_long_answer_arrives_in_order_in_parts_telegram_accepts(gateway, fake, llm):
    line = "Step {n}. Add 2 + 3 = 5 (really!) - then #{n}.\n"
    text = "".join(line.format(n=n) for n in range(400))[:10_000]
    llm.script(lambda _body: Reply(text=text))
    gateway()
    expected = split_message(text, 4096)

    fake.send_text(private_chat(ALICE), ALICE, "the long one, please")
    parts = fake.wait_for_sent(len(expected), timeout=15.0)

    assert len(expected) >= 3
    assert [p.text for p in parts] == list(expected)
    assert all(len(p.text) <= 4096 for p in parts)
    assert any(len(p.raw_text) > 4096 for p in parts)  # escapes do not count against the limit
    assert fake.failures == []


def test_a_redelivered_update_is_answered_once(gateway, fake, llm):
    gateway()
    update = fake.send_text(private_chat(ALICE), ALICE, "hello")
    fake.wait_for_sent(1, timeout=10.0)
    fake.redeliver(update["update_id"])
    fake.send_text(private_chat(ALICE), ALICE, "next")

    replies = fake.wait_for_sent(2, timeout=10.0)

    assert [r.text for r in replies] == ["echo: hello", "echo: next"]
    assert len(llm.received()) == 2


def test_a_rejected_token_leaves_the_rest_of_the_gateway_serving(gateway, fake):
    wrong = "987654321:AAwrong-token"
    embedded = EmbeddedPlatform()
    system, telegram = gateway(token=wrong, extra=(embedded,))

    wait_until(lambda: telegram.health().state is PlatformState.FAILED, 10.0, "telegram failed")
    system.embedded.send("still there?")

    assert [m.text for m in embedded.wait_for(1, timeout=10.0)] == ["echo: still there?"]
    assert telegram.health().detail == "Telegram rejected the bot token"
    assert wrong not in telegram.health().detail
