"""The real Telegram adapter's polling against the fake Bot API: an update is confirmed to
Telegram only once the gateway has journaled its message (the test plays the Router and answers
the receipts), or when the gateway does not want it; a malformed update never blocks the rest."""

from __future__ import annotations

import pytest

from hermes.adapters.platforms.telegram_platform import TelegramPlatform, TelegramSettings
from hermes.messages.intake import InboundJournaled
from hermes.messages.ports import PlatformState
from hermes.messages.router import RouteInbound
from tests.fakes.recording import RecordingAddress
from tests.fakes.telegram_server import FakeChat, FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

BOT_NAME = "hermes_test_bot"
ALICE = FakeUser(1001, "Alice")
GROUP = FakeChat(-2001, "group", title="Team")


@pytest.fixture
def fake():
    with FakeTelegram(bot_username=BOT_NAME) as server:
        yield server


@pytest.fixture
def telegram(fake):
    started: list[TelegramPlatform] = []

    def start(**options) -> tuple[TelegramPlatform, RecordingAddress]:
        settings = {
            "token": fake.token,
            "base_url": fake.base_url,
            "poll_timeout": 1.0,
            "text_batch_delay": 0.0,
            "retry_initial_seconds": 0.05,
        } | options
        adapter = TelegramPlatform(TelegramSettings(**settings))
        router = RecordingAddress("router")
        started.append(adapter)
        adapter.start(router)
        wait_until(lambda: adapter.health().state is PlatformState.RUNNING, 10.0, "running")
        return adapter, router

    yield start
    for adapter in started:
        adapter.close(5.0)


def journal(route: RouteInbound) -> None:
    """Play the Store: the message is committed, its receipt answered."""
    assert route.receipt is not None
    route.receipt.reply_to.tell(InboundJournaled(token=route.receipt.token))


def polls_since(fake: FakeTelegram, count: int) -> None:
    """Wait until the adapter asked for updates ``count`` more times."""
    seen = len(fake.calls("getUpdates"))
    fake.wait_for_calls("getUpdates", seen + count, timeout=10.0)


def test_an_update_is_confirmed_only_after_its_message_is_journaled(telegram, fake):
    _, router = telegram()
    update = fake.send_text(private_chat(ALICE), ALICE, "keep me")
    route = router.expect(RouteInbound)
    assert route.message.text == "keep me"

    polls_since(fake, 3)  # the adapter keeps polling, and keeps the update unconfirmed
    assert fake.unconfirmed() == [update["update_id"]]
    assert router.of_type(RouteInbound) == [route]  # seen again, never routed twice

    journal(route)
    fake.wait_for_confirmed(update)


def test_updates_the_gateway_does_not_want_are_confirmed_at_once(telegram, fake):
    _, router = telegram()
    ignored = fake.send_text(GROUP, ALICE, "just chatting, not to the bot")
    fake.wait_for_confirmed(ignored)
    typo = fake.send_text(private_chat(ALICE), ALICE, "typo")
    edited = fake.send_edit(typo, "fixed")
    route = router.expect(RouteInbound)
    polls_since(fake, 2)
    # The edit is not wanted, but Telegram confirms in order: it waits behind "typo".
    assert fake.unconfirmed() == [typo["update_id"], edited["update_id"]]
    journal(route)
    fake.wait_for_confirmed(edited)
    assert [r.message.text for r in router.of_type(RouteInbound)] == ["typo"]


def test_a_malformed_update_is_skipped_without_blocking_the_next(telegram, fake):
    _, router = telegram()
    broken = fake.send_raw({"message": {"message_id": "not a number", "chat": "nope"}})
    good = fake.send_text(private_chat(ALICE), ALICE, "after the broken one")

    route = router.expect(RouteInbound)
    assert route.message.text == "after the broken one"
    journal(route)
    fake.wait_for_confirmed(broken)
    fake.wait_for_confirmed(good)


def test_gathered_fragments_are_confirmed_together_once_journaled(telegram, fake):
    _, router = telegram(text_batch_delay=0.2)
    first = fake.send_text(private_chat(ALICE), ALICE, "part one")
    second = fake.send_text(private_chat(ALICE), ALICE, "part two")

    route = router.expect(RouteInbound)
    assert route.message.text == "part one\npart two"
    assert fake.unconfirmed() == [first["update_id"], second["update_id"]]
    journal(route)
    fake.wait_for_confirmed(second)


def test_a_message_journaled_while_the_gateway_stops_is_confirmed_at_close(telegram, fake):
    adapter, router = telegram()
    update = fake.send_text(private_chat(ALICE), ALICE, "just in time")
    route = router.expect(RouteInbound)
    adapter.stop_intake()
    journal(route)
    adapter.close(5.0)
    assert fake.unconfirmed() == []
    assert update["update_id"] not in fake.unconfirmed()
