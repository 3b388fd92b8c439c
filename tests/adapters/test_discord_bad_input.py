"""The real Discord adapter against bad input from the fake Discord: a text over the cap is cut
with a marker, a message without text is skipped, text that cannot be encoded is cleaned, and a
malformed event is skipped with one log line while the next message is routed."""

from __future__ import annotations

import logging

import pytest

from hermes.adapters.platforms.discord_platform import DiscordPlatform, DiscordSettings
from hermes.adapters.platforms.inbound_text import MAX_MESSAGE_CHARS
from hermes.messages.ports import PlatformState
from hermes.messages.router import RouteInbound
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.recording import RecordingAddress
from tests.fakes.waiting import wait_until


@pytest.fixture
def fake():
    with FakeDiscord() as server:
        yield server


@pytest.fixture
def router(fake):
    platform = DiscordPlatform(
        DiscordSettings(token=fake.token, api_base=fake.api_base, gateway_url=fake.gateway_url)
    )
    recording = RecordingAddress("router")
    platform.start(recording)
    try:
        wait_until(lambda: platform.health().state is PlatformState.RUNNING, what="Discord running")
        yield recording
    finally:
        platform.close(5.0)


def routed_texts(router: RecordingAddress, count: int) -> list[str]:
    router.expect(RouteInbound, 5.0, count)
    return [route.message.text for route in router.of_type(RouteInbound)]


def test_a_text_over_the_cap_is_cut_with_a_marker(fake, router):
    fake.send_dm(fake.add_user("alice"), "y" * (MAX_MESSAGE_CHARS + 1))

    [text] = routed_texts(router, 1)

    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.startswith("y" * (MAX_MESSAGE_CHARS - 200))
    assert text.endswith(f"[message cut: it had 100,001 characters; the first {99_800:,} are "
                         f"above, the limit is {MAX_MESSAGE_CHARS:,}]")  # fmt: skip


@pytest.mark.parametrize("content", ["", "   \n "], ids=["empty", "blank"])
def test_a_message_without_text_is_skipped_and_the_next_is_routed(fake, router, content):
    alice = fake.add_user("alice")
    fake.send_dm(alice, content)  # an attachment or a sticker alone carries no content
    fake.send_dm(alice, "and now in words")

    assert routed_texts(router, 1) == ["and now in words"]


def test_a_lone_surrogate_becomes_a_replacement_character(fake, router):
    fake.send_dm(fake.add_user("alice"), "half \ud83d an emoji")

    assert routed_texts(router, 1) == ["half \ufffd an emoji"]


def test_a_malformed_message_event_is_skipped_with_one_line(fake, router, caplog):
    alice = fake.add_user("alice")
    first = fake.send_dm(alice, "first")
    routed_texts(router, 1)
    fake.redispatch({k: v for k, v in first.items() if k != "author"} | {"id": "4242"})
    fake.send_dm(alice, "after the broken one")

    assert routed_texts(router, 2) == ["first", "after the broken one"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    skipped = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert skipped == ["Discord message 4242 is malformed (AttributeError); skipped"]
