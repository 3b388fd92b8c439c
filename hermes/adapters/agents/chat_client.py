"""A small client of OpenAI-compatible chat completions, on aiohttp.

It sends ``POST {base_url}/chat/completions``, streamed or not, and reads the answer
with ``chat_wire``. It retries as the ``openai`` SDK did: on connection errors,
timeouts, 408, 409, 429 and 5xx, honouring ``Retry-After``, and never once part of the
answer was shown. It replaced the SDK at run time because the SDK's per-chunk model
objects, per-request transforms and connection pool cost seconds of event-loop time
with a thousand turns streaming at once. It holds one ``aiohttp.ClientSession``,
created on first use on the loop that runs the turns, and closed by ``aclose``.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from hermes.adapters.agents.chat_wire import (
    ChatClientError,
    ChatConnectionError,
    ChatStatusError,
    ChatTimeoutError,
    StreamedAnswer,
    parse_completion,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

    from hermes.adapters.agents.tool_loop import ModelReply
    from hermes.messages.ports import DeltaSink

logger = logging.getLogger(__name__)

INITIAL_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 8.0
MAX_RETRY_AFTER: Final = 60.0
"""A server's ``Retry-After`` is honoured up to this many seconds; beyond, backoff applies.
(openai 1.x's rule; the 3.x SDK waits up to 120 s and past that does not retry at all. A
person is waiting for a chat turn, so the shorter wait is kept.)"""
DRAIN_TIMEOUT: Final = 0.1
"""How long the rest of a body after ``[DONE]`` is read, so the connection can be reused."""
LARGE_BODY: Final = 1 << 20
"""Bodies beyond this go as a stream (aiohttp warns about large raw bytes, and chunks them)."""
_RETRY_STATUSES: Final = frozenset({408, 409, 429})
_FIRST_ERROR_STATUS: Final = 400
_FIRST_SERVER_ERROR: Final = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatClientSettings:
    """Where the endpoint is, how to authenticate, and how patient to be."""

    base_url: str
    api_key: str
    """Sent as the bearer token."""
    model: str
    request_timeout: float
    """Seconds for connecting, and between two pieces of the answer."""
    max_retries: int
    initial_retry_delay: float = INITIAL_RETRY_DELAY
    """The first backoff; it doubles with each retry, up to ``MAX_RETRY_DELAY``."""


class ChatClient:
    """Asks an OpenAI-compatible endpoint for chat completions (the tool loop's ``AskModel``).

    Construct it anywhere; use it from one event loop only, the one its first request
    runs on, because the connection pool it creates then belongs to that loop.
    """

    def __init__(self, settings: ChatClientSettings) -> None:
        """Keep ``settings``; no I/O and no session until the first request."""
        self._settings = settings
        self._url = _parsed(settings.base_url.rstrip("/") + "/chat/completions")
        self._headers: Final = {
            "Authorization": f"Bearer {settings.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    async def ask(
        self,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam] | None,
        on_delta: DeltaSink | None,
    ) -> ModelReply:
        """One chat completion; streamed to ``on_delta`` when it is given.

        Raises:
            ChatClientError: the request failed, after any retries it allowed.
            asyncio.CancelledError: cancelled; the response is closed first.
        """
        session = self._session_for_this_loop()
        body: dict[str, object] = {"model": self._settings.model, "messages": messages}
        if tools is not None:
            body["tools"] = tools
        body["stream"] = on_delta is not None
        if on_delta is not None:
            body["stream_options"] = {"include_usage": True}
        payload = json.dumps(body).encode()
        retries = 0
        while True:
            try:
                return await self._attempt(session, payload, on_delta)
            except ChatClientError as error:
                if not error.retryable or retries >= self._settings.max_retries:
                    raise
                delay = retry_delay(retries, error.retry_after, self._settings.initial_retry_delay)
                logger.info(
                    "retrying the model request in %.2f s after %s", delay, _describe(error)
                )
            await asyncio.sleep(delay)
            retries += 1

    async def aclose(self) -> None:
        """Close the session and its connections, if a request ever opened them."""
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._proxy, self._proxy_auth = _env_proxy(self._url)
            self._session = aiohttp.ClientSession(
                # No cap on connections: aiohttp's default of 100 would queue turns
                # behind each other, while the runtime's own turn limit already bounds
                # how many requests run at once (1,000 in the streaming benchmark).
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self._settings.request_timeout,
                    sock_connect=self._settings.request_timeout,
                    sock_read=self._settings.request_timeout,
                ),
            )
            self._loop = loop
        elif loop is not self._loop:
            # The session's connection pool belongs to the first loop; using it from
            # another fails in obscure ways deep inside the HTTP library.
            raise RuntimeError("the chat client (OpenAIAgent) used from a second event loop")
        return self._session

    async def _attempt(
        self, session: aiohttp.ClientSession, payload: bytes, on_delta: DeltaSink | None
    ) -> ModelReply:
        answer = StreamedAnswer(on_delta) if on_delta is not None else None
        try:
            async with session.post(
                self._url,
                data=payload if len(payload) <= LARGE_BODY else io.BytesIO(payload),
                headers=self._headers,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                try:
                    return await _read(response, answer)
                except BaseException:
                    if not response.content.at_eof():
                        # Closing (not releasing) drops the connection: the server sees
                        # the hang-up at once, and a half-read body is never reused.
                        response.close()
                    raise
        except TimeoutError as error:
            retryable = answer is None or not answer.started
            raise ChatTimeoutError("Request timed out.", retryable=retryable) from error
        except (aiohttp.ClientError, OSError) as error:
            started = answer is not None and answer.started
            retryable = not started and not isinstance(error, aiohttp.InvalidURL)
            raise ChatConnectionError("Connection error.", retryable=retryable) from error


async def _read(response: aiohttp.ClientResponse, answer: StreamedAnswer | None) -> ModelReply:
    if response.status >= _FIRST_ERROR_STATUS:
        raise status_error(response.status, response.headers, await response.read())
    if answer is None:
        return parse_completion(await response.read())
    if response.content_type == "application/json":
        # A server that ignores "stream": true sends the whole completion at once.
        return answer.take_completion(await response.read())
    async for data in response.content.iter_any():
        if answer.feed(data):
            if not response.content.at_eof():
                await _drain(response)
            break
    return answer.finish()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows ``[DONE]`` (usually just the body's end) so the connection is reused."""
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            async for _ in response.content.iter_any():
                pass
    except (TimeoutError, aiohttp.ClientError):
        # The answer is complete; a connection that will not end cleanly is dropped.
        response.close()


def status_error(status: int, headers: Mapping[str, str], raw: bytes) -> ChatStatusError:
    """The error for an HTTP error answer, with the SDK's retry decision."""
    retry_after = parse_retry_after(headers)
    return ChatStatusError(
        status, _json_or_text(raw), retryable=should_retry(status, headers), retry_after=retry_after
    )


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an error status is worth another try (the ``openai`` SDK's rule)."""
    verdict = headers.get("x-should-retry")
    if verdict in {"true", "false"}:
        return verdict == "true"
    return status in _RETRY_STATUSES or status >= _FIRST_SERVER_ERROR


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``Retry-After``.

    ``Retry-After`` may be seconds (a float is accepted) or an HTTP date. None when
    neither header is present or readable.
    """
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    date = headers.get("retry-after")
    try:
        parsed = email.utils.parsedate_tz(date) if date else None
        moment = None if parsed is None else email.utils.mktime_tz(parsed)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    if moment is None:
        return None
    return moment - (time.time() if now is None else now)


def retry_delay(retries_taken: int, retry_after: float | None, initial: float) -> float:
    """Seconds before the next try: the server's word if sensible, else jittered backoff."""
    if (
        retry_after is not None
        and math.isfinite(retry_after)
        and 0 < retry_after <= MAX_RETRY_AFTER
    ):
        return retry_after
    backoff = min(initial * 2.0 ** min(retries_taken, 32), MAX_RETRY_DELAY)
    # Up to 25% less, so clients that failed together do not all come back together.
    return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not a secret


def _json_or_text(raw: bytes) -> object:
    """An error body decoded as JSON, else its text, as the SDK kept it."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parsed(url: str) -> URL | str:
    """``url`` parsed once, rather than by aiohttp on every request; as given if malformed."""
    try:
        return URL(url)
    except ValueError:
        return url  # the first request reports it, as a connection error


def _env_proxy(url: URL | str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy ``HTTP(S)_PROXY`` / ``NO_PROXY`` give for ``url``, as the SDK's httpx used.

    Read once, rather than through ``trust_env``, which would look it up in a worker
    thread on every request and would also send ``~/.netrc`` credentials, clashing
    with the bearer token.
    """
    try:
        return get_env_proxy_for_url(URL(url))
    except (LookupError, ValueError):
        # ValueError: a malformed base URL, which the first request reports.
        return None, None


def _describe(error: ChatClientError) -> str:
    """The kind of failure, for logs; never the provider's text, which may echo the key."""
    if isinstance(error, ChatStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, ChatTimeoutError):
        return "a timeout"
    return "a connection error"
