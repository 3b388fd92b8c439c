"""The tool loop of one turn: ask the model, run the tools it calls, ask again.

Messages follow the standard OpenAI tools format: the assistant message that asked for tools
goes back with its ``tool_calls``, followed by one ``tool`` message per call, in call order.
The calls of one round run concurrently, each on the turn's own ``Toolbox`` (its handles). The
number of tool rounds is bounded; past the bound the model is asked once more with no tools,
so it must answer. Everything the model writes as content, in any round, is the answer, so the
text streamed to the user and the text returned are always the same.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, Required, TypedDict

from hermes.adapters.agents.toolbox import Toolbox
from hermes.messages.values import TokenUsage

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionAssistantMessageParam,
        ChatCompletionMessageParam,
        ChatCompletionMessageToolCallUnionParam,
        ChatCompletionToolParam,
    )

    from hermes.messages.ports import DeltaSink

TOOL_LIMIT_NOTICE: Final = (
    "(I could not finish this answer: I kept using my tools. Please ask again.)"
)
ROUND_SEPARATOR: Final = "\n\n"
"""Between the texts the model writes in different rounds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One tool call the model asked for."""

    call_id: str
    name: str
    arguments: str
    """The JSON text the model wrote; it may be invalid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReply:
    """What one request to the model returned."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: TokenUsage = field(default_factory=TokenUsage)


class AskModel(Protocol):
    """Sends one request: ``tools`` None offers none; ``on_delta`` None does not stream."""

    async def __call__(
        self,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam] | None,
        on_delta: DeltaSink | None,
    ) -> ModelReply:
        """Ask the model once."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolPolicy:
    """How many tool rounds a turn may take, and what happens past that."""

    max_tool_rounds: int
    final_answer: bool = True
    """Past the limit, ask once more without tools (False: just stop)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopOutcome:
    """How a turn's tool loop ended."""

    text: str
    """Everything the model wrote as content, rounds separated by a blank line."""
    usage: TokenUsage
    """Summed over every request of the turn."""
    tool_rounds: int
    limited: bool
    """The round limit stopped the model's tool calls."""


async def converse(
    ask: AskModel,
    messages: list[ChatCompletionMessageParam],
    toolbox: Toolbox | None,
    policy: ToolPolicy,
    on_delta: DeltaSink | None,
) -> LoopOutcome:
    """Run the model until it answers without tool calls; ``messages`` grows as it goes.

    Without a ``toolbox`` no tools are offered and the model is asked exactly once.
    """
    answer = _Answer(on_delta)
    usage = TokenUsage()
    tools = toolbox.definitions() if toolbox is not None else None
    rounds = 0
    while True:
        offered = tools if rounds < policy.max_tool_rounds else None
        if toolbox is not None and offered is None and not policy.final_answer:
            return LoopOutcome(text=answer.text, usage=usage, tool_rounds=rounds, limited=True)
        reply = await ask(messages, offered, answer.round_sink())
        usage += reply.usage
        answer.add(reply.content)
        if toolbox is None or offered is None or not reply.tool_calls:
            break
        rounds += 1
        messages.append(_assistant_message(reply))
        results = await _run_calls(toolbox, reply.tool_calls)
        messages.extend(
            {"role": "tool", "tool_call_id": call.call_id, "content": result}
            for call, result in zip(reply.tool_calls, results, strict=True)
        )
    limited = toolbox is not None and offered is None
    if limited and not reply.content.strip():
        answer.add_notice(TOOL_LIMIT_NOTICE)
    return LoopOutcome(text=answer.text, usage=usage, tool_rounds=rounds, limited=limited)


class FunctionPiece(TypedDict, total=False):
    """The ``function`` of a streamed tool-call piece: parts of its name and arguments."""

    name: str | None
    arguments: str | None


class ToolCallPiece(TypedDict, total=False):
    """One element of ``choices[0].delta.tool_calls`` in a streamed chunk, as JSON decodes it."""

    index: Required[int]
    id: str | None
    type: str | None
    function: FunctionPiece | None


class StreamedToolCalls:
    """Puts together the tool calls of a streamed answer, which arrive in pieces by index."""

    def __init__(self) -> None:
        """Start with no calls."""
        self._parts: dict[int, tuple[list[str], list[str], list[str]]] = {}

    def add(self, piece: ToolCallPiece) -> None:
        """Take one piece; id, name and arguments are concatenated, as the SDK's helper does."""
        call_id, name, arguments = self._parts.setdefault(piece["index"], ([], [], []))
        if piece_id := piece.get("id"):
            call_id.append(piece_id)
        if function := piece.get("function"):
            if piece_name := function.get("name"):
                name.append(piece_name)
            if piece_arguments := function.get("arguments"):
                arguments.append(piece_arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        """The complete calls, in index order (a call without an id gets one)."""
        return tuple(
            ToolCall(
                call_id="".join(call_id) or f"call_{index}",
                name="".join(name),
                arguments="".join(arguments),
            )
            for index, (call_id, name, arguments) in sorted(self._parts.items())
        )


async def _run_calls(toolbox: Toolbox, calls: tuple[ToolCall, ...]) -> list[str]:
    # return_exceptions lets every call finish before an unexpected error (a bug in an
    # adapter) ends the turn, so no call is left running unobserved.
    results = await asyncio.gather(
        *(toolbox.run(call.name, call.arguments) for call in calls), return_exceptions=True
    )
    texts: list[str] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        texts.append(result)
    return texts


def _assistant_message(reply: ModelReply) -> ChatCompletionAssistantMessageParam:
    tool_calls: list[ChatCompletionMessageToolCallUnionParam] = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in reply.tool_calls
    ]
    return {"role": "assistant", "content": reply.content or None, "tool_calls": tool_calls}


class _Answer:
    """The answer text over all rounds, and the streaming of it, kept identical."""

    def __init__(self, on_delta: DeltaSink | None) -> None:
        self._on_delta = on_delta
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return ROUND_SEPARATOR.join(self._parts)

    def round_sink(self) -> DeltaSink | None:
        if self._on_delta is None:
            return None
        return _RoundSink(self._on_delta, ROUND_SEPARATOR if self._parts else "")

    def add(self, content: str) -> None:
        if content:
            self._parts.append(content)

    def add_notice(self, notice: str) -> None:
        sink = self.round_sink()
        if sink is not None:
            sink(notice)
        self.add(notice)


class _RoundSink:
    """Streams one round's pieces, preceded by a separator once anything was shown."""

    def __init__(self, on_delta: DeltaSink, separator: str) -> None:
        self._on_delta = on_delta
        self._pending = separator

    def __call__(self, piece: str) -> None:
        if self._pending:
            self._on_delta(self._pending)
            self._pending = ""
        self._on_delta(piece)
