"""A fake OpenAI-compatible chat-completions server on loopback, for tests.

``FakeLLM`` runs an aiohttp server on its own thread and event loop, so synchronous
test code (and the gateway under test, on its own threads) talks to it over real HTTP:

    with FakeLLM() as llm:
        agent = OpenAIAgent(OpenAIAgentSettings(base_url=llm.base_url, ...))
        ...
        body = llm.wait_for_requests(1)[0]

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE in the exact OpenAI chunk
format when ``"stream": true``) and ``GET /v1/models``.

Default answer: ``"echo: " + <content of the last user message>``, usage 10 prompt and
5 completion tokens. Markers inside the last user message change the behaviour, so
end-to-end tests can drive the fake through the whole gateway:

- ``[slow:SECONDS]`` answers after that many seconds.
- ``[fail:STATUS]`` answers with that HTTP status and an OpenAI-shaped error body
  ``{"error": {"message", "type", "param", "code"}}``. A 401's message echoes the
  bearer token it got, as some providers do, so tests can check the client redacts it.
- ``[overflow]`` answers 400 ``context_length_exceeded``, as OpenAI does.
- ``[hold:TAG]`` waits until the test calls ``release(TAG)`` (or 30 s pass, or the
  client hangs up). A release is sticky: later requests holding TAG pass at once.

``script(rule)`` overrides the markers: ``rule`` gets each request body and returns a
``Reply``, or None for the default. A ``Reply`` can also misbehave on the wire: extra
``headers`` (``Retry-After``), a stream that holds (``hold_after``) or breaks
(``cut_after``) after some chunks, raw bytes injected into a stream (``inject``, e.g. a
line that is not JSON), or a raw body (``raw_body``). ``disconnects()`` counts the
requests whose client hung up before the answer was complete; ``peer_ports()`` gives the
client port of each request, to see connections reused.

Every chat request body is recorded in arrival order (with its ``tools`` and all its
``messages``, tool results included), with the ``Authorization`` header under the extra
key ``"_authorization"``.

Tool calls: ``Reply(tool_calls=(("memory_search", {"query": "x"}),))`` answers with an
assistant message asking for those calls (``finish_reason: "tool_calls"``); streamed, each
call arrives split into pieces by index, as OpenAI sends them. Arguments given as a string
are sent verbatim (for invalid JSON). ``tool_then_answer`` is a ready-made rule: one tool
call first, then an answer once the request carries a tool result.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from aiohttp import web

if TYPE_CHECKING:
    from types import TracebackType

HOLD_SAFETY_TIMEOUT: Final = 30.0
"""A held request answers anyway after this long, so a missing release cannot hang."""

_MARKER: Final = re.compile(r"\[(slow|fail|hold):([^\]]+)\]")
_OVERFLOW_MARKER: Final = "[overflow]"
_OVERFLOW_MESSAGE: Final = (
    "This model's maximum context length is 8192 tokens. However, your messages "
    "resulted in 9000 tokens. Please reduce the length of the messages."
)
_ERROR_KINDS: Final = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}

Body = dict[str, Any]
ToolCallSpec = tuple[str, Mapping[str, Any] | str]
"""A tool call to ask for: the tool's name and its arguments (a string is sent verbatim)."""
_MODEL: Final = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "x"}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the fake answers to one chat request.

    A ``status`` other than 200 makes an error answer carrying ``error_message`` (or a
    default for that status) and ``error_code``; ``hold`` waits for ``release(hold)``
    and ``delay`` seconds pass before answering. ``tool_calls`` makes the assistant ask
    for those calls (with ``text``, if any, as the content before them).
    """

    text: str = ""
    status: int = 200
    error_message: str = ""
    delay: float = 0.0
    usage: tuple[int, int] = (10, 5)
    hold: str = ""
    error_code: str | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers, for example ``("Retry-After", "1")``."""
    hold_after: int | None = None
    """Streamed: send this many chunks, then wait for ``release(hold)`` (not before)."""
    cut_after: int | None = None
    """Streamed: send this many chunks, then drop the connection (no end, no ``[DONE]``)."""
    inject: tuple[tuple[int, bytes], ...] = ()
    """Streamed: (n, raw bytes) writes the bytes verbatim before chunk n."""
    raw_body: bytes | None = None
    """Answer ``status`` with these bytes verbatim, streamed or not, as ``raw_type``."""
    raw_type: str = "text/html"


Rule = Callable[[Body], Reply | None]


def tool_results(body: Body) -> list[Body]:
    """The ``tool`` messages of a request body, in order."""
    messages = body.get("messages") or []
    return [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]


def offered_tools(body: Body) -> list[str]:
    """The names of the tools a request body offers, in order ([] without ``tools``)."""
    return [tool["function"]["name"] for tool in body.get("tools") or []]


def tool_then_answer(name: str, arguments: Mapping[str, Any] | str, answer: str) -> Rule:
    """A rule: ask for one ``name`` call until a tool result comes back, then say ``answer``."""

    def rule(body: Body) -> Reply:
        if tool_results(body):
            return Reply(text=answer)
        return Reply(tool_calls=((name, arguments),))

    return rule


def last_user_text(body: Body) -> str:
    """The content of the last user message of a request body, or ""."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def reply_from_markers(body: Body) -> Reply:
    """The default behaviour: echo the last user message, obeying its markers."""
    text = last_user_text(body)
    delay, hold, status = 0.0, "", 200
    for kind, value in _MARKER.findall(text):
        if kind == "slow":
            delay = float(value)
        elif kind == "hold":
            hold = value
        else:
            status = int(value)
    if _OVERFLOW_MARKER in text:
        return Reply(
            status=400,
            delay=delay,
            hold=hold,
            error_message=_OVERFLOW_MESSAGE,
            error_code="context_length_exceeded",
        )
    return Reply(text=f"echo: {text}", status=status, delay=delay, hold=hold)


class FakeLLM:
    """A fake OpenAI-compatible server on 127.0.0.1 and its own thread (module doc)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._requests: list[Body] = []
        self._disconnects = 0
        self._peer_ports: list[int] = []
        self._rule: Rule | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port = 0
        # Set by the server thread before _ready; the rest is touched only on its loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._holds: dict[str, asyncio.Event] = {}

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port; return once the server is listening."""
        if self._thread is not None:
            raise RuntimeError("FakeLLM already started")
        # A daemon thread, so a wedged fake can never keep the test process alive;
        # stop() still joins it and raises if it did not end.
        self._thread = threading.Thread(target=self._run, name="fake-llm", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("FakeLLM did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join(5.0)
            self._thread = None
            raise RuntimeError("FakeLLM failed to start") from self._startup_error

    def stop(self) -> None:
        """Stop the server (held and slow requests end at once); join its thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("FakeLLM thread did not stop within 10 s")
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:<port>/v1``."""
        if not self._port:
            raise RuntimeError("FakeLLM is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def requests(self) -> list[Body]:
        """A copy of every chat request body received so far, in order."""
        return self.received()

    def received(self) -> list[Body]:
        """A copy of every chat request body received so far, in order."""
        with self._condition:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Body]:
        """Wait until at least ``count`` chat requests arrived; return all of them.

        Raises:
            AssertionError: fewer than ``count`` arrived within ``timeout`` seconds.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._requests) >= count, timeout):
                got = len(self._requests)
                raise AssertionError(f"expected {count} request(s) within {timeout} s, got {got}")
            return list(self._requests)

    def peer_ports(self) -> list[int]:
        """The client's port of every chat request, in order (one port: one connection)."""
        with self._condition:
            return list(self._peer_ports)

    def disconnects(self) -> int:
        """How many chat requests ended because the client hung up mid-answer."""
        with self._condition:
            return self._disconnects

    def wait_for_disconnects(self, count: int, timeout: float = 5.0) -> int:
        """Wait until at least ``count`` clients hung up mid-answer; return how many did.

        Raises:
            AssertionError: fewer than ``count`` did within ``timeout`` seconds.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: self._disconnects >= count, timeout):
                got = self._disconnects
                raise AssertionError(
                    f"expected {count} disconnect(s) within {timeout} s, got {got}"
                )
            return self._disconnects

    def script(self, rule: Rule | None) -> None:
        """Answer with ``rule(body)``; None (from it, or as rule) means the default."""
        with self._condition:
            self._rule = rule

    def release(self, tag: str) -> None:
        """Let requests held by ``[hold:tag]`` answer, now and from now on."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("FakeLLM is not running")
        loop.call_soon_threadsafe(lambda: self._hold_event(tag).set())

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
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._on_chat)
        app.router.add_get("/v1/models", self._on_models)
        # handler_cancellation: a client that hangs up (a cancelled turn) ends its
        # handler rather than leaving it waiting for a release.
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

    def _hold_event(self, tag: str) -> asyncio.Event:
        event = self._holds.get(tag)
        if event is None:
            event = self._holds[tag] = asyncio.Event()
        return event

    async def _pause(self, event: asyncio.Event | None, seconds: float) -> None:
        """Wait for ``event`` (None: just ``seconds``), at most ``seconds``, or stop."""
        assert self._stop_event is not None
        waiters = [asyncio.ensure_future(self._stop_event.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _on_models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [_MODEL]})

    async def _on_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer_chat(request)
        except asyncio.CancelledError:
            # handler_cancellation: the client hung up while this request was answered.
            self._count_disconnect()
            raise
        except ConnectionResetError:
            # The client hung up while a stream was written: expected, not a server error.
            self._count_disconnect()
            return web.Response(status=499)

    def _count_disconnect(self) -> None:
        with self._condition:
            self._disconnects += 1
            self._condition.notify_all()

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error_response(Reply(status=400, error_message="not JSON"), "")
        if not isinstance(body, dict):
            return _error_response(Reply(status=400, error_message="not an object"), "")
        authorization = request.headers.get("Authorization", "")
        with self._condition:
            self._requests.append({**body, "_authorization": authorization})
            peer = request.transport.get_extra_info("peername") if request.transport else None
            self._peer_ports.append(peer[1] if peer else 0)
            rule = self._rule
            self._condition.notify_all()
        reply = (rule(body) if rule is not None else None) or reply_from_markers(body)
        if reply.hold and reply.hold_after is None:
            await self._pause(self._hold_event(reply.hold), HOLD_SAFETY_TIMEOUT)
        if reply.delay > 0:
            await self._pause(None, reply.delay)
        if reply.raw_body is not None:
            return web.Response(
                body=reply.raw_body,
                status=reply.status,
                content_type=reply.raw_type,
                headers=dict(reply.headers),
            )
        if reply.status != 200:
            return _error_response(reply, authorization)
        model = str(body.get("model", "fake-model"))
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = bool(options.get("include_usage"))
            return await self._stream(request, reply, model, include_usage=include_usage)
        return web.json_response(_completion(reply, model), headers=dict(reply.headers))

    async def _stream(
        self, request: web.Request, reply: Reply, model: str, *, include_usage: bool
    ) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers={**headers, **dict(reply.headers)})
        await response.prepare(request)
        injected = dict(reply.inject)
        chunks = _chunks(reply, model, include_usage=include_usage)
        for number, chunk in enumerate(chunks):
            if number in injected:
                await response.write(injected[number])
            if number == reply.hold_after:
                await self._pause(self._hold_event(reply.hold), HOLD_SAFETY_TIMEOUT)
            if number == reply.cut_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if len(chunks) in injected:
            await response.write(injected[len(chunks)])
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _usage(reply: Reply) -> dict[str, int]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _calls(reply: Reply) -> list[tuple[str, str, str]]:
    """(id, name, arguments JSON) of each tool call ``reply`` asks for."""
    return [
        (
            f"call_{uuid.uuid4().hex[:16]}",
            name,
            arguments if isinstance(arguments, str) else json.dumps(dict(arguments)),
        )
        for name, arguments in reply.tool_calls
    ]


def _finish_reason(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _completion(reply: Reply, model: str) -> Body:
    message: Body = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["content"] = reply.text or None
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in _calls(reply)
        ]
    choice = {"index": 0, "message": message, "logprobs": None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{**choice, "finish_reason": _finish_reason(reply)}],
        "usage": _usage(reply),
    }


def _pieces(text: str, count: int = 3) -> list[str]:
    """``text`` cut into up to ``count`` pieces, so streaming shows several deltas."""
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunks(reply: Reply, model: str, *, include_usage: bool) -> list[Body]:
    """The ``chat.completion.chunk`` objects OpenAI streams for ``reply``."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }
    # With include_usage, OpenAI puts "usage": null on every chunk but the last.
    no_usage: Body = {"usage": None} if include_usage else {}

    def chunk(delta: Body, finish_reason: str | None = None) -> Body:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice], **no_usage}

    first_content = None if reply.tool_calls and not reply.text else ""
    chunks = [chunk({"role": "assistant", "content": first_content, "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in _pieces(reply.text)]
    for index, (call_id, name, arguments) in enumerate(_calls(reply)):
        opening = {"name": name, "arguments": ""}
        call = {"index": index, "id": call_id, "type": "function", "function": opening}
        chunks.append(chunk({"tool_calls": [call]}))
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _pieces(arguments)
        ]
    chunks.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(reply)})
    return chunks


def _error_response(reply: Reply, authorization: str) -> web.Response:
    error_type, code = _ERROR_KINDS.get(reply.status, ("server_error", None))
    error = {
        "message": reply.error_message or _error_message(reply.status, authorization),
        "type": error_type,
        "param": None,
        "code": reply.error_code or code,
    }
    return web.json_response({"error": error}, status=reply.status, headers=dict(reply.headers))


def _error_message(status: int, authorization: str) -> str:
    if status == 401:
        key = authorization.removeprefix("Bearer ")
        return f"Incorrect API key provided: {key}. Find your API key in your account."
    if status == 429:
        return "Rate limit reached for requests. Please try again in 20s."
    return f"The fake LLM was told to fail with status {status}."
