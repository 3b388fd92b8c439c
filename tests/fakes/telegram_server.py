"""A fake Telegram Bot API server on loopback, strict where Telegram is strict.

``FakeTelegram`` runs aiohttp on 127.0.0.1 in its own thread and loop; point
python-telegram-bot at ``fake.base_url``. The test plays the people: ``send_text`` queues an
update (private chat, group, forum topic, reply; with the entities Telegram adds) that the next
``getUpdates`` returns. What the bot sends is recorded (``wait_for_sent``, ``wait_for_actions``).
Methods: getMe, deleteWebhook, getUpdates (long poll honouring offset and timeout), sendMessage,
sendChatAction, setMyCommands; anything else answers 404 Not Found.

Refused as Telegram refuses them: a wrong token (401 on every method), an unknown chat or topic,
empty or over-long text (counted after entity parsing), MarkdownV2 that Telegram's parser
rejects (``parse_markdown_v2`` follows the algorithm of tdlib's ``parse_markdown_v2``), and a
second poller: a new getUpdates ends the one in flight with 409 Conflict, as Telegram does.
``force_conflict``, ``fail_next`` and ``stall`` script failures; ``redeliver`` makes Telegram
send a message again (under a new update id, as after a lost offset).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Self

from aiohttp import web

TOKEN: Final = "123456789:AAH-fake-telegram-token_for-tests"  # noqa: S105
MAX_TEXT_LENGTH: Final = 4096
CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
Json = dict[str, Any]


# -- MarkdownV2, as Telegram parses it -----------------------------------------------------------


class EntityParseError(ValueError):
    """Not valid MarkdownV2; the message is Telegram's reason."""


_RESERVED: Final = "_*[]()~`>#+-=|{}.!\n"
_CODE: Final = frozenset({"Code", "Pre", "PreCode"})
_OPENERS: Final = (
    ("__", "Underline"),
    ("||", "Spoiler"),
    ("![", "CustomEmoji"),
    ("*", "Bold"),
    ("~", "Strikethrough"),
    ("[", "TextUrl"),
    ("_", "Italic"),
)
_CLOSERS: Final[dict[str, Callable[[str, int], bool]]] = {
    "Bold": lambda t, i: t[i] == "*",
    "Italic": lambda t, i: t[i] == "_" and t[i + 1 : i + 2] != "_",
    "Underline": lambda t, i: t.startswith("__", i),
    "Strikethrough": lambda t, i: t[i] == "~",
    "Spoiler": lambda t, i: t.startswith("||", i),
    "Code": lambda t, i: t[i] == "`",
    "Pre": lambda t, i: t.startswith("```", i),
    "PreCode": lambda t, i: t.startswith("```", i),
    "TextUrl": lambda t, i: t[i] == "]",
    "CustomEmoji": lambda t, i: t[i] == "]",
    "BlockQuote": lambda _t, _i: False,
}
_CLOSER_LENGTH: Final = {"Underline": 2, "Spoiler": 2, "Pre": 3, "PreCode": 3}


@dataclass
class _Parse:
    text: str
    out: list[str] = field(default_factory=list)
    stack: list[tuple[str, int]] = field(default_factory=list)
    """Open entities: (type, byte offset where it began)."""
    quote: bool = False
    line_start: bool = True

    def unclosed(self, kind: str, offset: int) -> EntityParseError:
        return EntityParseError(f"Can't find end of {kind} entity at byte offset {offset}")


def _escapable(char: str) -> bool:
    return bool(char) and 0 < ord(char) <= 126


def parse_markdown_v2(text: str) -> str:
    """The text people see for MarkdownV2 ``text``.

    Raises:
        EntityParseError: Telegram would answer "can't parse entities" (the reason inside).
    """
    state, i = _Parse(text), 0
    while i < len(text):
        char = text[i]
        if char == "\\" and _escapable(text[i + 1 : i + 2]):
            state.out.append(text[i + 1])
            state.line_start = text[i + 1] == "\n" or (text[i + 1] == "\r" and state.line_start)
            i += 2
            continue
        top = state.stack[-1][0] if state.stack else None
        if char not in ("`" if top in _CODE else _RESERVED):
            state.out.append(char)
            state.line_start = state.line_start and char == "\r"
            i += 1
            continue
        ends_quote = state.quote and char == "\n" and text[i + 1 : i + 2] != ">"
        if top is not None and (ends_quote or _CLOSERS[top](text, i)):
            i = _close(state, i)
        else:
            i = _open(state, i)
    if state.quote and state.stack and state.stack[-1][0] == "BlockQuote":
        state.stack.pop()
    if state.stack:
        raise state.unclosed(*state.stack[-1])
    return "".join(state.out)


def _open(state: _Parse, i: int) -> int:
    text, char = state.text, state.text[i]
    begin = len(text[:i].encode())
    if char == "\n":
        state.out.append("\n")
        state.line_start = True
        return i + 1
    if char == ">" and state.line_start:
        if not state.quote:
            state.stack.append(("BlockQuote", begin))
        state.quote = True
        return i + 1
    if char == "`":
        if not text.startswith("```", i):
            state.stack.append(("Code", begin))
            return i + 1
        return _open_pre(state, i + 3, begin)
    for marker, kind in _OPENERS:
        if text.startswith(marker, i):
            state.stack.append((kind, begin))
            return i + len(marker)
    raise EntityParseError(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _open_pre(state: _Parse, i: int, begin: int) -> int:
    text, end = state.text, i
    while end < len(text) and not text[end].isspace() and text[end] != "`":
        end += 1
    kind = "Pre"
    if end not in {i, len(text)} and text[end] != "`":
        kind, i = "PreCode", end  # a language name
    state.stack.append((kind, begin))
    if text[i : i + 2] in {"\r\n", "\n\r"}:
        return i + 2
    return i + 1 if text[i : i + 1] in {"\n", "\r"} else i


def _close(state: _Parse, i: int) -> int:
    text = state.text
    kind, offset = state.stack.pop()
    if kind == "BlockQuote":
        state.out.append("\n")
        state.quote, state.line_start = False, True
        return i + 1
    if text[i] == "\n":  # a quotation ends while an entity inside it is open
        raise state.unclosed(kind, offset)
    i += _CLOSER_LENGTH.get(kind, 1)
    if kind in {"TextUrl", "CustomEmoji"} and text[i : i + 1] == "(":
        url_start = len(text[: i + 1].encode())
        i += 1
        while i < len(text) and text[i] != ")":
            i += 2 if text[i] == "\\" and _escapable(text[i + 1 : i + 2]) else 1
        if i >= len(text):
            raise EntityParseError(f"Can't find end of a URL at byte offset {url_start}")
        i += 1
    elif kind == "CustomEmoji":
        raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
    return i


# -- the people and chats a test plays -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeUser:
    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    is_bot: bool = False

    def payload(self) -> Json:
        optional = {"last_name": self.last_name, "username": self.username}
        base = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        return base | {k: v for k, v in optional.items() if v}


@dataclass(frozen=True, slots=True)
class FakeChat:
    id: int
    type: str
    """private, group, supergroup or channel."""
    title: str | None = None
    is_forum: bool = False
    user: FakeUser | None = None
    """The person of a private chat."""

    def payload(self) -> Json:
        body: Json = {"id": self.id, "type": self.type}
        if self.title:
            body["title"] = self.title
        if self.is_forum:
            body["is_forum"] = True
        if self.user is not None:
            body |= {
                k: v for k, v in self.user.payload().items() if k in {"first_name", "username"}
            }
        return body


def private_chat(user: FakeUser) -> FakeChat:
    """The private chat of ``user`` with the bot (its id is the user's, as on Telegram)."""
    return FakeChat(id=user.id, type="private", user=user)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A sendMessage the fake accepted: ``text`` as people see it, ``raw_text`` as sent."""

    message_id: int
    chat_id: int
    text: str
    raw_text: str
    parse_mode: str | None
    message_thread_id: int | None
    reply_parameters: Json | None


@dataclass(frozen=True, slots=True)
class ChatAction:
    chat_id: int
    action: str
    message_thread_id: int | None
    at: float


@dataclass(frozen=True, slots=True)
class FailedCall:
    method: str
    status: int
    description: str


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.retry_after = retry_after


_ENTITY_PATTERNS: Final = (
    ("bot_command", re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}")),
)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entities_for(text: str) -> list[Json]:
    """The entities Telegram adds to plain ``text``: commands and @mentions (UTF-16 offsets)."""
    found = [
        {"type": kind, "offset": _utf16(text[: m.start()]), "length": _utf16(m.group())}
        for kind, pattern in _ENTITY_PATTERNS
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda entity: entity["offset"])


@dataclass
class _State:
    """Everything the server knows; guarded by ``FakeTelegram._condition``."""

    queue: list[Json] = field(default_factory=list)
    delivered: dict[int, Json] = field(default_factory=dict)
    chats: dict[int, FakeChat] = field(default_factory=dict)
    topics: dict[int, set[int]] = field(default_factory=dict)
    messages: dict[tuple[int, int], Json] = field(default_factory=dict)
    sent: list[SentMessage] = field(default_factory=list)
    actions: list[ChatAction] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    failures: list[FailedCall] = field(default_factory=list)
    scripted: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    stalled: set[str] = field(default_factory=set)
    commands: list[Json] = field(default_factory=list)
    force_conflict: bool = False


class FakeTelegram:
    """The fake Bot API (module doc). Use as a context manager, or start() and stop()."""

    def __init__(self, token: str = TOKEN, bot_username: str = "hermes_test_bot") -> None:
        self.token = token
        bot_id = int(token.partition(":")[0])
        self.bot = FakeUser(bot_id, "Hermes", username=bot_username, is_bot=True)
        self._condition = threading.Condition()
        self._state = _State()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._port = 0
        # Set on the server's loop before _ready; used only there (and call_soon_threadsafe).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._poller: asyncio.Future[None] | None = None

    def start(self) -> None:
        # A daemon thread, so a wedged fake cannot keep the test process alive; stop() joins it.
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve()), name="fake-telegram", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("FakeTelegram did not start within 10 s")

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("FakeTelegram thread did not stop within 10 s")
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The base_url for python-telegram-bot (the token is appended to it)."""
        return f"http://127.0.0.1:{self._port}/bot"

    # -- playing the people ----------------------------------------------------------------------

    def create_topic(self, chat: FakeChat, name: str, creator: FakeUser) -> int:
        """Open a forum topic in ``chat``; its thread id is the id of its creation message."""
        created = {"forum_topic_created": {"name": name, "icon_color": 7322096}}
        message = self._new_message(chat, creator, created)
        message["message_thread_id"] = message["message_id"]
        with self._condition:
            self._state.topics.setdefault(chat.id, set()).add(message["message_id"])
        self._queue({"message": message})
        return int(message["message_id"])

    def send_text(
        self, chat: FakeChat, user: FakeUser, text: str, *, reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> Json:  # fmt: skip
        """A person sends ``text``; returns the queued update."""
        content = {"text": text, "entities": entities_for(text)}
        return self.send_content(chat, user, content, reply_to=reply_to, thread_id=thread_id)

    def send_photo(self, chat: FakeChat, user: FakeUser, caption: str | None) -> Json:
        """A person sends a photo, with ``caption`` if not None."""
        photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 60}]
        content: Json = {"photo": photo}
        if caption is not None:
            content |= {"caption": caption, "caption_entities": entities_for(caption)}
        return self.send_content(chat, user, content)

    def send_content(
        self, chat: FakeChat, user: FakeUser, content: Json, *, reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> Json:  # fmt: skip
        """A person sends a message made of ``content`` (text, caption, photo, sticker...).

        In a forum topic, like Telegram, a message that answers nothing else answers the topic's
        creation message.
        """
        message = self._new_message(chat, user, content)
        if thread_id is not None:
            message |= {"message_thread_id": thread_id, "is_topic_message": True}
        replied = reply_to if reply_to is not None else thread_id
        if replied is not None:
            with self._condition:
                original = self._state.messages[(chat.id, replied)]
            message["reply_to_message"] = {
                k: v for k, v in original.items() if k != "reply_to_message"
            }
        return self._queue({"message": message})

    def send_edit(self, update: Json, text: str) -> Json:
        """The sender of ``update`` edits its message to ``text``."""
        edited = update["message"] | {"text": text, "entities": entities_for(text)}
        return self._queue({"edited_message": edited | {"edit_date": int(time.time())}})

    def know_chat(self, chat: FakeChat) -> None:
        """The bot may send to ``chat`` (as if it had written there before)."""
        with self._condition:
            self._state.chats[chat.id] = chat

    def send_raw(self, body: Json) -> Json:
        """Queue an update with ``body`` as it is (a malformed one, say); returns the update."""
        return self._queue(body)

    def unconfirmed(self) -> list[int]:
        """The ids of the updates the bot has not confirmed yet."""
        with self._condition:
            return [update["update_id"] for update in self._state.queue]

    def redeliver(self, update_id: int) -> Json:
        """Telegram sends the message of ``update_id`` again, under a new update id."""
        with self._condition:
            original = self._state.delivered[update_id]
        return self._queue({k: v for k, v in original.items() if k != "update_id"})

    # -- scripting failures ----------------------------------------------------------------------

    def force_conflict(self, on: bool) -> None:
        """While on, every getUpdates answers 409 Conflict."""
        with self._condition:
            self._state.force_conflict = on

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` answer ``status`` with ``description``.

        ``retry_after`` adds ``parameters.retry_after``, as Telegram does with a 429.
        """
        with self._condition:
            failures = self._state.scripted.setdefault(method.lower(), [])
            failures.extend([(status, description, retry_after)] * count)

    def stall(self, method: str) -> None:
        """Calls of ``method`` never answer (until the server stops)."""
        with self._condition:
            self._state.stalled.add(method.lower())

    # -- what the bot did ------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
        with self._condition:
            return list(self._state.sent)

    @property
    def actions(self) -> list[ChatAction]:
        with self._condition:
            return list(self._state.actions)

    @property
    def failures(self) -> list[FailedCall]:
        with self._condition:
            return list(self._state.failures)

    @property
    def commands(self) -> list[Json]:
        with self._condition:
            return list(self._state.commands)

    def calls(self, method: str | None = None) -> list[str]:
        with self._condition:
            return [c for c in self._state.calls if method is None or c == method]

    def wait_for_sent(
        self, count: int, timeout: float = 5.0, chat_id: int | None = None
    ) -> list[SentMessage]:
        def sent() -> list[SentMessage]:
            return [m for m in self._state.sent if chat_id in {None, m.chat_id}]

        return self._wait(sent, count, timeout, "sent message(s)")

    def wait_for_actions(
        self, count: int, timeout: float = 5.0, chat_id: int | None = None
    ) -> list[ChatAction]:
        def actions() -> list[ChatAction]:
            return [a for a in self._state.actions if chat_id in {None, a.chat_id}]

        return self._wait(actions, count, timeout, "chat action(s)")

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[str]:
        def calls() -> list[str]:
            return [c for c in self._state.calls if c == method]

        return self._wait(calls, count, timeout, f"{method} call(s)")

    def wait_for_failures(self, count: int = 1, timeout: float = 5.0) -> list[FailedCall]:
        return self._wait(lambda: list(self._state.failures), count, timeout, "failed call(s)")

    def wait_for_confirmed(self, update: Json, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed ``update`` (asked getUpdates with a higher offset)."""

        def confirmed() -> list[bool]:
            return [True] if update not in self._state.queue else []

        self._wait(confirmed, 1, timeout, "confirmation")

    def _wait(self, probe: Callable[[], list[Any]], count: int, timeout: float, what: str) -> Any:
        with self._condition:
            if not self._condition.wait_for(lambda: len(probe()) >= count, timeout):
                got = len(probe())
                raise AssertionError(f"expected {count} {what} within {timeout} s, got {got}")
            return probe()

    # -- state, from any thread ------------------------------------------------------------------

    def _new_message(self, chat: FakeChat, user: FakeUser, content: Json) -> Json:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.payload(),
            "from": user.payload(),
            **content,
        }
        with self._condition:
            self._state.chats[chat.id] = chat
            self._state.messages[(chat.id, message["message_id"])] = message
        return message

    def _queue(self, body: Json) -> Json:
        update = {"update_id": next(self._update_ids), **body}
        with self._condition:
            self._state.queue.append(update)
            self._state.delivered[update["update_id"]] = update
            self._condition.notify_all()
        if self._loop is not None and self._wakeup is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        return update

    def _record(self, **changes: Any) -> None:
        with self._condition:
            for name, value in changes.items():
                getattr(self._state, name).append(value)
            self._condition.notify_all()

    # -- the server, on its own loop -------------------------------------------------------------

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event, self._wakeup = asyncio.Event(), asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{prefix}/{method}", self._dispatch)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._port = runner.addresses[0][1]
            self._ready.set()
            await self._stop_event.wait()
            self._wakeup.set()
        finally:
            await runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self._record(calls=method)
        try:
            result = await self._answer(request, method)
        except ApiError as error:
            self._record(failures=FailedCall(method, error.status, error.description))
            body: Json = {"ok": False, "error_code": error.status, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

    async def _answer(self, request: web.Request, method: str) -> Any:
        if request.match_info["prefix"] != f"bot{self.token}":
            raise ApiError(401, "Unauthorized")
        params = await _params(request)
        with self._condition:
            stalled = method.lower() in self._state.stalled
            script = self._state.scripted.get(method.lower())
            failure = script.pop(0) if script else None
        if stalled and self._stop_event is not None:
            await self._stop_event.wait()
        if failure is not None:
            raise ApiError(*failure)
        return await self._call(method.lower(), params)

    async def _call(self, method: str, params: Json) -> Any:
        if method == "getme":
            flags = {"can_join_groups": True, "can_read_all_group_messages": False}
            return self.bot.payload() | flags | {"supports_inline_queries": False}
        if method == "deletewebhook":
            return True
        if method == "setmycommands":
            with self._condition:
                self._state.commands = list(_json(params.get("commands")) or [])
            return True
        if method == "getupdates":
            return await self._get_updates(params)
        if method == "sendmessage":
            return self._send_message(params)
        if method == "sendchataction":
            chat_id, thread_id = self._check_target(params)
            action = ChatAction(chat_id, str(params.get("action")), thread_id, time.monotonic())
            self._record(actions=action)
            return True
        raise ApiError(404, "Not Found")

    async def _get_updates(self, params: Json) -> list[Json]:
        loop, wakeup, stop = self._loop, self._wakeup, self._stop_event
        assert loop is not None
        assert wakeup is not None
        assert stop is not None
        with self._condition:
            if self._state.force_conflict:
                raise ApiError(409, CONFLICT)
        offset, timeout = int(params.get("offset") or 0), float(params.get("timeout") or 0)
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)  # Telegram ends the older long poll
        mine = self._poller = loop.create_future()
        deadline = loop.time() + timeout
        try:
            while True:
                with self._condition:  # confirmed (below offset) updates are forgotten
                    self._state.queue = [u for u in self._state.queue if u["update_id"] >= offset]
                    updates = list(self._state.queue)
                    self._condition.notify_all()
                remaining = deadline - loop.time()
                if updates or mine.done() or remaining <= 0 or stop.is_set():
                    break
                wakeup.clear()
                waiter = asyncio.ensure_future(wakeup.wait())
                await asyncio.wait([waiter, mine], timeout=remaining, return_when="FIRST_COMPLETED")
                waiter.cancel()
        finally:
            if self._poller is mine:
                self._poller = None
        if mine.done():
            raise ApiError(409, CONFLICT)
        return updates

    def _check_target(self, params: Json) -> tuple[int, int | None]:
        chat, thread = str(params.get("chat_id", "")), params.get("message_thread_id")
        thread_id = int(thread) if thread not in {None, ""} else None
        with self._condition:
            if not chat.lstrip("-").isdigit() or int(chat) not in self._state.chats:
                raise ApiError(400, "Bad Request: chat not found")
            if thread_id is not None and thread_id not in self._state.topics.get(int(chat), ()):
                raise ApiError(400, "Bad Request: message thread not found")
        return int(chat), thread_id

    def _send_message(self, params: Json) -> Json:
        chat_id, thread_id = self._check_target(params)
        raw, parse_mode = str(params.get("text", "")), params.get("parse_mode")
        try:
            visible = parse_markdown_v2(raw) if parse_mode == "MarkdownV2" else raw
        except EntityParseError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        reply = _json(params.get("reply_parameters"))
        with self._condition:
            chat = self._state.chats[chat_id]
            missing = reply and (chat_id, reply["message_id"]) not in self._state.messages
            if missing and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        message = self._new_message(chat, self.bot, {"text": visible})
        if thread_id is not None:
            message |= {"message_thread_id": thread_id, "is_topic_message": True}
        sent = SentMessage(
            message["message_id"], chat_id, visible, raw, parse_mode, thread_id, reply
        )
        self._record(sent=sent)
        return message


async def _params(request: web.Request) -> Json:
    """The call's parameters as PTB sends them: form fields, non-strings JSON-encoded."""
    if request.content_type == "application/json":
        body = await request.json()
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else None
