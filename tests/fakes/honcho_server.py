"""A fake Honcho v3 server on loopback, for driving the real honcho-ai SDK in tests.

``FakeHoncho`` runs an aiohttp server on its own thread and event loop:

    with FakeHoncho() as honcho:
        provider = HonchoMemoryProvider(HonchoSettings(base_url=honcho.base_url, ...))
        ...
        stored = honcho.wait_for_messages("agent-main-telegram-dm-1", 2)

It serves the ``/v3/workspaces/...`` routes the SDK calls in Hermes' flows: workspace, peer and
session get-or-create, session peers, add messages, session and peer search (case-insensitive
substring over stored messages), session context, peer card get/set, peer chat (answers
``"dialectic: <query>"``) and conclusions, with the minimum JSON the SDK validates. Every
request is recorded (method, path, query, JSON body, Authorization header, status) and every
stored message is kept per (workspace, session). ``fail_next`` makes the next requests answer
500 (the error detail echoes the Authorization header, as careless servers do, so tests can
check the client redacts it); ``delay`` slows every answer down. Waits take a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Self

from aiohttp import web

if TYPE_CHECKING:
    from types import TracebackType

Json = Any
_WS: Final = r"/v3/workspaces/(?P<ws>[^/]+)"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    body: Json
    authorization: str
    status: int


@dataclass(slots=True)
class _Failure:
    remaining: int
    status: int
    path_contains: str


@dataclass(slots=True)
class _State:
    """Everything the fake stores; guarded by FakeHoncho._condition."""

    workspaces: set[str] = field(default_factory=set)
    peers: set[tuple[str, str]] = field(default_factory=set)
    sessions: set[tuple[str, str]] = field(default_factory=set)
    session_peers: dict[tuple[str, str], dict[str, Json]] = field(default_factory=dict)
    messages: dict[tuple[str, str], list[Json]] = field(default_factory=dict)
    cards: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    conclusions: list[Json] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeHoncho:
    """A fake Honcho server on 127.0.0.1 and its own thread (module docstring)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._requests: list[Recorded] = []
        self._state = _State()
        self._failures: list[_Failure] = []
        self._delay = 0.0
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Json]]]] = [
            ("POST", re.compile(r"/v3/workspaces"), self._workspace),
            ("POST", re.compile(_WS + r"/peers"), self._peer),
            ("POST", re.compile(_WS + r"/sessions"), self._session),
            ("POST", re.compile(_WS + r"/sessions/(?P<sid>[^/]+)/peers"), self._add_peers),
            ("POST", re.compile(_WS + r"/sessions/(?P<sid>[^/]+)/messages"), self._add_messages),
            ("POST", re.compile(_WS + r"/sessions/(?P<sid>[^/]+)/search"), self._session_search),
            ("GET", re.compile(_WS + r"/sessions/(?P<sid>[^/]+)/context"), self._context),
            ("POST", re.compile(_WS + r"/peers/(?P<pid>[^/]+)/search"), self._peer_search),
            ("GET", re.compile(_WS + r"/peers/(?P<pid>[^/]+)/card"), self._get_card),
            ("PUT", re.compile(_WS + r"/peers/(?P<pid>[^/]+)/card"), self._set_card),
            ("POST", re.compile(_WS + r"/peers/(?P<pid>[^/]+)/chat"), self._chat),
            ("POST", re.compile(_WS + r"/conclusions"), self._conclude),
        ]

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port; return once the server is listening."""
        if self._thread is not None:
            raise RuntimeError("FakeHoncho already started")
        self._thread = threading.Thread(target=self._run, name="fake-honcho", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("FakeHoncho did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join(5.0)
            self._thread = None
            raise RuntimeError("FakeHoncho failed to start") from self._startup_error

    def stop(self) -> None:
        """Stop the server (delayed answers end at once) and join its thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("FakeHoncho thread did not stop within 10 s")
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server's root, ``http://127.0.0.1:<port>`` (the SDK adds ``/v3/...``)."""
        if not self._port:
            raise RuntimeError("FakeHoncho is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- control ---------------------------------------------------------------------------

    def fail_next(self, count: int, *, status: int = 500, path_contains: str = "") -> None:
        """Fail the next ``count`` requests whose path contains ``path_contains``."""
        with self._condition:
            self._failures.append(_Failure(count, status, path_contains))

    def delay(self, seconds: float) -> None:
        """Answer every later request after ``seconds``."""
        with self._condition:
            self._delay = seconds

    def set_card(self, peer_id: str, card: list[str], workspace: str = "hermes") -> None:
        """Give ``peer_id`` a peer card, as Honcho's deriver would."""
        with self._condition:
            self._state.cards[(workspace, peer_id)] = list(card)

    # --- inspection ------------------------------------------------------------------------

    def requests(self) -> list[Recorded]:
        """Every request received so far, in arrival order."""
        with self._condition:
            return list(self._requests)

    def messages(self, session_id: str, workspace: str = "hermes") -> list[Json]:
        """The messages stored in one session, in order."""
        with self._condition:
            return list(self._state.messages.get((workspace, session_id), []))

    def all_messages(self, workspace: str = "hermes") -> dict[str, list[Json]]:
        """Every stored message of ``workspace``, by session id."""
        with self._condition:
            return {
                sid: list(stored)
                for (ws, sid), stored in self._state.messages.items()
                if ws == workspace
            }

    def sessions(self, workspace: str = "hermes") -> set[str]:
        """The ids of the sessions created in ``workspace``."""
        with self._condition:
            return {sid for ws, sid in self._state.sessions if ws == workspace}

    def peers(self, workspace: str = "hermes") -> set[str]:
        """The ids of the peers created in ``workspace``."""
        with self._condition:
            return {pid for ws, pid in self._state.peers if ws == workspace}

    def session_peers(self, session_id: str, workspace: str = "hermes") -> dict[str, Json]:
        """The peers added to one session, with their configuration."""
        with self._condition:
            return dict(self._state.session_peers.get((workspace, session_id), {}))

    def conclusions(self) -> list[Json]:
        """Every conclusion created, in order."""
        with self._condition:
            return list(self._state.conclusions)

    def wait_for_messages(
        self, session_id: str, count: int, timeout: float = 5.0, workspace: str = "hermes"
    ) -> list[Json]:
        """Wait until one session holds at least ``count`` messages; return them."""
        key = (workspace, session_id)
        with self._condition:
            if not self._condition.wait_for(
                lambda: len(self._state.messages.get(key, [])) >= count, timeout
            ):
                got = len(self._state.messages.get(key, []))
                raise AssertionError(f"{session_id}: expected {count} messages, got {got}")
            return list(self._state.messages[key])

    def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` requests have arrived and are not answered yet."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._in_flight >= count, timeout):
                raise AssertionError(f"expected {count} request(s) in flight within {timeout} s")

    def wait_for_requests(
        self, predicate: Callable[[Recorded], bool], count: int = 1, timeout: float = 5.0
    ) -> list[Recorded]:
        """Wait until ``count`` recorded requests satisfy ``predicate``; return those."""
        with self._condition:
            if not self._condition.wait_for(
                lambda: sum(map(predicate, self._requests)) >= count, timeout
            ):
                raise AssertionError(f"expected {count} matching request(s) within {timeout} s")
            return [r for r in self._requests if predicate(r)]

    # --- serving ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            if self._ready.is_set():
                raise
            self._startup_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._on_request)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._port = runner.addresses[0][1]
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    async def _on_request(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        authorization = request.headers.get("Authorization", "")
        with self._condition:
            delay = self._delay
            self._in_flight += 1
            self._condition.notify_all()
        if delay > 0 and self._stop_event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), delay)
        with self._condition:
            self._in_flight -= 1
            status, answer = self._answer(request, body, authorization)
            self._requests.append(
                Recorded(
                    request.method, request.path, dict(request.query), body, authorization, status
                )
            )
            self._condition.notify_all()
        return web.json_response(answer, status=status)

    def _answer(self, request: web.Request, body: Json, authorization: str) -> tuple[int, Json]:
        for failure in self._failures:
            if failure.remaining > 0 and failure.path_contains in request.path:
                failure.remaining -= 1
                detail = f"injected failure; the request carried {authorization!r}"
                return failure.status, {"detail": detail}
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler(body, dict(request.query), **match.groupdict())
        return 404, {"detail": f"no route {request.method} {request.path}"}

    # --- routes (called under the condition) -------------------------------------------------

    def _workspace(self, body: Json, _query: dict[str, str]) -> tuple[int, Json]:
        self._state.workspaces.add(body["id"])
        return 200, {"id": body["id"], "metadata": {}, "configuration": {}, "created_at": _now()}

    def _peer(self, body: Json, _query: dict[str, str], ws: str) -> tuple[int, Json]:
        self._state.peers.add((ws, body["id"]))
        return 200, _peer_json(ws, body["id"])

    def _session(self, body: Json, _query: dict[str, str], ws: str) -> tuple[int, Json]:
        self._state.sessions.add((ws, body["id"]))
        for peer_id, config in (body.get("peers") or {}).items():
            self._state.session_peers.setdefault((ws, body["id"]), {})[peer_id] = config
        return 200, _session_json(ws, body["id"])

    def _add_peers(self, body: Json, _query: dict[str, str], ws: str, sid: str) -> tuple[int, Json]:
        if (ws, sid) not in self._state.sessions:
            return 404, {"detail": f"session {sid} not found"}
        for peer_id, config in body.items():
            self._state.peers.add((ws, peer_id))
            self._state.session_peers.setdefault((ws, sid), {})[peer_id] = config
        return 200, _session_json(ws, sid)

    def _add_messages(
        self, body: Json, _query: dict[str, str], ws: str, sid: str
    ) -> tuple[int, Json]:
        if (ws, sid) not in self._state.sessions:
            return 404, {"detail": f"session {sid} not found"}
        stored = self._state.messages.setdefault((ws, sid), [])
        created = []
        for message in body["messages"]:
            item = {
                "id": f"msg-{next(self._ids)}",
                "content": message["content"],
                "peer_id": message["peer_id"],
                "session_id": sid,
                "workspace_id": ws,
                "metadata": message.get("metadata") or {},
                "created_at": message.get("created_at") or _now(),
                "token_count": len(message["content"].split()),
            }
            stored.append(item)
            created.append(item)
        return 200, created

    def _session_search(
        self, body: Json, _query: dict[str, str], ws: str, sid: str
    ) -> tuple[int, Json]:
        found = _matching(self._state.messages.get((ws, sid), []), body["query"])
        return 200, found[: body.get("limit") or 10]

    def _peer_search(
        self, body: Json, _query: dict[str, str], ws: str, pid: str
    ) -> tuple[int, Json]:
        mine = [
            message
            for (workspace, _sid), stored in self._state.messages.items()
            if workspace == ws
            for message in stored
            if message["peer_id"] == pid
        ]
        return 200, _matching(mine, body["query"])[: body.get("limit") or 10]

    def _context(self, _body: Json, _query: dict[str, str], ws: str, sid: str) -> tuple[int, Json]:
        messages = self._state.messages.get((ws, sid), [])
        return 200, {
            "id": sid,
            "messages": messages,
            "summary": None,
            "peer_representation": None,
            "peer_card": None,
        }

    def _get_card(self, _body: Json, _query: dict[str, str], ws: str, pid: str) -> tuple[int, Json]:
        return 200, {"peer_card": self._state.cards.get((ws, pid))}

    def _set_card(self, body: Json, _query: dict[str, str], ws: str, pid: str) -> tuple[int, Json]:
        self._state.cards[(ws, pid)] = list(body["peer_card"])
        return 200, {"peer_card": self._state.cards[(ws, pid)]}

    def _chat(self, body: Json, _query: dict[str, str], ws: str, pid: str) -> tuple[int, Json]:
        del ws, pid
        return 200, {"content": f"dialectic: {body['query']}"}

    def _conclude(self, body: Json, _query: dict[str, str], ws: str) -> tuple[int, Json]:
        created = []
        for conclusion in body["conclusions"]:
            item = {
                "id": f"conclusion-{next(self._ids)}",
                "content": conclusion["content"],
                "observer_id": conclusion["observer_id"],
                "observed_id": conclusion["observed_id"],
                "session_id": conclusion.get("session_id"),
                "created_at": _now(),
                "workspace_id": ws,
            }
            self._state.conclusions.append(item)
            created.append({k: v for k, v in item.items() if k != "workspace_id"})
        return 200, created


def _peer_json(ws: str, peer_id: str) -> Json:
    return {
        "id": peer_id,
        "workspace_id": ws,
        "created_at": _now(),
        "metadata": {},
        "configuration": {},
    }


def _session_json(ws: str, session_id: str) -> Json:
    return {
        "id": session_id,
        "workspace_id": ws,
        "is_active": True,
        "created_at": _now(),
        "metadata": {},
        "configuration": {},
    }


def _matching(messages: list[Json], query: str) -> list[Json]:
    needle = query.casefold()
    return [message for message in messages if needle in message["content"].casefold()]
