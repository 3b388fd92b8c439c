"""The Discord adapter: real discord.py against the fake Discord on loopback."""

from __future__ import annotations

import importlib
import logging
import socket
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from hermes.adapters.platforms import discord_inbound as rules
from hermes.adapters.platforms.discord_platform import DiscordPlatform, DiscordSettings
from hermes.messages.delivery import (
    OutboundFailed,
    OutboundKind,
    OutboundMessage,
    OutboundSent,
    SendDelta,
    SendOutbound,
    SetTyping,
)
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, ChatType, Platform, Sender
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.recording import RecordingAddress
from tests.fakes.waiting import wait_until

MESSAGE_CONTENT, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 15, 1 << 9, 1 << 12
NOT_A_TOKEN = "not-a-real-token"  # noqa: S105


@pytest.fixture
def fake():
    with FakeDiscord() as server:
        yield server


@pytest.fixture
def adapters():
    """Starts adapters (each with a recording router) and closes them all afterwards."""
    started: list[DiscordPlatform] = []

    def start(settings: DiscordSettings) -> tuple[DiscordPlatform, RecordingAddress]:
        platform, router = DiscordPlatform(settings), RecordingAddress("router")
        started.append(platform)
        platform.start(router)
        return platform, router

    yield start
    for platform in started:
        platform.close(5.0)


@pytest.fixture
def connect(fake, adapters):
    def connect(**settings) -> tuple[DiscordPlatform, RecordingAddress]:
        platform, router = adapters(settings_for(fake, **settings))
        wait_until(lambda: state(platform) is PlatformState.RUNNING, what="Discord running")
        return platform, router

    return connect


def settings_for(fake: FakeDiscord, **overrides) -> DiscordSettings:
    return DiscordSettings(
        token=fake.token, api_base=fake.api_base, gateway_url=fake.gateway_url, **overrides
    )


def state(platform: DiscordPlatform) -> PlatformState:
    return platform.health().state


def channel(fake: FakeDiscord, channel_id: int, chat_type: ChatType = ChatType.GROUP):
    thread = str(channel_id) if chat_type is ChatType.THREAD else None
    return ChatAddress(
        platform=Platform.DISCORD, chat_id=str(channel_id), chat_type=chat_type, thread_id=thread
    )


def send(
    platform: DiscordPlatform,
    target: ChatAddress,
    chunks: tuple[str, ...],
    *,
    in_reply_to: str | None = None,
    kind: OutboundKind = OutboundKind.REPLY,
    delivery: RecordingAddress | None = None,
) -> RecordingAddress:
    delivery = delivery or RecordingAddress("delivery")
    message = OutboundMessage(
        target=target, text="".join(chunks), kind=kind, in_reply_to=in_reply_to
    )
    platform.address.tell(
        SendOutbound(
            delivery_id=f"d-{len(delivery.messages)}-{time.monotonic_ns()}",
            message=message,
            chunks=chunks,
            reply_to=delivery,
        )
    )
    return delivery


def texts(router: RecordingAddress) -> list[str]:
    return [m.message.text for m in router.of_type(RouteInbound)]


def discord_endpoints() -> tuple[str, str]:
    """discord.py's REST root and gateway URL (imported through the adapter, which silences
    discord.py's audioop deprecation warning)."""
    route = importlib.import_module("discord.http").Route
    gateway = importlib.import_module("discord.gateway").DiscordWebSocket
    return route.BASE, str(gateway.DEFAULT_GATEWAY)


def unreachable(**overrides) -> DiscordSettings:
    """Settings that point at a port nobody listens on."""
    return DiscordSettings(
        token=NOT_A_TOKEN,
        api_base=f"http://127.0.0.1:{unused_port()}/api/v10",
        gateway_url="ws://127.0.0.1:9/",
        **overrides,
    )


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- connecting ---------------------------------------------------------------------------------


def test_start_returns_at_once_and_connects_in_the_background(fake, adapters):
    platform, _ = adapters(settings_for(fake))
    assert state(platform) in {PlatformState.STARTING, PlatformState.RUNNING}
    wait_until(lambda: state(platform) is PlatformState.RUNNING)
    assert platform.health().detail == f"connected as hermes-bot ({fake.bot.id})"
    assert platform.platform is Platform.DISCORD
    assert platform.max_message_length == 2000


def test_the_gateway_is_asked_for_message_content_and_messages(fake, connect):
    connect()
    (intents,) = fake.intents
    assert intents & MESSAGE_CONTENT
    assert intents & GUILD_MESSAGES
    assert intents & DIRECT_MESSAGES


def test_discord_py_is_pointed_at_the_fake_only_while_the_adapter_runs(fake, connect):
    assert discord_endpoints() == (rules.DEFAULT_API_BASE, rules.DEFAULT_GATEWAY_URL)
    platform, _ = connect()
    assert discord_endpoints() == (fake.api_base, fake.gateway_url)
    platform.close(5.0)
    assert discord_endpoints() == (rules.DEFAULT_API_BASE, rules.DEFAULT_GATEWAY_URL)
    assert state(platform) is PlatformState.STOPPED


def test_failed_logins_are_retried_with_backoff(fake, adapters):
    fake.fail_next_logins(2)
    platform, _ = adapters(settings_for(fake, retry_initial_seconds=0.3))
    wait_until(lambda: "attempt 2 in 0.3 s" in platform.health().detail)
    assert platform.health().detail.startswith(
        "Discord answered 503 while connecting; attempt 2 in 0.3 s (at "
    )
    assert state(platform) is PlatformState.STARTING
    wait_until(lambda: "attempt 3 in 0.6 s" in platform.health().detail)
    wait_until(lambda: state(platform) is PlatformState.RUNNING, timeout=5.0)
    assert fake.logins == 3


def test_an_invalid_token_fails_at_once_and_is_never_shown(fake, adapters, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-s3cret-token.xyz"  # noqa: S105
    settings = DiscordSettings(
        token=secret,
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        retry_initial_seconds=0.01,
    )
    platform, _ = adapters(settings)  # start never raises
    wait_until(lambda: state(platform) is PlatformState.FAILED)
    assert platform.health() == PlatformHealth(
        platform=Platform.DISCORD,
        state=PlatformState.FAILED,
        detail="Discord rejected the bot token",
    )
    failed = send(platform, channel(fake, fake.general.id), ("hello",)).expect(OutboundFailed)
    assert failed.reason == "Discord rejected the bot token"
    assert not failed.retryable
    platform.close(5.0)
    assert state(platform) is PlatformState.STOPPED
    assert [r.status for r in fake.rejections()] == [401]  # never retried
    assert secret not in caplog.text
    assert secret not in repr(settings)


def test_a_token_refused_on_identify_fails_too(adapters):
    with FakeDiscord(reject_identify=True) as refusing:
        platform, _ = adapters(settings_for(refusing, retry_initial_seconds=0.01))
        wait_until(lambda: state(platform) is PlatformState.FAILED)
        assert platform.health().detail == "Discord rejected the bot token"
        platform.close(5.0)


def test_close_during_the_retry_wait_is_prompt(adapters):
    platform, _ = adapters(unreachable(retry_initial_seconds=30))
    wait_until(lambda: "attempt 2 in 30.0 s" in platform.health().detail)
    assert platform.health().detail.startswith("cannot reach Discord (ClientConnectorError")
    assert state(platform) is PlatformState.STARTING
    began = time.monotonic()
    platform.close(2.0)
    assert time.monotonic() - began < 2.0
    assert state(platform) is PlatformState.STOPPED
    assert discord_endpoints()[0] == rules.DEFAULT_API_BASE


def test_a_dropped_gateway_connection_is_resumed(fake, connect):
    platform, router = connect()
    fake.drop_connections()
    wait_until(lambda: fake.resumes == 1, what="a RESUME")
    wait_until(lambda: state(platform) is PlatformState.RUNNING)
    fake.send_dm(fake.add_user("alice"), "still there?")
    assert router.expect(RouteInbound).message.text == "still there?"
    assert len(fake.intents) == 1  # resumed, not identified again


def test_an_unreachable_gateway_after_login_is_retried(fake, adapters):
    gateway = f"ws://127.0.0.1:{unused_port()}/"
    settings = DiscordSettings(
        token=fake.token, api_base=fake.api_base, gateway_url=gateway, retry_initial_seconds=30
    )
    platform, _ = adapters(settings)
    # discord.py first waits up to 2 s of its own backoff, then gives up on the first connect.
    wait_until(lambda: "attempt 2 in 30.0 s" in platform.health().detail, timeout=10.0)
    assert platform.health().detail.startswith("cannot reach Discord (ClientConnectorError")
    assert fake.logins == 1


def test_close_without_start_and_twice_is_harmless(fake):
    platform = DiscordPlatform(settings_for(fake))
    platform.close(1.0)
    platform.close(1.0)
    assert state(platform) is PlatformState.STOPPED


# -- inbound ------------------------------------------------------------------------------------


def test_a_direct_message_becomes_an_inbound_message(fake, connect, caplog):
    caplog.set_level(logging.DEBUG)
    _, router = connect()
    alice = fake.add_user("alice")
    before = datetime.now(UTC)
    payload = fake.send_dm(alice, "hello there")
    message = router.expect(RouteInbound).message
    assert message.message_id == payload["id"]
    assert message.origin == ChatAddress(
        platform=Platform.DISCORD,
        chat_id=str(fake.dm_channel_id(alice)),
        chat_type=ChatType.DM,
        chat_name="alice",
    )
    assert message.sender == Sender(user_id=str(alice.id), user_name="alice")
    assert message.text == "hello there"
    assert message.reply_to_message_id is None
    assert message.received_at.utcoffset() == timedelta(0)
    assert abs(message.received_at - before) < timedelta(seconds=5)
    assert fake.token not in caplog.text


def test_a_reply_names_the_message_it_answers(fake, connect):
    _, router = connect()
    alice = fake.add_user("alice")
    first = fake.send_dm(alice, "first")
    fake.send_dm(alice, "about that", reply_to=int(first["id"]))
    assert router.expect(RouteInbound, count=2).message.reply_to_message_id == first["id"]


def test_in_guild_channels_only_mentions_are_taken_and_stripped(fake, connect):
    _, router = connect()
    alice, bot = fake.add_user("alice"), fake.bot
    fake.send_channel(fake.general, alice, "talking among ourselves")
    fake.send_channel(fake.general, alice, f"<@{bot.id}> what is up?", mentions=[bot])
    fake.send_channel(fake.general, alice, f"thanks <@!{bot.id}>, bye", mentions=[bot])
    last = router.expect(RouteInbound, count=2).message
    assert texts(router) == ["what is up?", "thanks, bye"]
    assert last.origin == ChatAddress(
        platform=Platform.DISCORD,
        chat_id=str(fake.general.id),
        chat_type=ChatType.GROUP,
        chat_name="Hermes Lab / #general",
    )


def test_free_response_channels_and_their_threads_need_no_mention(fake, connect):
    _, router = connect(free_response_channels=(str(fake.free.id),))
    alice, bot = fake.add_user("alice"), fake.bot
    fake.send_channel(fake.free, alice, "in the free channel")
    fake.send_thread(fake.free_thread, alice, "in a thread under it")
    fake.send_thread(fake.thread, alice, "in a thread under general")
    fake.send_channel(fake.general, alice, f"<@{bot.id}> in general", mentions=[bot])
    router.expect(RouteInbound, count=3)
    assert texts(router) == ["in the free channel", "in a thread under it", "in general"]
    chat_types = [m.message.origin.chat_type for m in router.of_type(RouteInbound)]
    assert chat_types == [ChatType.GROUP, ChatType.THREAD, ChatType.GROUP]


def test_without_require_mention_every_guild_message_is_taken(fake, connect):
    _, router = connect(require_mention=False)
    fake.send_channel(fake.general, fake.add_user("alice"), "anyone here?")
    assert router.expect(RouteInbound).message.text == "anyone here?"


def test_messages_of_bots_are_ignored(fake, connect):
    _, router = connect()
    bot, other_bot, alice = fake.bot, fake.add_user("other-bot", bot=True), fake.add_user("alice")
    fake.send_channel(fake.general, bot, f"<@{bot.id}> talking to myself", mentions=[bot])
    fake.send_channel(fake.general, other_bot, f"<@{bot.id}> hello, bot", mentions=[bot])
    fake.send_dm(other_bot, "psst")
    fake.send_channel(fake.general, alice, f"<@{bot.id}> a person", mentions=[bot])
    router.expect(RouteInbound)
    assert texts(router) == ["a person"]


def test_a_bare_mention_is_not_a_message(fake, connect):
    _, router = connect()
    alice, bot = fake.add_user("alice"), fake.bot
    fake.send_channel(fake.general, alice, f"<@{bot.id}>", mentions=[bot])
    fake.send_channel(fake.general, alice, f"<@{bot.id}> now a question", mentions=[bot])
    router.expect(RouteInbound)
    assert texts(router) == ["now a question"]


def test_a_thread_is_both_the_chat_and_its_thread(fake, connect):
    _, router = connect()
    alice, bot = fake.add_user("alice"), fake.bot
    fake.send_thread(fake.thread, alice, f"<@{bot.id}> plan it", mentions=[bot])
    origin = router.expect(RouteInbound).message.origin
    assert origin == ChatAddress(
        platform=Platform.DISCORD,
        chat_id=str(fake.thread.id),
        chat_type=ChatType.THREAD,
        thread_id=str(fake.thread.id),
        chat_name="Hermes Lab / #general / plans",
    )


def test_after_stop_intake_the_state_is_draining_and_sending_still_works(fake, connect):
    platform, _ = connect()
    platform.stop_intake()
    assert state(platform) is PlatformState.DRAINING
    send(platform, channel(fake, fake.general.id), ("still here",)).expect(OutboundSent)
    assert [m.content for m in fake.sent()] == ["still here"]


# -- outbound -----------------------------------------------------------------------------------


def test_chunks_arrive_in_order_and_the_first_answers_the_message(fake, connect):
    platform, router = connect()
    alice, bot = fake.add_user("alice"), fake.bot
    question = fake.send_channel(fake.general, alice, f"<@{bot.id}> tell me", mentions=[bot])
    inbound = router.expect(RouteInbound).message
    chunks = tuple(f"part {i}: " + "x" * 1990 for i in range(5))
    delivery = send(platform, inbound.origin, chunks, in_reply_to=inbound.message_id)
    delivery.expect(OutboundSent)
    sent = fake.sent(fake.general.id)
    assert [m.content for m in sent] == list(chunks)
    assert all(len(m.content) <= 2000 for m in sent)
    assert [m.reference_id for m in sent] == [int(question["id"]), None, None, None, None]
    assert fake.rejections() == []


def test_deliveries_to_one_channel_do_not_interleave(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    delivery = RecordingAddress("delivery")
    send(platform, target, ("a1", "a2", "a3"), delivery=delivery)
    send(platform, target, ("b1", "b2", "b3"), delivery=delivery)
    delivery.expect(OutboundSent, count=2)
    assert [m.content for m in fake.sent()] == ["a1", "a2", "a3", "b1", "b2", "b3"]


def test_a_refused_reply_reference_is_dropped_and_the_chunk_sent(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    send(platform, target, ("answer", "more"), in_reply_to="1234567890").expect(OutboundSent)
    assert [r.code for r in fake.rejections()] == [50035]
    assert [(m.content, m.reference_id) for m in fake.sent()] == [("answer", None), ("more", None)]


def test_a_direct_message_reply_references_nothing(fake, connect):
    platform, router = connect()
    alice = fake.add_user("alice")
    fake.send_dm(alice, "hi")
    inbound = router.expect(RouteInbound).message
    send(platform, inbound.origin, ("hello",), in_reply_to=inbound.message_id).expect(OutboundSent)
    (reply,) = fake.sent(fake.dm_channel_id(alice))
    assert (reply.content, reply.reference_id) == ("hello", None)


def test_a_reply_in_a_thread_goes_to_the_thread(fake, connect):
    platform, router = connect()
    alice, bot = fake.add_user("alice"), fake.bot
    fake.send_thread(fake.thread, alice, f"<@{bot.id}> in here", mentions=[bot])
    inbound = router.expect(RouteInbound).message
    send(platform, inbound.origin, ("threaded",), in_reply_to=inbound.message_id).expect(
        OutboundSent
    )
    assert [m.content for m in fake.sent(fake.thread.id)] == ["threaded"]


def test_refused_sends_are_reported_and_say_whether_to_retry(fake, connect):
    platform, _ = connect()
    general = channel(fake, fake.general.id)
    unknown = send(platform, channel(fake, 4242), ("lost",)).expect(OutboundFailed)
    assert not unknown.retryable
    assert "404" in unknown.reason
    assert "10003" in unknown.reason
    too_long = send(platform, general, ("x" * 2001,)).expect(OutboundFailed)
    assert not too_long.retryable
    assert "50035" in too_long.reason
    fake.fail_next_send(503)
    unavailable = send(platform, general, ("later",)).expect(OutboundFailed)
    assert unavailable.retryable
    assert fake.token not in unknown.reason + too_long.reason + unavailable.reason
    assert fake.sent() == []


def test_a_failure_after_some_chunks_says_how_far_it_got(fake, connect):
    platform, _ = connect()
    failed = send(platform, channel(fake, fake.general.id), ("ok", "x" * 2001, "never"))
    reason = failed.expect(OutboundFailed).reason
    assert reason.endswith("(after 1 of 3 parts)")
    assert [m.content for m in fake.sent()] == ["ok"]


def test_deltas_are_not_sent(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    platform.address.tell(SendDelta(target=target, in_reply_to=None, session_id="s", text="par"))
    send(platform, target, ("whole",)).expect(OutboundSent)
    assert [m.content for m in fake.sent()] == ["whole"]


def test_sending_before_the_connection_is_up_fails_retryably(adapters):
    platform, _ = adapters(unreachable(retry_initial_seconds=30))
    target = ChatAddress(platform=Platform.DISCORD, chat_id="42")
    failed = send(platform, target, ("hi",)).expect(OutboundFailed)
    assert failed == OutboundFailed(
        delivery_id=failed.delivery_id, reason="Discord is not connected", retryable=True
    )


# -- typing -------------------------------------------------------------------------------------


def test_typing_starts_and_stops(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    platform.address.tell(SetTyping(target=target, active=True))
    fake.wait_for_typing(1, fake.general.id)
    platform.address.tell(SetTyping(target=target, active=False))
    platform.address.tell(SetTyping(target=target, active=True))
    # A keeper still running would not post again for 8 s: a new one posts at once.
    fake.wait_for_typing(2, fake.general.id, timeout=3.0)


def test_one_typing_keeper_per_channel(fake, connect):
    platform, _ = connect()
    general, free = channel(fake, fake.general.id), channel(fake, fake.free.id)
    platform.address.tell(SetTyping(target=general, active=True))
    platform.address.tell(SetTyping(target=general, active=True))
    platform.address.tell(SetTyping(target=free, active=True))
    fake.wait_for_typing(1, fake.free.id)
    fake.wait_for_typing(1, fake.general.id)
    send(platform, general, ("done",), kind=OutboundKind.NOTICE).expect(OutboundSent)
    assert fake.typings(fake.general.id) == [fake.general.id]


def test_typing_gives_up_after_typing_max_seconds(fake, connect):
    platform, _ = connect(typing_max_seconds=0.05)
    target = channel(fake, fake.general.id)
    platform.address.tell(SetTyping(target=target, active=True))
    fake.wait_for_typing(1, fake.general.id)

    def ask_again() -> bool:  # a no-op while the first keeper runs (it would post in 8 s)
        platform.address.tell(SetTyping(target=target, active=True))
        return len(fake.typings(fake.general.id)) >= 2

    wait_until(ask_again, timeout=3.0, what="a second keeper")


def test_sending_the_answer_ends_typing(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    platform.address.tell(SetTyping(target=target, active=True))
    fake.wait_for_typing(1, fake.general.id)
    send(platform, target, ("the answer",)).expect(OutboundSent)
    platform.address.tell(SetTyping(target=target, active=True))
    fake.wait_for_typing(2, fake.general.id, timeout=3.0)


# -- the pure rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<@42> hi", "hi"),
        ("<@!42> hi", "hi"),
        ("hi <@42> there", "hi there"),
        ("thanks <@42>, bye", "thanks, bye"),
        ("line one\n<@42>\nline two", "line one\nline two"),
        ("<@42><@!42>", ""),
        ("<@420> is someone else", "<@420> is someone else"),
    ],
)
def test_strip_bot_mentions(content, expected):
    assert rules.strip_bot_mentions(content, "42") == expected


def test_a_failed_health_stays_until_stopped():
    failed = PlatformHealth(platform=Platform.DISCORD, state=PlatformState.FAILED, detail="no")
    assert rules.next_health(failed, PlatformState.RUNNING, "x", intake_over=False) is failed
    stopped = rules.next_health(failed, PlatformState.STOPPED, "closed", intake_over=True)
    assert stopped.state is PlatformState.STOPPED


def test_after_intake_stops_running_reads_draining():
    running = PlatformHealth(platform=Platform.DISCORD, state=PlatformState.RUNNING)
    health = rules.next_health(running, PlatformState.RUNNING, "connected", intake_over=True)
    assert health.state is PlatformState.DRAINING


def test_refusal_rules():
    assert rules.is_retryable_status(429)
    assert rules.is_retryable_status(503)
    assert not rules.is_retryable_status(400)
    assert rules.is_reference_refusal(50035, "Invalid Form Body\nIn message_reference: Unknown")
    assert not rules.is_reference_refusal(50035, "Invalid Form Body\nIn content: too long")
    assert rules.refusal_reason(404, 10003, "Unknown Channel") == (
        "Discord refused the message: 404 (code 10003) Unknown Channel"
    )


def test_retry_detail_says_when_the_next_attempt_is():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rules.retry_detail("cannot reach Discord", 3, 4.0, now) == (
        "cannot reach Discord; attempt 3 in 4.0 s (at 03:04:09 UTC)"
    )


@dataclass
class Number:
    value: int


@dataclass
class StubUser:
    id: int
    name: str
    bot: bool = False


@dataclass
class StubGuild:
    name: str


@dataclass
class StubChannel:
    id: int
    type: Number | None
    name: str | None = None


@dataclass
class StubMessage:
    """Just what ``facts_of`` reads off a discord.py message."""

    channel: StubChannel
    guild: StubGuild | None = None
    type: Number = field(default_factory=lambda: Number(0))
    id: int = 99
    author: StubUser = field(default_factory=lambda: StubUser(7, "alice"))
    content: str = "hello"
    mentions: list[StubUser] = field(default_factory=list)
    reference: None = None
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)


def test_system_messages_and_group_dms_are_not_read():
    guild = StubGuild("Lab")
    joined = StubMessage(channel=StubChannel(1, Number(0), "general"), guild=guild, type=Number(7))
    assert rules.facts_of(joined) is None
    assert rules.facts_of(StubMessage(channel=StubChannel(2, Number(3)))) is None


def test_an_uncached_guild_channel_reads_as_a_group_chat():
    message = StubMessage(channel=StubChannel(5, None), guild=StubGuild("Lab"))
    facts = rules.facts_of(message)
    assert facts is not None
    assert facts.channel_kind is rules.ChannelKind.GUILD_CHANNEL
    inbound = rules.translate(facts, rules.DiscordGate(bot_user_id="1", require_mention=False))
    assert inbound is not None
    assert inbound.origin.chat_name == "Lab / #?"


def test_a_delivery_sent_again_is_created_once_thanks_to_its_nonces(fake, connect):
    platform, _ = connect()
    target = channel(fake, fake.general.id)
    delivery = RecordingAddress("delivery")
    message = OutboundMessage(target=target, text="ab", kind=OutboundKind.REPLY)
    first = SendOutbound(
        delivery_id="resent-id", message=message, chunks=("a", "b"), reply_to=delivery
    )
    platform.address.tell(first)
    delivery.expect(OutboundSent)
    # A restart re-sends it (never confirmed), and a retry re-sends its second chunk alone.
    platform.address.tell(first)
    platform.address.tell(replace(first, chunks=("b",), first_chunk=1))
    delivery.expect(OutboundSent, count=3)

    sent = fake.sent(fake.general.id)
    assert [m.content for m in sent] == ["a", "b"]
    assert [m.body["nonce"] for m in sent] == ["resent-id-0", "resent-id-1"]
    assert all(m.body["enforce_nonce"] for m in sent)
