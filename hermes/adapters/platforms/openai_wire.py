"""The OpenAI chat-completions wire format: parsing requests and shaping responses.

Pure functions, no I/O, so that every malformed request gets a precise 400 and the shapes the
``openai`` client parses are written in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hermes.adapters.platforms.inbound_text import MAX_MESSAGE_CHARS
from hermes.messages.values import ChatMessage, Role, TokenUsage

_SYSTEM_ROLES: Final = frozenset({"system", "developer"})
_HISTORY_ROLES: Final = {"user": Role.USER, "assistant": Role.ASSISTANT}


class WireError(Exception):
    """A request the API cannot serve, with the HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        """Describe the error as the client will see it; ``param`` names the offending field."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A parsed ``POST /v1/chat/completions`` body."""

    text: str
    """The last user message: the input this request asks to be answered."""
    history: tuple[ChatMessage, ...]
    system_prompt: str | None
    stream: bool
    include_usage: bool
    user: str | None


def parse_chat_request(body: object) -> ChatRequest:
    """Validate a request body.

    Raises:
        WireError: with status 400 and a message naming the offending field.
    """
    if not isinstance(body, dict):
        raise WireError(400, "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(
            400, "'messages' must be a non-empty array", code="invalid_messages", param="messages"
        )
    parsed = [_parse_message(index, item) for index, item in enumerate(messages)]
    role, text = parsed[-1]
    if role != "user":
        raise WireError(400, "the last message must have role 'user'", code="invalid_messages")
    if len(text) > MAX_MESSAGE_CHARS:  # the input only: history is bounded by the body size
        raise WireError(
            400,
            f"the message is {len(text):,} characters long; the limit is {MAX_MESSAGE_CHARS:,}",
            code="message_too_long",
            param=f"messages[{len(parsed) - 1}].content",
        )
    _optional_str(body, "model")
    system = [content for role, content in parsed[:-1] if role in _SYSTEM_ROLES]
    history = tuple(
        ChatMessage(role=_HISTORY_ROLES[role], content=content)
        for role, content in parsed[:-1]
        if role in _HISTORY_ROLES
    )
    return ChatRequest(
        text=text,
        history=history,
        system_prompt="\n\n".join(system) if system else None,
        stream=_flag(body, "stream"),
        include_usage=_include_usage(body),
        user=_optional_str(body, "user"),
    )


def _parse_message(index: int, item: object) -> tuple[str, str]:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise WireError(400, f"{where} must be an object", code="invalid_messages", param=where)
    role = item.get("role")
    if not isinstance(role, str) or (role not in _SYSTEM_ROLES and role not in _HISTORY_ROLES):
        raise WireError(
            400,
            f"{where}.role must be one of system, developer, user, assistant (got {role!r})",
            code="invalid_messages",
            param=f"{where}.role",
        )
    text = _content_text(f"{where}.content", item.get("content"))
    try:
        text.encode()
    except UnicodeEncodeError as error:
        raise WireError(
            400,
            f"{where}.content has an unpaired surrogate \\u{ord(text[error.start]):04x}"
            f" at character {error.start}",
            param=f"{where}.content",
        ) from error
    return role, text


def _content_text(where: str, content: object) -> str:
    """The text of a message: a string, or the text parts of an array (others are skipped)."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise WireError(400, f"{where} must be a string or an array of parts", param=where)
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise WireError(400, f"{where}: each part must be an object", param=where)
        if part.get("type") != "text":
            continue  # images, audio, files: the gateway answers the text beside them
        text = part.get("text")
        if not isinstance(text, str):
            raise WireError(400, f"{where}: a text part needs a string 'text'", param=where)
        texts.append(text)
    if content and not texts:
        raise WireError(
            400, f"{where}: only text parts are supported, and there are none", param=where
        )
    return "\n".join(texts)


def _flag(body: dict[str, object], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WireError(400, f"'{name}' must be a boolean", param=name)
    return value


def _include_usage(body: dict[str, object]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise WireError(400, "'stream_options' must be an object", param="stream_options")
    return _flag(options, "include_usage")


def _optional_str(body: dict[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(400, f"'{name}' must be a string", param=name)
    return value


def error_body(error: WireError) -> dict[str, object]:
    """The OpenAI error shape."""
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def usage_body(usage: TokenUsage | None) -> dict[str, int]:
    """The ``usage`` object."""
    usage = usage or TokenUsage()
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionIds:
    """What every object of one completion repeats."""

    completion_id: str
    created: int
    model: str


def completion_body(ids: CompletionIds, text: str, usage: TokenUsage | None) -> dict[str, object]:
    """A ``chat.completion`` object."""
    return {
        "id": ids.completion_id,
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": usage_body(usage),
    }


def chunk_body(
    ids: CompletionIds, delta: dict[str, str], finish_reason: str | None = None
) -> dict[str, object]:
    """A ``chat.completion.chunk`` object with one choice."""
    return {
        "id": ids.completion_id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk_body(ids: CompletionIds, usage: TokenUsage | None) -> dict[str, object]:
    """The final chunk of a stream that asked for ``include_usage``."""
    return {
        "id": ids.completion_id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "choices": [],
        "usage": usage_body(usage),
    }


def models_body(model_name: str, created: int) -> dict[str, object]:
    """The ``GET /v1/models`` list: the gateway is one model."""
    return {
        "object": "list",
        "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "hermes"}],
    }
