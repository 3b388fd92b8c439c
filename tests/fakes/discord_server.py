"""A fake Discord on loopback (REST API v10 and the gateway websocket), on its own thread.

REST under ``/api/v10``: ``GET /users/@me``, ``/oauth2/applications/@me``, ``/gateway[/bot]``,
``POST /channels/{id}/messages`` and ``/typing``; else 404. Bodies are JSON with the header
``Content-Type: application/json`` exactly (discord.py parses nothing else as JSON). The gateway
(plain JSON text frames) sends HELLO, acknowledges heartbeats, answers IDENTIFY with READY and a
GUILD_CREATE (channels ``general`` and ``free``, a thread under each), then what the test
injects. It refuses, and records, what Discord refuses: a wrong token (401; close code 4004),
content over 2000 characters (400, 50035), empty content (400, 50006), an unknown channel (404,
10003), a reply to a message unknown in that channel (400, 50035, like a reply to a system
message).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Self

from aiohttp import WSMsgType, web

DEFAULT_TOKEN: Final = "fake-bot-token.abc123"  # noqa: S105  (the fake's own)
MAX_CONTENT: Final = 2000
DISCORD_EPOCH_MS: Final = 1420070400000

Body = dict[str, Any]
_CHANNEL_ROUTE: Final = re.compile(r"channels/(\d+)/(messages|typing)")
_MESSAGE_DEFAULTS: Final = json.loads(
    '{"edited_timestamp": null, "tts": false, "mention_everyone": false, "mention_roles": [],'
    ' "attachments": [], "embeds": [], "components": [], "pinned": false, "flags": 0}'
)
_THREAD_METADATA: Final = {"archived": False, "auto_archive_duration": 1440, "locked": False}


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Discord user (or bot) the fake knows."""

    id: int
    name: str
    bot: bool = False

    def payload(self) -> Body:
        user = {"id": str(self.id), "username": self.name, "global_name": self.name.title()}
        return {**user, "discriminator": "0", "avatar": None, "public_flags": 0} | (
            {"bot": True} if self.bot else {}
        )


@dataclass(frozen=True, slots=True)
class FakeChannel:
    """A channel: ``dm``, ``text`` (a guild text channel) or ``thread`` (a public thread)."""

    id: int
    name: str
    kind: str
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot sent and the fake accepted."""

    id: int
    channel_id: int
    content: str
    reference_id: int | None
    body: Body = field(repr=False)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request the fake refused as Discord would."""

    path: str
    status: int
    code: int


@dataclass(slots=True)
class _Session:
    ws: web.WebSocketResponse
    sequence: int = 0


class FakeDiscord:
    """A fake Discord on 127.0.0.1 and its own thread (module doc)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, reject_identify: bool = False) -> None:
        self.token = token
        self.reject_identify = reject_identify
        """Close IDENTIFY with 4004 even for the right token (a token revoked after login)."""
        self._ids = itertools.count()
        self._id_lock = threading.Lock()
        self._condition = threading.Condition()
        self.bot = FakeUser(self._snowflake(), "hermes-bot", bot=True)
        self.application_id, self.guild_id = self._snowflake(), self._snowflake()
        self.guild_name = "Hermes Lab"
        self.general = FakeChannel(self._snowflake(), "general", "text")
        self.free = FakeChannel(self._snowflake(), "free", "text")
        self.thread = FakeChannel(self._snowflake(), "plans", "thread", self.general.id)
        self.free_thread = FakeChannel(self._snowflake(), "chatter", "thread", self.free.id)
        # Shared with the server thread, under _condition:
        self._channels = {c.id: c for c in (self.general, self.free, self.thread, self.free_thread)}
        self._dm_channels: dict[int, FakeChannel] = {}
        self._messages: dict[int, Body] = {}
        self._sent: list[SentMessage] = []
        self._by_nonce: dict[str, Body] = {}
        self._typings: list[int] = []
        self._rejections: list[Rejection] = []
        self._intents: list[int] = []
        self._logins = 0
        self._resumes = 0
        self._login_failures: list[int] = []
        self._send_failures: list[tuple[int, Body]] = []
        # The server thread's own:
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._sessions: list[_Session] = []

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port; return once the server is listening."""
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(),), name="fake-discord", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("FakeDiscord did not start within 10 s")

    def stop(self) -> None:
        """Close every gateway session and the server; join its thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("FakeDiscord thread did not stop within 10 s")
        self._thread = self._loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/"

    # -- the test's side ------------------------------------------------------------------------

    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        return FakeUser(self._snowflake(), name, bot=bot)

    def dm_channel_id(self, user: FakeUser) -> int:
        """The DM channel between ``user`` and the bot (made on first use)."""
        with self._condition:
            if user.id not in self._dm_channels:
                channel = FakeChannel(self._snowflake(), user.name, "dm")
                self._dm_channels[user.id] = self._channels[channel.id] = channel
            return self._dm_channels[user.id].id

    def send_dm(self, user: FakeUser, text: str, *, reply_to: int | None = None) -> Body:
        """``user`` writes ``text`` to the bot in private; returns the dispatched message."""
        channel = self._channels[self.dm_channel_id(user)]
        return self.send_channel(channel, user, text, reply_to=reply_to)

    def send_channel(
        self,
        channel: FakeChannel,
        user: FakeUser,
        text: str,
        *,
        mentions: Iterable[FakeUser] = (),
        reply_to: int | None = None,
    ) -> Body:
        """``user`` writes ``text`` in a channel (or thread); returns the dispatched message."""
        payload = self._message(channel, user, text, tuple(mentions), reply_to)
        self._dispatch("MESSAGE_CREATE", payload)
        return payload

    send_thread = send_channel

    def redispatch(self, message: Body) -> None:
        """Dispatch a MESSAGE_CREATE again, as Discord may after a reconnect."""
        self._dispatch("MESSAGE_CREATE", message)

    def drop_connections(self) -> None:
        """Close every gateway session (code 4000), as Discord does now and then."""
        if self._loop is None:
            raise RuntimeError("FakeDiscord is not running")
        asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop).result(5.0)

    @property
    def resumes(self) -> int:
        """How many RESUMEs were accepted."""
        with self._condition:
            return self._resumes

    def fail_next_send(self, status: int, code: int = 0, message: str = "Service Unavailable"):
        """Refuse the next ``POST /channels/{id}/messages`` with ``status``."""
        with self._condition:
            self._send_failures.append((status, {"message": message, "code": code}))

    def fail_next_logins(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` ``GET /users/@me`` (discord.py's login) with ``status``."""
        with self._condition:
            self._login_failures.extend([status] * count)

    @property
    def logins(self) -> int:
        """How many ``GET /users/@me`` arrived with the right token."""
        with self._condition:
            return self._logins

    @property
    def intents(self) -> list[int]:
        """The intents of every accepted IDENTIFY, in order."""
        with self._condition:
            return list(self._intents)

    def sent(self, channel_id: int | None = None) -> list[SentMessage]:
        with self._condition:
            return [m for m in self._sent if channel_id in (None, m.channel_id)]

    def wait_for_sent(
        self, count: int, channel_id: int | None = None, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Wait until ``count`` messages were sent (to ``channel_id``); return them all."""
        self._wait(lambda: len(self.sent(channel_id)) >= count, timeout, f"{count} sent")
        return self.sent(channel_id)

    def typings(self, channel_id: int | None = None) -> list[int]:
        with self._condition:
            return [c for c in self._typings if channel_id in (None, c)]

    def wait_for_typing(self, count: int, channel_id: int | None = None, timeout: float = 5.0):
        self._wait(lambda: len(self.typings(channel_id)) >= count, timeout, f"{count} typing")
        return self.typings(channel_id)

    def rejections(self) -> list[Rejection]:
        with self._condition:
            return list(self._rejections)

    def wait_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` IDENTIFYs were answered with READY."""
        self._wait(lambda: len(self._intents) >= count, timeout, f"{count} READY")

    def _snowflake(self) -> int:
        with self._id_lock:
            return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(self._ids) & 0xFFF)

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._condition:
            if not self._condition.wait_for(predicate, timeout):
                raise AssertionError(f"FakeDiscord: no {what} within {timeout} s")

    def _dispatch(self, event: str, data: Body) -> None:
        if self._loop is None:
            raise RuntimeError("FakeDiscord is not running")
        done = asyncio.run_coroutine_threadsafe(self._dispatch_all(event, data), self._loop)
        if not done.result(5.0):
            raise AssertionError(f"FakeDiscord: no gateway session to send {event} to")

    def _message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        text: str,
        mentions: tuple[FakeUser, ...],
        reply_to: int | None,
    ) -> Body:
        now = datetime.now(UTC).isoformat()
        payload: Body = {
            **_MESSAGE_DEFAULTS,
            "id": str(self._snowflake()),
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": text,
            "timestamp": now,
            "mentions": [user.payload() for user in mentions],
            "type": 0 if reply_to is None else 19,
        }
        if channel.kind != "dm":
            payload["guild_id"] = str(self.guild_id)
            payload["member"] = {"roles": [], "joined_at": now, "deaf": False, "mute": False}
        with self._condition:
            if reply_to is not None:
                reference = {"type": 0, "message_id": str(reply_to), "channel_id": str(channel.id)}
                payload["message_reference"] = reference
                payload["referenced_message"] = self._messages.get(reply_to)
            self._messages[int(payload["id"])] = payload
        return payload

    # -- the server: gateway --------------------------------------------------------------------

    async def _serve(self) -> None:
        self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._port = runner.addresses[0][1]
            self._ready.set()
            await self._stop_event.wait()
            for session in list(self._sessions):
                await session.ws.close(code=1001, message=b"fake Discord stopping")
        finally:
            await runner.cleanup()

    async def _drop_all(self) -> None:
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await session.ws.close(code=4000, message=b"dropped by the test")

    async def _dispatch_all(self, event: str, data: Body) -> int:
        for session in list(self._sessions):
            await _send_dispatch(session, event, data)
        return len(self._sessions)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        session = _Session(ws=ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_frame(session, json.loads(frame.data))
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
        return ws

    async def _on_frame(self, session: _Session, frame: Body) -> None:
        op, data = frame.get("op"), frame.get("d") or {}
        if op == 1:  # heartbeat
            await session.ws.send_str(json.dumps({"op": 11}))
        elif op in {2, 6}:  # identify, resume
            if data.get("token") != self.token or self.reject_identify:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return
            self._sessions.append(session)
            if op == 6:
                await _send_dispatch(session, "RESUMED", {})
                with self._condition:
                    self._resumes += 1
                return
            await _send_dispatch(session, "READY", self._ready_payload())
            await _send_dispatch(session, "GUILD_CREATE", self._guild_payload())
            with self._condition:
                self._intents.append(int(data.get("intents", 0)))
                self._condition.notify_all()

    def _ready_payload(self) -> Body:
        return {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [],
            "session_id": uuid.uuid4().hex,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "_trace": ["fake-discord"],
        }

    def _guild_payload(self) -> Body:
        now, guild_id = datetime.now(UTC).isoformat(), str(self.guild_id)
        everyone = {"id": guild_id, "name": "@everyone", "permissions": "2248473465835073"}
        channels = [
            {"id": str(c.id), "type": 0, "guild_id": guild_id, "name": c.name, "position": i}
            | {"permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None}
            for i, c in enumerate((self.general, self.free))
        ]
        threads = [
            {"id": str(t.id), "type": 11, "guild_id": guild_id, "parent_id": str(t.parent_id)}
            | {"owner_id": str(self.bot.id), "name": t.name, "message_count": 0}
            | {"member_count": 1, "thread_metadata": {**_THREAD_METADATA, "archive_timestamp": now}}
            for t in (self.thread, self.free_thread)
        ]
        return {
            "id": guild_id,
            "name": self.guild_name,
            "owner_id": str(self.bot.id),
            "roles": [{**everyone, "position": 0, "color": 0, "hoist": False, "managed": False}],
            "member_count": 3,
            "channels": channels,
            "threads": threads,
            "unavailable": False,
            "joined_at": now,
        }

    # -- the server: REST -----------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path, method = request.match_info["tail"], request.method
        if path != "gateway" and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._refuse(path, 401, {"message": "401: Unauthorized", "code": 0})
        match = _CHANNEL_ROUTE.fullmatch(path)
        if method == "POST" and match is not None:
            if match.group(2) == "typing":
                return self._typing(int(match.group(1)), path)
            return self._create_message(int(match.group(1)), path, await request.json())
        answer = self._get(path) if method == "GET" else None
        return answer or self._refuse(path, 404, {"message": "404: Not Found", "code": 0})

    def _get(self, path: str) -> web.Response | None:
        if path == "users/@me":
            return self._me()
        if path == "oauth2/applications/@me":
            app: Body = {"id": str(self.application_id), "name": "Hermes", "description": ""}
            app |= {"icon": None, "bot_public": False, "bot_require_code_grant": False}
            owner = FakeUser(self.bot.id + 1, "owner").payload()
            return _json(200, app | {"owner": owner, "verify_key": "0" * 64, "flags": 0})
        if path in {"gateway", "gateway/bot"}:
            return _json(200, {"url": self.gateway_url, "shards": 1})
        return None

    def _me(self) -> web.Response:
        with self._condition:
            self._logins += 1
            status = self._login_failures.pop(0) if self._login_failures else None
        if status is not None:
            return self._refuse("users/@me", status, {"message": "Unavailable", "code": 0})
        return _json(200, {**self.bot.payload(), "verified": True, "mfa_enabled": False})

    def _typing(self, channel_id: int, path: str) -> web.Response:
        with self._condition:
            if channel_id in self._channels:
                self._typings.append(channel_id)
                self._condition.notify_all()
                return web.Response(status=204)
        return self._refuse(path, 404, {"message": "Unknown Channel", "code": 10003})

    def _create_message(self, channel_id: int, path: str, body: Body) -> web.Response:
        refusal = self._check_send(channel_id, body)
        if refusal is not None:
            return self._refuse(path, *refusal)
        nonce = body.get("nonce") if body.get("enforce_nonce") else None
        with self._condition:
            earlier = self._by_nonce.get(str(nonce)) if nonce is not None else None
        if earlier is not None:  # Discord: the message this nonce already made, made once
            return _json(200, earlier)
        reference = (body.get("message_reference") or {}).get("message_id")
        reference_id = int(reference) if reference is not None else None
        with self._condition:
            channel = self._channels[channel_id]
        payload = self._message(channel, self.bot, body["content"], (), reference_id)
        sent = SentMessage(int(payload["id"]), channel_id, body["content"], reference_id, body)
        with self._condition:
            self._sent.append(sent)
            if nonce is not None:
                self._by_nonce[str(nonce)] = payload
            self._condition.notify_all()
        # Rate-limit headers as Discord sends them (never exhausted here), so discord.py lets
        # sends to one channel overlap as it would in production.
        limits = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4"}
        limits |= {"X-RateLimit-Reset-After": "5.0", "X-RateLimit-Bucket": "fake-messages"}
        return _json(200, payload, limits)

    def _check_send(self, channel_id: int, body: Body) -> tuple[int, Body] | None:
        """Discord's answer to a send it refuses, or None."""
        content = body.get("content") or ""
        reference = (body.get("message_reference") or {}).get("message_id")
        with self._condition:
            if channel_id not in self._channels:
                return 404, {"message": "Unknown Channel", "code": 10003}
            if self._send_failures:
                return self._send_failures.pop(0)
            known = self._messages.get(int(reference)) if reference is not None else None
        if not content.strip() and not body.get("embeds"):
            return 400, {"message": "Cannot send an empty message", "code": 50006}
        if len(content) > MAX_CONTENT:
            return 400, _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer")
        if reference is not None and (known is None or known["channel_id"] != str(channel_id)):
            return 400, _form_error("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown")
        return None

    def _refuse(self, path: str, status: int, body: Body) -> web.Response:
        with self._condition:
            self._rejections.append(Rejection(path, status, body["code"]))
            self._condition.notify_all()
        return _json(status, body)


async def _send_dispatch(session: _Session, event: str, data: Body) -> None:
    session.sequence += 1
    await session.ws.send_str(json.dumps({"op": 0, "t": event, "s": session.sequence, "d": data}))


def _form_error(field_name: str, code: str, message: str) -> Body:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def _json(status: int, body: Body, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py does not parse "application/json; charset=utf-8".
    headers = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)
