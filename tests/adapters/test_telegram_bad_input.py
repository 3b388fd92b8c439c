"""The real Telegram adapter against bad input from the fake Bot API: a text over the cap is cut
with a marker, content without text is confirmed and skipped, text that cannot be encoded is
cleaned, and a message the rules cannot read is skipped without stopping the polling."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import cast

import pytest

from hermes.adapters.platforms.inbound_text import MAX_MESSAGE_CHARS
from hermes.adapters.platforms.telegram_intake import TextGatherer
from hermes.adapters.platforms.telegram_platform import TelegramPlatform, TelegramSettings
from hermes.messages.ports import PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender
from tests.adapters.test_telegram_platform import ManualLoop
from tests.fakes.recording import RecordingAddress
from tests.fakes.telegram_server import FakeChat, FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

BOT_NAME = "hermes_test_bot"
ALICE = FakeUser(1001, "Alice")
GROUP = FakeChat(-2001, "group", title="Team")
STICKER = {
    "sticker": {
        "file_id": "s",
        "file_unique_id": "s",
        "width": 1,
        "height": 1,
        "type": "regular",
        "is_animated": False,
        "is_video": False,
    }
}
PHOTO = {"photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 60}]}
LOCATION = {"location": {"latitude": 48.85, "longitude": 2.35}}


@pytest.fixture
def fake():
    with FakeTelegram(bot_username=BOT_NAME) as server:
        yield server


@pytest.fixture
def telegram(fake):
    started: list[TelegramPlatform] = []

    def start() -> RecordingAddress:
        adapter = TelegramPlatform(
            TelegramSettings(
                token=fake.token,
                base_url=fake.base_url,
                poll_timeout=1.0,
                text_batch_delay=0.0,
                retry_initial_seconds=0.05,
            )
        )
        router = RecordingAddress("router")
        started.append(adapter)
        adapter.start(router)
        wait_until(lambda: adapter.health().state is PlatformState.RUNNING, 10.0, "running")
        return router

    yield start
    for adapter in started:
        adapter.close(5.0)


def routed_texts(router: RecordingAddress, count: int) -> list[str]:
    router.expect(RouteInbound, 5.0, count)
    return [route.message.text for route in router.of_type(RouteInbound)]


def test_a_text_over_the_cap_is_cut_with_a_marker(telegram, fake):
    router = telegram()
    fake.send_content(private_chat(ALICE), ALICE, {"text": "y" * (MAX_MESSAGE_CHARS + 50_000)})

    [text] = routed_texts(router, 1)

    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.startswith("y" * (MAX_MESSAGE_CHARS - 200))
    assert text.endswith(
        f"[message cut: it had 150,000 characters; the first {MAX_MESSAGE_CHARS - 200:,} are "
        f"above, the limit is {MAX_MESSAGE_CHARS:,}]"
    )


def test_a_text_at_the_cap_is_routed_whole(telegram, fake):
    router = telegram()
    fake.send_content(private_chat(ALICE), ALICE, {"text": "z" * MAX_MESSAGE_CHARS})

    assert routed_texts(router, 1) == ["z" * MAX_MESSAGE_CHARS]


def test_gathered_fragments_over_the_cap_are_cut_with_a_marker():
    out: list[InboundMessage] = []
    loop = ManualLoop()
    gatherer = TextGatherer(
        cast("asyncio.AbstractEventLoop", loop), 1.0, lambda message, _ids: out.append(message)
    )
    origin = ChatAddress(platform=Platform.TELEGRAM, chat_id="c1")
    for number in range(30):  # a long paste, split by Telegram at 4096 characters
        gatherer.add(
            InboundMessage(
                message_id=f"c1:{number}",
                origin=origin,
                sender=Sender(user_id="u1"),
                text="x" * 4096,
                received_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            number,
        )
    loop.advance(1.5)

    [message] = out
    assert len(message.text) <= MAX_MESSAGE_CHARS
    assert "[message cut: it had 122,909 characters" in message.text


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(STICKER, id="sticker"),
        pytest.param(PHOTO, id="photo-without-caption"),
        pytest.param(LOCATION, id="location"),
        pytest.param({"text": ""}, id="empty-text"),
    ],
)
def test_content_without_text_is_confirmed_and_the_next_message_is_routed(telegram, fake, content):
    router = telegram()
    skipped = fake.send_content(private_chat(ALICE), ALICE, content)
    fake.wait_for_confirmed(skipped)
    fake.send_text(private_chat(ALICE), ALICE, "and now in words")

    assert routed_texts(router, 1) == ["and now in words"]


def test_a_lone_surrogate_in_a_text_becomes_a_replacement_character(telegram, fake):
    router = telegram()
    fake.send_content(private_chat(ALICE), ALICE, {"text": "half \ud83d an emoji"})

    assert routed_texts(router, 1) == ["half \ufffd an emoji"]


def test_a_message_the_rules_cannot_read_is_skipped_and_polling_goes_on(telegram, fake, caplog):
    router = telegram()
    broken_entity = {"type": "mention", "offset": "zero", "length": 16}
    unreadable = fake.send_content(
        GROUP, ALICE, {"text": f"hi @{BOT_NAME}", "entities": [broken_entity]}
    )
    fake.wait_for_confirmed(unreadable)
    fake.send_text(private_chat(ALICE), ALICE, "still listening?")

    assert routed_texts(router, 1) == ["still listening?"]
    skipped = [r for r in caplog.records if "is malformed; skipped" in r.getMessage()]
    assert [r.getMessage() for r in skipped] == [
        f"Telegram update {unreadable['update_id']} is malformed; skipped"
    ]
    assert all(r.levelno == logging.ERROR for r in skipped)
