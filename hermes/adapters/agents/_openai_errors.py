"""Turn the chat client's errors into texts a chat user can read (reference §6.7).

The texts keep the original gateway's wording (written for the ``openai`` SDK's errors,
which ``chat_wire``'s mirror). Every text passes through ``redact``, because provider
error messages can echo request details, the API key included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from hermes.adapters.agents.chat_wire import (
    ChatClientError,
    ChatConnectionError,
    ChatStatusError,
    ChatTimeoutError,
    MalformedAnswerError,
    ProviderError,
)

RETRY_HINT: Final = "Try again or use /reset to start a fresh session."
CONTEXT_OVERFLOW: Final = (
    "⚠️ Session too large for the model's context window. Use /reset to start fresh."
)
MAX_DETAIL: Final = 300
"""Longest provider detail quoted to the user."""
LONG_HISTORY: Final = 50
"""A 400 or 500 on a history longer than this is taken for a context overflow."""

_OVERFLOW_WORDS: Final = ("context", "token", "too large", "too long", "exceed", "payload")
_OVERFLOW_STATUSES: Final = frozenset({400, 413})
_LONG_HISTORY_STATUSES: Final = frozenset({400, 500})
_SECRET_PATTERNS: Final = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\bbearer\s+\S+"),
)
_STATUS_HINTS: Final = {
    400: "The provider rejected the request.",
    401: "🔑 Authentication failed: check the API key set for the model endpoint.",
    403: "The API key is not allowed to use this model or endpoint.",
    404: "Check the model name and the base URL of the endpoint.",
    429: "⏱️ The provider is rate limiting requests: wait a moment first.",
    503: "The provider is overloaded right now: wait a moment first.",
    529: "The provider is overloaded right now: wait a moment first.",
}
_SECONDS_PER_HOUR: Final = 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorScene:
    """What the error text may mention, and what it must hide."""

    base_url: str
    api_key: str | None
    history_length: int


def display_url(url: str) -> str:
    """``url`` without credentials, query or fragment, fit for logs and users."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(text: str, api_key: str | None) -> str:
    """``text`` with ``api_key`` and anything shaped like a key or token masked."""
    if api_key:
        text = text.replace(api_key, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("***", text)
    return text


def user_message(error: ChatClientError, scene: ErrorScene) -> str:
    """The text the user reads when a turn fails with ``error``; holds no secret."""
    url = display_url(scene.base_url)
    if isinstance(error, ChatTimeoutError):
        text = f"The model endpoint at {url} did not answer in time. {RETRY_HINT}"
    elif isinstance(error, ChatConnectionError):
        cause = _detail(str(error.__cause__ or error), scene.api_key)
        text = (
            f"Could not reach the model endpoint at {url}: {cause} Check that it is "
            "running and that the base URL is right, then try again."
        )
    elif isinstance(error, ChatStatusError):
        text = _status_message(error, scene)
    elif isinstance(error, MalformedAnswerError):
        detail = _detail(str(error), scene.api_key)
        text = f"The model endpoint at {url} sent an answer that could not be read: {detail} "
        text += RETRY_HINT
    elif isinstance(error, ProviderError) and error.code == "context_length_exceeded":
        text = CONTEXT_OVERFLOW
    elif isinstance(error, ProviderError):
        text = f"The request failed: {_detail(str(error), scene.api_key)} {RETRY_HINT}"
    else:
        detail = _detail(f"{type(error).__name__}: {error}", scene.api_key)
        text = f"The request failed: {detail} {RETRY_HINT}"
    return redact(text, scene.api_key)


def _status_message(error: ChatStatusError, scene: ErrorScene) -> str:
    message = _provider_message(error)
    if _is_context_overflow(error, message, scene.history_length):
        return CONTEXT_OVERFLOW
    detail = _detail(f"HTTP {error.status_code}: {message}", scene.api_key)
    hint = _hint(error)
    return f"The request failed: {detail} {hint + ' ' if hint else ''}{RETRY_HINT}"


def _provider_message(error: ChatStatusError) -> str:
    """The provider's own words: the error body's message, else the raw body."""
    body = error.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body:
        return body
    return error.message


def _is_context_overflow(error: ChatStatusError, message: str, history_length: int) -> bool:
    if error.code == "context_length_exceeded":
        return True
    lowered = message.lower()
    if error.status_code in _OVERFLOW_STATUSES and any(word in lowered for word in _OVERFLOW_WORDS):
        return True
    return error.status_code in _LONG_HISTORY_STATUSES and history_length > LONG_HISTORY


def _hint(error: ChatStatusError) -> str:
    limited = error.status_code == HTTPStatus.TOO_MANY_REQUESTS
    if limited and error.type == "usage_limit_reached":
        return _usage_limit_hint(error.body)
    if error.status_code in _STATUS_HINTS:
        return _STATUS_HINTS[error.status_code]
    if error.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return "The provider had a server error."
    return ""


def _usage_limit_hint(body: object) -> str:
    resets_in = body.get("resets_in_seconds") if isinstance(body, dict) else None
    if isinstance(resets_in, int | float) and resets_in > 0:
        hours = max(1, round(resets_in / _SECONDS_PER_HOUR))
        return f"⏱️ The plan usage limit was reached; it resets in ~{hours}h."
    return "⏱️ The plan usage limit was reached."


def _detail(text: str, api_key: str | None) -> str:
    """``text`` redacted, on one line, cut to ``MAX_DETAIL``, ending in a full stop."""
    text = " ".join(redact(text, api_key).split())
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    elif text and text[-1] not in ".!?…":
        text += "."
    return text
