"""The Telegram adapter: translation of real PTB objects, then the real adapter and PTB 22
against the fake Bot API on loopback (tests/fakes/telegram_server.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from telegram import Update

from hermes.adapters.platforms.telegram_inbound import (
    Addressing,
    BotIdentity,
    GroupGating,
    addressing,
    replied_message_id,
    strip_mention,
    to_inbound,
)
from hermes.adapters.platforms.telegram_intake import TextGatherer
from hermes.adapters.platforms.telegram_platform import TelegramPlatform, TelegramSettings
from hermes.messages.delivery import (
    OutboundFailed,
    OutboundMessage,
    OutboundSent,
    SendDelta,
    SendOutbound,
    SetTyping,
)
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from tests.fakes.recording import RecordingAddress
from tests.fakes.telegram_server import FakeChat, FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

BOT_NAME = "hermes_test_bot"
ALICE = FakeUser(1001, "Alice", username="alice", last_name="Liddell")
BOB = FakeUser(1002, "Bob")
OTHER_BOT = FakeUser(5005, "Other", username="other_bot", is_bot=True)
GROUP = FakeChat(-2001, "group", title="Team")
SUPERGROUP = FakeChat(-1003001, "supergroup", title="Big team")
FORUM = FakeChat(-1003002, "supergroup", title="Forum", is_forum=True)


# -- translation, on PTB objects parsed from realistic payloads (no network) -------------------


@pytest.fixture
def payloads():
    """A fake that is never started: only its payload builders are used."""
    return FakeTelegram(bot_username=BOT_NAME)


def parsed(update: dict[str, Any]):
    message = Update.de_json(update, None).message
    assert message is not None
    return message


def identity(fake: FakeTelegram) -> BotIdentity:
    return BotIdentity(user_id=fake.bot.id, username=BOT_NAME)


def test_a_private_message_becomes_an_inbound_message(payloads):
    update = payloads.send_text(private_chat(ALICE), ALICE, "hello there")
    message = update["message"]

    inbound = to_inbound(parsed(update), identity(payloads))

    assert inbound is not None
    assert inbound.message_id == f"1001:{message['message_id']}"
    assert inbound.origin == ChatAddress(
        platform=Platform.TELEGRAM, chat_id="1001", chat_type=ChatType.DM, chat_name="Alice Liddell"
    )
    assert (inbound.sender.user_id, inbound.sender.user_name) == ("1001", "alice")
    assert inbound.text == "hello there"
    assert inbound.received_at.tzinfo is not None
    assert inbound.received_at.utcoffset() == UTC.utcoffset(None)
    assert inbound.reply_to_message_id is None


@pytest.mark.parametrize(
    ("chat", "chat_type"),
    [(GROUP, ChatType.GROUP), (SUPERGROUP, ChatType.GROUP), (private_chat(BOB), ChatType.DM)],
)
def test_chat_types(payloads, chat, chat_type):
    inbound = to_inbound(parsed(payloads.send_text(chat, BOB, "hi")), identity(payloads))

    assert inbound is not None
    assert inbound.origin.chat_type is chat_type
    assert inbound.origin.chat_name == (chat.title or "Bob")
    assert inbound.sender.user_name == "Bob"  # no username: the full name


def test_a_forum_topic_is_the_thread_and_its_opening_is_not_a_reply(payloads):
    topic = payloads.create_topic(FORUM, "Ideas", ALICE)
    update = payloads.send_text(FORUM, BOB, "in the topic", thread_id=topic)

    inbound = to_inbound(parsed(update), identity(payloads))

    assert inbound is not None
    assert inbound.origin.thread_id == str(topic)
    assert inbound.reply_to_message_id is None


def test_a_reply_names_the_message_it_answers_with_its_chat(payloads):
    first = payloads.send_text(GROUP, ALICE, "question")["message"]["message_id"]
    update = payloads.send_text(GROUP, BOB, "answer", reply_to=first)

    inbound = to_inbound(parsed(update), identity(payloads))

    assert inbound is not None
    assert inbound.reply_to_message_id == f"{GROUP.id}:{first}"


def test_a_photo_caption_is_the_text_and_a_message_without_text_is_not_taken(payloads):
    bot = identity(payloads)
    captioned = to_inbound(parsed(payloads.send_photo(GROUP, ALICE, "look at this")), bot)
    bare_photo = to_inbound(parsed(payloads.send_photo(GROUP, ALICE, None)), bot)
    sticker = {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1}}
    sticker |= {"sticker": sticker["sticker"] | {"type": "regular"}}
    sticker |= {"sticker": sticker["sticker"] | {"is_animated": False, "is_video": False}}

    assert captioned is not None
    assert captioned.text == "look at this"
    assert bare_photo is None
    assert to_inbound(parsed(payloads.send_content(GROUP, ALICE, sticker)), bot) is None


def test_messages_from_bots_are_not_taken(payloads):
    update = payloads.send_text(GROUP, OTHER_BOT, f"@{BOT_NAME} hello")

    assert to_inbound(parsed(update), identity(payloads)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"@{BOT_NAME} what time is it?", "what time is it?"),
        (f"what time is it, @{BOT_NAME.upper()}?", "what time is it,?"),
        (f"hey @{BOT_NAME} how are you", "hey how are you"),
        (f"/status@{BOT_NAME} now", "/status now"),
        (f"@{BOT_NAME}", f"@{BOT_NAME}"),
        (f"mail me@{BOT_NAME}.org", f"mail me@{BOT_NAME}.org"),
        (f"@{BOT_NAME}s is someone else", f"@{BOT_NAME}s is someone else"),
    ],
)
def test_the_mention_of_the_bot_is_stripped(text, expected):
    assert strip_mention(text, BOT_NAME) == expected


@pytest.mark.parametrize(
    ("text", "gating", "expected"),
    [
        ("just chatting", GroupGating(), Addressing.NOT_ADDRESSED),
        (f"hi @{BOT_NAME}", GroupGating(), Addressing.TAKEN),
        (f"hi @{BOT_NAME.upper()}", GroupGating(), Addressing.TAKEN),
        ("hi @someone_else", GroupGating(), Addressing.NOT_ADDRESSED),
        ("/status", GroupGating(), Addressing.TAKEN),
        (f"/status@{BOT_NAME}", GroupGating(), Addressing.TAKEN),
        ("/status@other_bot", GroupGating(), Addressing.OTHER_BOT),
        ("/status@other_bot", GroupGating(require_mention=False), Addressing.OTHER_BOT),
        ("say /status", GroupGating(), Addressing.NOT_ADDRESSED),
        ("just chatting", GroupGating(require_mention=False), Addressing.TAKEN),
        ("just chatting", GroupGating(free_response_chats=frozenset({"-2001"})), Addressing.TAKEN),
        (
            "just chatting",
            GroupGating(free_response_chats=frozenset({"-9"})),
            Addressing.NOT_ADDRESSED,
        ),
    ],
)
def test_group_gating(payloads, text, gating, expected):
    update = payloads.send_text(GROUP, ALICE, text)

    assert addressing(parsed(update), identity(payloads), gating) is expected


def test_a_direct_message_is_always_taken(payloads):
    update = payloads.send_text(private_chat(ALICE), ALICE, "no mention at all")

    assert addressing(parsed(update), identity(payloads), GroupGating()) is Addressing.TAKEN


def test_a_reply_to_the_bot_is_addressed_but_a_reply_to_a_person_is_not(payloads):
    bot_said = payloads._new_message(GROUP, payloads.bot, {"text": "I am the bot"})
    alice_said = payloads.send_text(GROUP, ALICE, "I am Alice")["message"]
    to_bot = payloads.send_text(GROUP, BOB, "thanks", reply_to=bot_said["message_id"])
    to_alice = payloads.send_text(GROUP, BOB, "thanks", reply_to=alice_said["message_id"])

    assert addressing(parsed(to_bot), identity(payloads), GroupGating()) is Addressing.TAKEN
    assert (
        addressing(parsed(to_alice), identity(payloads), GroupGating()) is Addressing.NOT_ADDRESSED
    )


def test_a_topic_opened_by_the_bot_does_not_make_every_message_a_reply_to_it(payloads):
    topic = payloads.create_topic(FORUM, "Bot's topic", payloads.bot)
    update = payloads.send_text(FORUM, ALICE, "chatting in the topic", thread_id=topic)

    assert addressing(parsed(update), identity(payloads), GroupGating()) is Addressing.NOT_ADDRESSED


def test_a_reply_goes_to_the_users_message_only_in_groups_of_the_same_chat():
    group = ChatAddress(platform=Platform.TELEGRAM, chat_id="-5", chat_type=ChatType.GROUP)
    dm = ChatAddress(platform=Platform.TELEGRAM, chat_id="7", chat_type=ChatType.DM)

    assert replied_message_id(group, "-5:42") == 42
    assert replied_message_id(group, "-6:42") is None
    assert replied_message_id(group, None) is None
    assert replied_message_id(dm, "7:42") is None


# -- gathering, on a loop whose clock the test moves ----------------------------------------


class ManualTimer:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """The two loop methods TextGatherer uses, with a clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[ManualTimer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback, *args) -> ManualTimer:
        timer = ManualTimer(when, callback, args)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for timer in sorted(self.timers, key=lambda t: t.when):
            if timer.when <= self.now and not timer.cancelled:
                self.timers.remove(timer)
                timer.callback(*timer.args)


def gatherer_on(loop: ManualLoop, delay: float) -> tuple[TextGatherer, list[InboundMessage]]:
    out: list[InboundMessage] = []

    def emit(message: InboundMessage, update_ids: tuple[int, ...]) -> None:
        del update_ids
        out.append(message)

    return TextGatherer(cast("asyncio.AbstractEventLoop", loop), delay, emit), out


def fragment(text: str, user: str = "u1", chat_id: str = "c1", number: int = 1) -> InboundMessage:
    return InboundMessage(
        message_id=f"{chat_id}:{number}",
        origin=ChatAddress(platform=Platform.TELEGRAM, chat_id=chat_id),
        sender=Sender(user_id=user),
        text=text,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
def gathering():
    loop = ManualLoop()
    return (loop, *gatherer_on(loop, 1.0))


def test_each_fragment_restarts_the_wait(gathering):
    loop, gatherer, out = gathering
    gatherer.add(fragment("one", number=1), 0)
    loop.advance(0.9)
    gatherer.add(fragment("two", number=2), 0)
    loop.advance(0.9)
    assert out == []

    loop.advance(0.2)

    assert [(m.text, m.message_id) for m in out] == [("one\ntwo", "c1:1")]


def test_a_gathered_message_waits_at_most_five_delays(gathering):
    loop, gatherer, out = gathering
    for number in range(12):
        gatherer.add(fragment(f"f{number}", number=number), 0)
        loop.advance(0.5)

    assert [m.text.count("\n") + 1 for m in out] == [10]  # flushed 5 s after the first
    loop.advance(1.0)
    assert [m.text for m in out][1] == "f10\nf11"


def test_a_command_flushes_its_senders_text_first_and_others_keep_gathering(gathering):
    loop, gatherer, out = gathering
    gatherer.add(fragment("mine", number=1), 0)
    gatherer.add(fragment("theirs", user="u2", number=2), 0)
    gatherer.add(fragment("/status", number=3), 0)

    assert [m.text for m in out] == ["mine", "/status"]
    assert gatherer.continues(fragment("more", user="u2"))
    assert not gatherer.continues(fragment("/new", user="u2"))
    assert gatherer.drop_all() == 1
    loop.advance(5.0)
    assert [m.text for m in out] == ["mine", "/status"]


def test_a_gathered_message_names_every_update_it_took():
    loop = ManualLoop()
    emitted: list[tuple[str, tuple[int, ...]]] = []
    gatherer = TextGatherer(
        cast("asyncio.AbstractEventLoop", loop),
        1.0,
        lambda message, ids: emitted.append((message.text, ids)),
    )
    gatherer.add(fragment("one", number=1), 41)
    gatherer.add(fragment("two", number=2), 42)
    gatherer.add(fragment("/help", number=3), 43)
    assert emitted == [("one\ntwo", (41, 42)), ("/help", (43,))]


def test_no_delay_means_no_gathering():
    gatherer, out = gatherer_on(ManualLoop(), 0.0)
    gatherer.add(fragment("one"), 0)
    gatherer.add(fragment("two"), 0)

    assert [m.text for m in out] == ["one", "two"]


# -- the live adapter against the fake Bot API ------------------------------------------------


@pytest.fixture
def fake():
    with FakeTelegram(bot_username=BOT_NAME) as server:
        yield server


@pytest.fixture
def telegram(fake):
    started: list[TelegramPlatform] = []

    def start(running: bool = True, **options) -> tuple[TelegramPlatform, RecordingAddress]:
        settings = {
            "token": fake.token,
            "base_url": fake.base_url,
            "poll_timeout": 1.0,
            "text_batch_delay": 0.0,
            "retry_initial_seconds": 0.05,
        }
        adapter = TelegramPlatform(TelegramSettings(**(settings | options)))
        router = RecordingAddress("router")
        started.append(adapter)
        adapter.start(router)
        if running:
            wait_until(lambda: adapter.health().state is PlatformState.RUNNING, 10.0, "running")
        return adapter, router

    yield start
    for adapter in started:
        adapter.close(5.0)


def health_when(
    adapter: TelegramPlatform, check: Callable[[PlatformHealth], bool], what: str
) -> PlatformHealth:
    def probe() -> PlatformHealth | None:
        health = adapter.health()
        return health if check(health) else None

    health = wait_until(probe, 10.0, what)
    assert health is not None
    return health


def routed(router: RecordingAddress, count: int, timeout: float = 5.0):
    router.expect(RouteInbound, timeout, count)
    return [m.message for m in router.of_type(RouteInbound)]


def send(adapter, target: ChatAddress, *chunks: str, in_reply_to: str | None = None):
    events = RecordingAddress("delivery")
    message = OutboundMessage(target=target, text="".join(chunks), in_reply_to=in_reply_to)
    adapter.address.tell(
        SendOutbound(delivery_id="d1", message=message, chunks=chunks, reply_to=events)
    )
    return events


def address(chat: FakeChat, thread: int | None = None) -> ChatAddress:
    chat_type = ChatType.DM if chat.type == "private" else ChatType.GROUP
    return ChatAddress(
        platform=Platform.TELEGRAM,
        chat_id=str(chat.id),
        chat_type=chat_type,
        thread_id=None if thread is None else str(thread),
    )


def test_start_returns_at_once_and_health_goes_from_starting_to_running(telegram, fake):
    fake.stall("getMe")
    began = time.monotonic()
    adapter, _ = telegram(running=False)

    assert time.monotonic() - began < 1.0
    assert adapter.health().state is PlatformState.STARTING
    assert adapter.platform is Platform.TELEGRAM
    assert adapter.max_message_length == 4096


def test_a_direct_message_reaches_the_router(telegram, fake):
    adapter, router = telegram()
    assert adapter.health().detail == f"polling as @{BOT_NAME}"
    update = fake.send_text(private_chat(ALICE), ALICE, "hello there")

    (message,) = routed(router, 1)

    assert message.message_id == f"{ALICE.id}:{update['message']['message_id']}"
    assert message.origin.chat_type is ChatType.DM
    assert message.text == "hello there"


def test_group_messages_are_taken_only_when_addressed_to_the_bot(telegram, fake):
    adapter, router = telegram()
    fake.send_text(GROUP, ALICE, "first, chatter among people")
    send(adapter, address(GROUP), "I can help.").expect(OutboundSent)
    bot_message = fake.sent[-1].message_id
    fake.send_text(GROUP, ALICE, "more chatter")
    fake.send_text(GROUP, ALICE, f"@{BOT_NAME} what is 2+2?")
    fake.send_text(GROUP, BOB, "thanks!", reply_to=bot_message)
    fake.send_text(GROUP, BOB, "/status")
    fake.send_text(GROUP, BOB, "/status@other_bot")
    fake.send_text(GROUP, BOB, f"/help@{BOT_NAME}")
    fake.send_text(GROUP, OTHER_BOT, f"@{BOT_NAME} from a bot")
    fake.send_edit(fake.send_text(GROUP, ALICE, f"@{BOT_NAME} typo"), f"@{BOT_NAME} fixed")
    fake.send_text(private_chat(BOB), BOB, "the end")

    texts = [m.text for m in routed(router, 6)]

    assert texts == ["what is 2+2?", "thanks!", "/status", "/help", "typo", "the end"]


def test_free_response_chats_and_require_mention_off_answer_everything(telegram, fake):
    _, free = telegram(free_response_chats=(str(GROUP.id),))
    fake.send_text(SUPERGROUP, ALICE, "not free here")
    fake.send_text(GROUP, ALICE, "free here")
    fake.send_text(private_chat(ALICE), ALICE, "the end")
    assert [m.text for m in routed(free, 2)] == ["free here", "the end"]


def test_require_mention_off_answers_every_group_message(telegram, fake):
    _, router = telegram(require_mention=False)
    fake.send_text(SUPERGROUP, ALICE, "no mention needed")

    assert [m.text for m in routed(router, 1)] == ["no mention needed"]


def test_a_forum_topic_message_carries_its_thread(telegram, fake):
    _, router = telegram(require_mention=False)
    topic = fake.create_topic(FORUM, "Ideas", ALICE)
    fake.send_text(FORUM, BOB, "idea one", thread_id=topic)

    (message,) = routed(router, 1)

    assert message.origin.thread_id == str(topic)


def test_quick_fragments_are_gathered_and_a_command_is_not(telegram, fake):
    _, router = telegram(text_batch_delay=0.5)
    dm = private_chat(ALICE)
    first = fake.send_text(dm, ALICE, "part one")
    fake.send_text(dm, ALICE, "part two")
    fake.send_text(dm, ALICE, "part three")
    fake.send_text(private_chat(BOB), BOB, "bob alone")
    fake.send_text(dm, ALICE, "before the command")
    fake.send_text(dm, ALICE, "/status")

    messages = routed(router, 3)

    alice = [m for m in messages if m.sender.user_id == str(ALICE.id)]
    assert [m.text for m in alice] == [
        "part one\npart two\npart three\nbefore the command",
        "/status",
    ]
    assert alice[0].message_id == f"{ALICE.id}:{first['message']['message_id']}"
    assert [m.text for m in messages if m.sender.user_id == str(BOB.id)] == ["bob alone"]


def test_a_continuation_of_a_gathered_group_message_needs_no_mention(telegram, fake):
    _, router = telegram(text_batch_delay=0.5)
    fake.send_text(GROUP, ALICE, f"@{BOT_NAME} here is a long text")
    fake.send_text(GROUP, ALICE, "that the client split")
    fake.send_text(GROUP, BOB, "bob is not continuing anything")

    (message,) = routed(router, 1)

    assert message.text == "here is a long text\nthat the client split"


def test_chunks_are_sent_in_order_as_markdown_v2(telegram, fake):
    adapter, _ = telegram()
    fake.send_text(private_chat(ALICE), ALICE, "hi")  # Telegram knows a chat once it spoke
    events = send(adapter, address(private_chat(ALICE)), "**one**", "two.", "three!")

    events.expect(OutboundSent)
    sent = fake.wait_for_sent(3)
    assert [m.text for m in sent] == ["one", "two.", "three!"]
    assert [m.raw_text for m in sent] == ["*one*", "two\\.", "three\\!"]
    assert {m.parse_mode for m in sent} == {"MarkdownV2"}
    assert {m.chat_id for m in sent} == {ALICE.id}
    assert all(m.reply_parameters is None for m in sent)  # never in a private chat


def test_deliveries_to_one_chat_keep_their_order(telegram, fake):
    adapter, _ = telegram()
    fake.send_text(private_chat(ALICE), ALICE, "hi")
    target = address(private_chat(ALICE))
    events = RecordingAddress("delivery")
    for number in range(5):
        message = OutboundMessage(target=target, text=f"m{number}")
        adapter.address.tell(
            SendOutbound(
                delivery_id=f"d{number}", message=message, chunks=(f"m{number}",), reply_to=events
            )
        )
        adapter.address.tell(SendDelta(target=target, in_reply_to=None, session_id="s", text="x"))

    events.expect(OutboundSent, count=5)
    assert [m.text for m in fake.wait_for_sent(5)] == [f"m{n}" for n in range(5)]
    assert [e.delivery_id for e in events.of_type(OutboundSent)] == [f"d{n}" for n in range(5)]


def test_a_chunk_telegram_cannot_parse_is_sent_again_as_plain_text(telegram, fake):
    adapter, _ = telegram()
    fake.send_text(private_chat(ALICE), ALICE, "hi")
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Character '.' is ...")

    send(adapter, address(private_chat(ALICE)), "**first** part.", "second").expect(OutboundSent)

    first, second = fake.wait_for_sent(2)
    assert (first.text, first.parse_mode) == ("**first** part.", None)
    assert (second.raw_text, second.parse_mode) == ("second", "MarkdownV2")


def test_a_group_reply_answers_the_users_message_and_a_topic_reply_stays_in_its_topic(
    telegram, fake
):
    adapter, _ = telegram()
    topic = fake.create_topic(FORUM, "Ideas", ALICE)
    asked = fake.send_text(FORUM, ALICE, f"@{BOT_NAME} idea?", thread_id=topic)
    asked_id = asked["message"]["message_id"]

    events = send(
        adapter, address(FORUM, topic), "one", "two", in_reply_to=f"{FORUM.id}:{asked_id}"
    )

    events.expect(OutboundSent)
    first, second = fake.wait_for_sent(2)
    assert (first.message_thread_id, second.message_thread_id) == (topic, topic)
    assert first.reply_parameters == {"message_id": asked_id, "allow_sending_without_reply": True}
    assert second.reply_parameters is None


def test_a_send_telegram_refuses_is_reported_not_raised(telegram, fake):
    adapter, _ = telegram()
    unknown = ChatAddress(platform=Platform.TELEGRAM, chat_id="424242")

    failed = send(adapter, unknown, "hello").expect(OutboundFailed)

    assert failed.retryable is False
    assert "Chat not found" in failed.reason
    assert fake.token not in failed.reason


def test_a_server_error_is_reported_as_retryable(telegram, fake):
    adapter, _ = telegram()
    fake.send_text(private_chat(ALICE), ALICE, "hi")
    fake.fail_next("sendMessage", 502, "Bad Gateway")

    failed = send(adapter, address(private_chat(ALICE)), "a", "b").expect(OutboundFailed)

    assert failed.retryable is True
    assert "0 of 2 parts sent" in failed.reason


def test_typing_starts_at_once_once_per_chat_and_stops(telegram, fake):
    adapter, _ = telegram()
    topic = fake.create_topic(FORUM, "Ideas", ALICE)
    target = address(FORUM, topic)
    adapter.address.tell(SetTyping(target=target, active=True))
    adapter.address.tell(SetTyping(target=target, active=True))  # already typing

    (action,) = fake.wait_for_actions(1)
    assert (action.chat_id, action.action, action.message_thread_id) == (FORUM.id, "typing", topic)
    send(adapter, address(FORUM), "barrier").expect(OutboundSent)
    assert len(fake.actions) == 1

    adapter.address.tell(SetTyping(target=target, active=False))
    adapter.address.tell(SetTyping(target=target, active=True))  # a new indicator: pings at once
    fake.wait_for_actions(2)


def test_the_command_menu_is_set_after_connecting(telegram, fake):
    telegram(commands=(("new", "start a fresh conversation"), ("status", "this conversation")))

    wait_until(lambda: fake.commands, what="the command menu")  # stored after the call is seen
    assert fake.commands == [
        {"command": "new", "description": "start a fresh conversation"},
        {"command": "status", "description": "this conversation"},
    ]


def test_a_refused_command_menu_is_not_fatal(telegram, fake):
    fake.fail_next("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    adapter, router = telegram(commands=(("Bad Name", "x"),))
    fake.wait_for_failures(1)
    fake.send_text(private_chat(ALICE), ALICE, "still working?")

    assert [m.text for m in routed(router, 1)] == ["still working?"]
    assert adapter.health().state is PlatformState.RUNNING


def test_an_invalid_token_fails_clearly_without_showing_it(telegram, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="hermes")
    wrong = "987654321:AAwrong-token-that-must-stay-secret"
    adapter, _ = telegram(running=False, token=wrong, retry_initial_seconds=0.01)

    health = health_when(adapter, lambda h: h.state is PlatformState.FAILED, "failed")

    assert health.detail == "Telegram rejected the bot token"
    assert fake.calls("getMe") == ["getMe"]  # not retried
    assert wrong not in caplog.text
    assert "Telegram rejected the bot token" in caplog.text
    adapter.close(2.0)
    assert adapter.health().state is PlatformState.STOPPED


def test_another_poller_is_reported_and_polling_resumes_when_it_stops(telegram, fake):
    fake.force_conflict(True)
    adapter, router = telegram(running=False)

    conflict = health_when(adapter, lambda h: h.state is PlatformState.FAILED, "conflict")
    assert "another process is polling this bot token" in conflict.detail

    fake.force_conflict(False)
    wait_until(lambda: adapter.health().state is PlatformState.RUNNING, 10.0, "running again")
    fake.send_text(private_chat(ALICE), ALICE, "back")
    assert [m.text for m in routed(router, 1)] == ["back"]


def test_two_adapters_on_one_token_see_the_conflict(telegram, fake):
    first, _ = telegram()
    second, _ = telegram(running=False)

    def conflicted() -> bool:
        return any("another process is polling" in a.health().detail for a in (first, second))

    wait_until(conflicted, 10.0, "a conflict")


def test_connecting_is_retried_with_backoff_and_close_stops_a_waiting_retry(telegram, fake):
    fake.fail_next("getMe", 502, "Bad Gateway", count=2)
    adapter, _ = telegram(running=False, retry_initial_seconds=0.05)
    wait_until(lambda: adapter.health().state is PlatformState.RUNNING, 10.0, "running")
    assert fake.calls("getMe") == ["getMe"] * 3

    fake.fail_next("getMe", 502, "Bad Gateway", count=5)
    slow, _ = telegram(running=False, retry_initial_seconds=30.0)
    health = health_when(slow, lambda h: "next attempt in 30 s" in h.detail, "retrying")
    assert health.state is PlatformState.STARTING
    assert "NetworkError: Bad Gateway" in health.detail
    began = time.monotonic()
    slow.close(2.0)
    assert time.monotonic() - began < 2.0
    assert slow.health().state is PlatformState.STOPPED


def test_close_while_telegram_does_not_answer_returns_within_its_timeout(telegram, fake):
    fake.stall("getMe")
    adapter, _ = telegram(running=False)
    fake.wait_for_calls("getMe")

    began = time.monotonic()
    adapter.close(2.0)

    assert time.monotonic() - began < 2.5
    assert adapter.health().state is PlatformState.STOPPED


def test_after_stop_intake_nothing_is_routed_but_sending_still_works(telegram, fake):
    adapter, router = telegram(text_batch_delay=5.0)
    fake.send_text(private_chat(ALICE), ALICE, "gathered, never finished")
    fake.send_text(private_chat(BOB), BOB, "/status")  # commands are not gathered
    assert [m.text for m in routed(router, 1)] == ["/status"]  # so Alice's text waits

    adapter.stop_intake()
    wait_until(lambda: adapter.health().state is PlatformState.DRAINING, 5.0, "draining")
    send(adapter, address(private_chat(ALICE)), "still answering").expect(OutboundSent)
    adapter.close(5.0)

    assert [m.message.text for m in router.of_type(RouteInbound)] == ["/status"]
    assert [m.text for m in fake.sent] == ["still answering"]


def test_a_redelivered_message_is_routed_with_the_same_id(telegram, fake):
    _, router = telegram()
    update = fake.send_text(private_chat(ALICE), ALICE, "once")
    routed(router, 1)
    fake.redeliver(update["update_id"])

    first, again = routed(router, 2)

    assert again.message_id == first.message_id
