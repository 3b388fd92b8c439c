"""What the HTTP API refuses before a request reaches the Router, and how it says so.

A body too large, too slow or not JSON, a wrong method, an unknown path, a header that is not
clean text, bytes that are not HTTP at all: each is answered with a precise 4xx in the OpenAI
error shape (aiohttp answers unparsable HTTP itself, with a plain 400), logged in one quiet line
at most, and leaves the server serving the next request. Nothing here talks to an actor.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from hermes.adapters.platforms.http_responses import Handler, error_response
from hermes.adapters.platforms.openai_wire import WireError

logger = logging.getLogger(__name__)

_PARSE_ERROR_MESSAGE = "Error handling request from %s"
"""What aiohttp logs, as an error with a traceback, for each request it cannot parse."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyLimits:
    """How much of a request body the API reads, and for how long it waits for it."""

    max_bytes: int
    timeout: float


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error in the OpenAI error shape; log what was not expected."""
    try:
        return await handler(request)
    except WireError as error:
        response = error_response(error)
        if error.status == 408:  # noqa: PLR2004  (the rest of a stalled body is not waited for)
            response.force_close()
        return response
    except web.HTTPMethodNotAllowed as error:
        allowed = sorted(error.allowed_methods)
        message = f"{request.method} is not allowed on {request.path} ({', '.join(allowed)})"
        return error_response(
            WireError(405, message, code="method_not_allowed"), {"Allow": ",".join(allowed)}
        )
    except web.HTTPNotFound:
        return error_response(WireError(404, f"no such endpoint: {request.path}", code="not_found"))
    except web.HTTPException as error:
        if error.status < 400:  # noqa: PLR2004  (redirects pass through)
            raise
        return error_response(WireError(error.status, error.reason))
    except Exception:
        logger.exception("HTTP API: %s %s failed", request.method, request.path)
        return error_response(WireError(500, "internal error", error_type="server_error"))


async def read_json(request: web.Request, limits: BodyLimits) -> object:
    """The request body as JSON, read within ``limits``.

    Raises:
        WireError: 413 for a body over the size limit (refused before reading when its declared
            length says so), 408 for one that does not arrive in time, 400 for one that is not
            UTF-8 JSON.
    """
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes:
        raise _too_large(f"{declared:,} bytes", limits)
    try:
        async with asyncio.timeout(limits.timeout):
            raw = await request.read()
    except TimeoutError as error:
        raise WireError(
            408, f"the request body did not arrive within {limits.timeout:g} s", code="body_timeout"
        ) from error
    except web.HTTPRequestEntityTooLarge as error:
        raise _too_large(f"over {limits.max_bytes:,} bytes", limits) from error
    except BadHttpMessage as error:  # a broken chunked encoding, a body cut short
        raise WireError(400, f"the request body is malformed ({type(error).__name__})") from error
    except ConnectionError as error:
        # the client hung up mid-body: nobody will read the answer, and it is no server fault
        logger.debug("HTTP API: the client left before its body ended: %s", error)
        raise WireError(400, "the connection closed before the body ended") from error
    return parse_json(raw)


def parse_json(raw: bytes) -> object:
    """Decode a body as UTF-8 JSON (a leading byte-order mark is allowed).

    Raises:
        WireError: 400, naming the first byte that is not UTF-8 or what makes it not JSON.
    """
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        where = error.start + len(raw) - len(body)
        raise WireError(
            400,
            f"the request body is not valid JSON: byte {where} is not UTF-8 (0x{raw[where]:02x})",
        ) from error
    try:
        return json.loads(text)
    except RecursionError as error:
        raise WireError(400, "the request body is nested too deeply") from error
    except json.JSONDecodeError as error:
        raise WireError(400, f"the request body is not valid JSON: {error}") from error
    except ValueError as error:  # an integer literal over Python's digit limit
        raise WireError(400, "the request body is not valid JSON: a number is too long") from error


def header_problem(value: str) -> str | None:
    """Why a client-named header value is not clean text, or None.

    aiohttp keeps bytes that are not UTF-8 as lone surrogates; they, and control characters
    such as a tab, would end up in logs and database keys.
    """
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in value):
        return "must be UTF-8 text without control characters"
    return None


def _too_large(size: str, limits: BodyLimits) -> WireError:
    return WireError(
        413,
        f"the request body is too large ({size}); the limit is {limits.max_bytes:,} bytes",
        code="body_too_large",
    )


class ParseErrorLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, with its traceback for each unparsable request made one line.

    A port scanner or a TLS client on the plain-HTTP port is the client's problem, not the
    gateway's: it gets aiohttp's 400 and one INFO line naming the kind of error, never the bytes.
    """

    def log(  # noqa: PLR0913  (logging.LoggerAdapter.log's own signature)
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: logging._ExcInfoType | None = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        """Log as aiohttp asks, except a parse error, which becomes one line."""
        if msg == _PARSE_ERROR_MESSAGE and isinstance(exc_info, BadHttpMessage):
            logger.info(
                "HTTP API: refused unparsable HTTP from %s (%s)",
                args[0] if args else "?",
                type(exc_info).__name__,
            )
            return
        super().log(
            level,
            msg,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=stacklevel,
            extra=extra,
            **kwargs,
        )
