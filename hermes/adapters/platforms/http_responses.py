"""How the HTTP API turns what the gateway says into HTTP: JSON, SSE, and errors.

Every error leaves as the OpenAI error shape with a fitting status, so clients (the ``openai``
package first of all) raise the right exception; a malformed request never disturbs the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from hermes.adapters.platforms.openai_wire import (
    CompletionIds,
    WireError,
    chunk_body,
    completion_body,
    error_body,
    usage_chunk_body,
)
from hermes.messages.delivery import OutboundKind, OutboundMessage, SendDelta
from hermes.messages.values import ChatAddress, Platform

logger = logging.getLogger(__name__)

SESSION_ID_HEADER: Final = "X-Hermes-Session-Id"
RETRY_AFTER_SECONDS: Final = "5"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Outcome = OutboundMessage | SendDelta
"""What a waiting request receives: the final message, or a piece of streamed text."""
Waiting = asyncio.Queue[Outcome]


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response carries."""
    del request
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "no-referrer")


def error_response(error: WireError, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response."""
    merged = dict(headers or {})
    if error.status in {429, 503}:
        merged.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    if error.status == 401:  # noqa: PLR2004
        merged.setdefault("WWW-Authenticate", "Bearer")
    return web.json_response(error_body(error), status=error.status, headers=merged)


def shutting_down_outcome() -> OutboundMessage:
    """What a request still waiting at shutdown is answered with."""
    return OutboundMessage(
        target=ChatAddress(platform=Platform.API_SERVER, chat_id="shutdown"),
        text="the gateway is shutting down; retry in a minute",
        kind=OutboundKind.REJECTED,
    )


def _failure(message: OutboundMessage) -> WireError | None:
    match message.kind:
        case OutboundKind.ERROR:
            return WireError(502, message.text, error_type="upstream_error", code="turn_failed")
        case OutboundKind.REJECTED:
            return WireError(503, message.text, error_type="server_error", code="not_accepted")
        case OutboundKind.REPLY | OutboundKind.NOTICE:
            return None


def _headers(
    echo: Mapping[str, str], message: OutboundMessage | None, session_id: str | None
) -> dict[str, str]:
    headers = dict(echo)
    sid = message.session_id if message is not None else session_id
    if sid is not None:
        headers[SESSION_ID_HEADER] = sid
    return headers


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingReply:
    """One request waiting for its answer, until a deadline on the loop's clock."""

    queue: Waiting
    ids: CompletionIds
    echo: Mapping[str, str]
    """Request headers the response repeats (X-Hermes-Session-Key)."""
    deadline: float

    async def next(self) -> Outcome:
        """The next outcome for this request.

        Raises:
            WireError: 504 when the deadline passes first.
        """
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(self.queue.get(), max(0.0, remaining))
        except TimeoutError as error:
            raise WireError(
                504, "no answer in time", error_type="server_error", code="timeout"
            ) from error


async def complete(reply: PendingReply) -> web.Response:
    """Wait for the answer and return it as one ``chat.completion``."""
    while True:
        outcome = await reply.next()
        if isinstance(outcome, SendDelta):
            continue  # streamed text, not asked for: the final message repeats it whole
        failure = _failure(outcome)
        if failure is not None:
            return error_response(failure, _headers(reply.echo, outcome, None))
        return web.json_response(
            completion_body(reply.ids, outcome.text, outcome.usage),
            headers=_headers(reply.echo, outcome, None),
        )


async def stream(
    request: web.Request, reply: PendingReply, *, include_usage: bool
) -> web.StreamResponse:
    """Answer as server-sent events: role, partial text as it comes, the rest, [DONE]."""
    first = await reply.next()
    if isinstance(first, OutboundMessage) and (failure := _failure(first)) is not None:
        return error_response(failure, _headers(reply.echo, first, None))
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            **_headers(reply.echo, None, first.session_id),
        }
    )
    await response.prepare(request)
    sse = _Sse(response, reply.ids)
    try:
        await sse.send(chunk_body(reply.ids, {"role": "assistant", "content": ""}))
        outcome: Outcome = first
        while isinstance(outcome, SendDelta):
            await sse.text(outcome.text)
            outcome = await reply.next()
        await sse.finish(outcome, include_usage=include_usage)
    except (ConnectionResetError, WireError) as error:
        logger.info("SSE stream %s ended early: %s", reply.ids.completion_id, error)
    return response


class _Sse:
    """Writes one completion's events and remembers the text already sent."""

    def __init__(self, response: web.StreamResponse, ids: CompletionIds) -> None:
        self._response = response
        self._ids = ids
        self.sent = ""

    async def send(self, body: dict[str, object]) -> None:
        await self._response.write(f"data: {json.dumps(body)}\n\n".encode())

    async def text(self, text: str) -> None:
        if text:
            self.sent += text
            await self.send(chunk_body(self._ids, {"content": text}))

    async def finish(self, final: OutboundMessage, *, include_usage: bool) -> None:
        failure = _failure(final)
        if failure is not None:
            await self.send(error_body(failure))
        else:
            rest = final.text[len(self.sent) :] if final.text.startswith(self.sent) else ""
            await self.text(rest)
            await self.send(chunk_body(self._ids, {}, finish_reason="stop"))
            if include_usage:
                await self.send(usage_chunk_body(self._ids, final.usage))
        await self._response.write(b"data: [DONE]\n\n")
        await self._response.write_eof()
