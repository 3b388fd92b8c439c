"""What an OpenAI-compatible chat-completions endpoint sends back, read into a ``ModelReply``.

It owns the client side of the wire format: the error types a request can end in, the
reading of a JSON completion, and the reading of a streamed answer (server-sent events,
one ``chat.completion.chunk`` per event, ending with ``data: [DONE]``). It does no I/O:
``chat_client`` feeds it bytes. Decoding stays cheap per chunk (``json.loads`` and plain
dict access), because a busy gateway reads tens of thousands of chunks a second on the
one loop that runs every turn. Anything it cannot read becomes ``MalformedAnswerError``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from hermes.adapters.agents.tool_loop import ModelReply, StreamedToolCalls, ToolCall
from hermes.messages.values import TokenUsage

if TYPE_CHECKING:
    from hermes.messages.ports import DeltaSink

MAX_PENDING_BYTES: Final = 8 * 1024 * 1024
"""Longest stream event accepted; beyond it the stream is taken for garbage."""
_PREVIEW: Final = 60
_DONE: Final = b"[DONE]"
_DATA: Final = b"data:"


class ChatClientError(Exception):
    """A request to the model endpoint failed; the subclass says how."""

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        """Keep whether the request may be sent again, and when the server asked for that."""
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the server asked to wait (``Retry-After``), None when it did not say."""


class ChatTimeoutError(ChatClientError):
    """The endpoint took longer than the timeout to connect, or between two pieces."""


class ChatConnectionError(ChatClientError):
    """The endpoint could not be reached, or the connection broke; ``__cause__`` says why."""


class ChatStatusError(ChatClientError):
    """The endpoint answered with an HTTP error status (4xx or 5xx)."""

    def __init__(
        self,
        status_code: int,
        body: object,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Read the provider's error: ``body`` is the decoded JSON, or the raw text."""
        error = body.get("error", body) if isinstance(body, dict) else body
        message, code, kind = _error_fields(error)
        text = f"Error code: {status_code}"
        if message:
            text += f" - {message}"
        super().__init__(text, retryable=retryable, retry_after=retry_after)
        self.status_code = status_code
        self.message = text
        self.body = error
        """The ``error`` object of an OpenAI-shaped body, else the body itself (str or JSON)."""
        self.code = code
        self.type = kind


class ProviderError(ChatClientError):
    """The endpoint answered 200 but with an ``error`` object (in the body or the stream)."""

    def __init__(self, error: object) -> None:
        """Keep the provider's ``error`` object and its message."""
        message, self.code, _ = _error_fields(error)
        super().__init__(message or "An error occurred during streaming")
        self.body = error


class MalformedAnswerError(ChatClientError):
    """The endpoint's answer could not be read: not JSON, or not shaped like a completion."""


def parse_completion(raw: bytes) -> ModelReply:
    """The reply in a non-streamed ``chat.completion`` body.

    Raises:
        ProviderError: the body is an ``error`` object.
        MalformedAnswerError: the body is not a chat completion.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        raise MalformedAnswerError(f"the answer is not JSON: {_preview(raw)}") from None
    try:
        if body.get("error") and not body.get("choices"):
            raise ProviderError(body["error"])
        usage = token_usage(body.get("usage"))
        choices = body.get("choices")
        if not choices:
            return ModelReply(content="", usage=usage)
        message = choices[0]["message"]
        content = message.get("content") or ""
        calls = tuple(
            ToolCall(
                call_id=call["id"],
                name=call["function"]["name"],
                arguments=call["function"].get("arguments") or "",
            )
            # Only function tools are offered, so any other kind is a provider oddity.
            for call in message.get("tool_calls") or ()
            if call.get("type") == "function"
        )
        _check_text(content, *(text for call in calls for text in (call.call_id, call.name)))
    except (AttributeError, KeyError, IndexError, TypeError):
        raise MalformedAnswerError(f"not a chat completion: {_preview(raw)}") from None
    return ModelReply(content=content, tool_calls=calls, usage=usage)


class StreamedAnswer:
    """Reads one streamed answer from the bytes of its body, as they arrive.

    Content goes to ``on_delta`` as soon as its event is complete; tool-call pieces are
    put together by index; usage comes from the chunk that carries it. SSE comments,
    fields other than ``data`` and blank events are ignored.
    """

    def __init__(self, on_delta: DeltaSink) -> None:
        """Start empty; ``on_delta`` gets each piece of content."""
        self._on_delta = on_delta
        self._parts: list[str] = []
        self._calls = StreamedToolCalls()
        self._usage: object = None
        self._tail = bytearray()
        self._data: bytes | None = None
        self._head = b""
        """The first bytes of the body, kept until an event shows it is a stream."""
        self._events = False
        self._after_cr = False
        self.done = False
        """``data: [DONE]`` arrived; what follows is not read."""

    @property
    def started(self) -> bool:
        """Some content was given to ``on_delta``: the answer can no longer be asked again."""
        return bool(self._parts)

    def feed(self, data: bytes) -> bool:
        """Read the next bytes of the body; True once ``[DONE]`` arrived.

        Raises:
            ProviderError: the stream carried an ``error`` object.
            MalformedAnswerError: an event is not a JSON chunk, or is far too long.
        """
        for line in self._lines(data):
            if not line:
                if self._data is not None:
                    self._dispatch()
                    if self.done:
                        return True
            elif line.startswith(_DATA):
                self._events = True
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._data = value if self._data is None else self._data + b"\n" + value
                self._check_size(len(self._data))
        return False

    def _lines(self, data: bytes) -> list[bytes]:
        """The lines ``data`` completes, without their ends; keeps the unfinished rest."""
        if self._after_cr and data[:1] == b"\n":
            data = data[1:]  # the LF of a CRLF split across two reads
        if b"\r" in data:
            # SSE lines may end in CR, LF or CRLF.
            self._after_cr = data[-1:] == b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._after_cr = False
        if not self._events and len(self._head) < _PREVIEW:
            self._head += data[:_PREVIEW]
        if b"\n" not in data:
            self._tail += data
            self._check_size(len(self._tail))
            return []
        if self._tail:
            self._tail += data
            data = bytes(self._tail)
            self._tail.clear()
        lines = data.split(b"\n")
        self._tail += lines.pop()
        return lines

    def take_completion(self, raw: bytes) -> ModelReply:
        """Read a whole ``chat.completion`` body sent instead of a stream; show its content.

        Raises:
            ProviderError: the body is an ``error`` object.
            MalformedAnswerError: the body is not a chat completion.
        """
        reply = parse_completion(raw)
        if reply.content:
            self._parts.append(reply.content)
            self._on_delta(reply.content)
        return reply

    def finish(self) -> ModelReply:
        """The whole answer; an event the body ended without a blank line after counts.

        Raises:
            MalformedAnswerError: that last event, or a tool call, could not be read.
        """
        if not self.done:
            self.feed(b"\n\n")
        if self._head.strip() and not self._events:
            # Not one event in a body that is not empty: an error page, not a stream.
            raise MalformedAnswerError(
                f"the answer is not a stream: {_preview(self._head.strip())}"
            )
        try:
            calls = self._calls.calls()
        except TypeError:
            raise MalformedAnswerError("a streamed tool call could not be read") from None
        return ModelReply(content="".join(self._parts), tool_calls=calls, usage=self._usage_now())

    def _dispatch(self) -> None:
        data, self._data = self._data, None
        if not data:
            return  # SSE dispatches no event whose data is empty
        if data.startswith(_DONE):
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise MalformedAnswerError(f"a stream event is not JSON: {_preview(data)}") from None
        content = self._take(chunk, data)
        if content:
            self._parts.append(content)
            self._on_delta(content)

    def _take(self, chunk: dict[str, Any], data: bytes) -> str | None:
        """The chunk's content for choice 0; keeps its usage and tool-call pieces."""
        try:
            if chunk.get("error"):
                raise ProviderError(chunk["error"])
            usage = chunk.get("usage")
            if usage:
                self._usage = usage
            content = None
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta")
                if choice.get("index", 0) != 0 or not delta:
                    continue
                for piece in delta.get("tool_calls") or ():
                    self._calls.add(piece)
                content = delta.get("content")
        except (AttributeError, KeyError, TypeError):
            raise MalformedAnswerError(f"not a completion chunk: {_preview(data)}") from None
        if content is not None and not isinstance(content, str):
            raise MalformedAnswerError(f"not a completion chunk: {_preview(data)}")
        return content

    def _usage_now(self) -> TokenUsage:
        try:
            return token_usage(self._usage)
        except (AttributeError, TypeError):
            raise MalformedAnswerError("the usage of the answer could not be read") from None

    def _check_size(self, size: int) -> None:
        if size > MAX_PENDING_BYTES:
            raise MalformedAnswerError(f"a stream event is longer than {MAX_PENDING_BYTES} bytes")


def token_usage(usage: object) -> TokenUsage:
    """``usage`` of a completion or chunk as a ``TokenUsage`` (zero where absent)."""
    if not isinstance(usage, dict):
        return TokenUsage()
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return TokenUsage(
        input_tokens=prompt if isinstance(prompt, int) else 0,
        output_tokens=completion if isinstance(completion, int) else 0,
    )


def _error_fields(error: object) -> tuple[str | None, str | None, str | None]:
    """An OpenAI-shaped ``error`` object's message, code and type (None where absent)."""
    if not isinstance(error, dict):
        return None, None, None
    message, code, kind = error.get("message"), error.get("code"), error.get("type")
    return (
        message if isinstance(message, str) and message else None,
        None if code is None else str(code),
        kind if isinstance(kind, str) else None,
    )


def _check_text(*values: object) -> None:
    for value in values:
        if not isinstance(value, str):
            raise TypeError("expected text")


def _preview(raw: bytes) -> str:
    text = raw[:_PREVIEW].decode("utf-8", "replace")
    return repr(text + "…" if len(raw) > _PREVIEW else text)
