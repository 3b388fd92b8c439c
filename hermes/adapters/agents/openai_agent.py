"""An agent backed by any OpenAI-compatible chat-completions endpoint.

It sends the system prompt, the session history and the turn's inputs, streams the
answer when asked to, and turns provider failures into ``AgentError`` texts fit for
the user (never holding the API key). When the turn carries a memory handle it offers
the memory tools and runs the tool loop (``tool_loop``); a FLUSH turn uses them only to
save what matters before the session ends. It keeps no per-session state: every turn
carries its own ``TurnContext``. The HTTP client is created on first use, on the one
event loop that runs the turns, and closed by ``aclose``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, assert_never

import openai

from hermes.adapters.agents._openai_errors import ErrorScene, display_url, redact, user_message
from hermes.adapters.agents.tool_loop import (
    ModelReply,
    StreamedToolCalls,
    ToolCall,
    ToolPolicy,
    converse,
)
from hermes.adapters.agents.toolbox import toolbox_for
from hermes.messages.agent import AgentError, TurnContext, TurnPurpose, TurnResult
from hermes.messages.values import Role, TokenUsage

if TYPE_CHECKING:
    from openai.types import CompletionUsage
    from openai.types.chat import (
        ChatCompletionMessageParam,
        ChatCompletionMessageToolCallUnion,
        ChatCompletionToolParam,
    )

    from hermes.messages.ports import DeltaSink

logger = logging.getLogger(__name__)

NO_KEY_PLACEHOLDER: Final = "no-key"
"""Sent as the bearer token when no key is configured; many local servers need none."""
EMPTY_ANSWER: Final = "(No response generated)"
FLUSH_SKIPPED: Final = "(nothing to save: no memory is configured)"
FLUSH_DONE: Final = "(memory review finished)"
FLUSH_TEXT_LIMIT: Final = 200
"""A flush turn's text is discarded by the session; only this much is kept for logs."""
FLUSH_INSTRUCTIONS: Final = (
    "This conversation is ending now and its context will be cleared. Before that, go "
    "through it and keep what will still matter later: call memory_conclude once for each "
    "lasting fact about the user (preferences, decisions, personal details, ongoing plans). "
    "Use memory_profile first if you need to check what is already saved, and do not save "
    "something again. Saving nothing is fine when nothing is worth keeping. Nobody reads "
    "your reply: do not answer or address the user. Stop as soon as you are done."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAIAgentSettings:
    """How to reach the model, and the instructions every turn starts with."""

    model: str
    base_url: str
    """The endpoint's base URL, for example ``https://api.openai.com/v1``."""
    api_key: str | None
    """None sends a placeholder: many local servers need no key."""
    system_prompt: str
    request_timeout: float = 600.0
    """Seconds for connecting, and between two pieces of the answer."""
    max_retries: int = 2
    """Retries the SDK makes on connection errors, 408, 409, 429 and 5xx."""
    max_tool_rounds: int = 6
    """Rounds of memory-tool calls one turn may make before the model must answer."""

    def __post_init__(self) -> None:
        if self.max_tool_rounds < 0:
            raise ValueError("max_tool_rounds must not be negative")


class OpenAIAgent:
    """Runs turns against an OpenAI-compatible endpoint (implements ``Agent``).

    Construct it anywhere; use it from one event loop only, the one its first turn
    runs on, because the HTTP client it creates then is bound to that loop.
    """

    def __init__(self, settings: OpenAIAgentSettings) -> None:
        """Keep ``settings``; no I/O and no client until the first turn."""
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def description(self) -> str:
        """The model and endpoint, without the key, for the start-up log and status."""
        url = display_url(self._settings.base_url)
        return f"openai-compatible model {self._settings.model} at {url}"

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        """Answer ``context.inputs``, streaming partial text to ``on_delta`` if given.

        A FLUSH turn never streams, and without memory it returns at once.

        Raises:
            AgentError: the provider failed or could not be reached.
            asyncio.CancelledError: the turn was cancelled; the request is abandoned.
        """
        flush = context.purpose is TurnPurpose.FLUSH
        if flush and context.memory is None:
            return TurnResult(text=FLUSH_SKIPPED)
        if flush:
            messages = build_flush_messages(context)
            on_delta = None
        else:
            messages = build_messages(self._settings.system_prompt, context)
        policy = ToolPolicy(max_tool_rounds=self._settings.max_tool_rounds, final_answer=not flush)
        try:
            toolbox = toolbox_for(context)
            outcome = await converse(self._ask, messages, toolbox, policy, on_delta)
        except openai.OpenAIError as error:
            raise self._agent_error(error, context) from None
        if outcome.limited:
            logger.info(
                "turn %s hit the limit of %d tool rounds", context.turn_id, outcome.tool_rounds
            )
        text = outcome.text
        if flush:
            text = text.strip()[:FLUSH_TEXT_LIMIT] or FLUSH_DONE
        return TurnResult(text=text if text.strip() else EMPTY_ANSWER, usage=outcome.usage)

    async def aclose(self) -> None:
        """Close the HTTP client, if a turn ever created it."""
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()

    def _client_for_this_loop(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None:
            settings = self._settings
            self._client = openai.AsyncOpenAI(
                base_url=settings.base_url,
                api_key=settings.api_key or NO_KEY_PLACEHOLDER,
                timeout=settings.request_timeout,
                max_retries=settings.max_retries,
            )
            self._loop = loop
        elif loop is not self._loop:
            # The client's connection pool belongs to the first loop; using it from
            # another fails in obscure ways deep inside the HTTP library.
            raise RuntimeError("OpenAIAgent used from a second event loop")
        return self._client

    async def _ask(
        self,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam] | None,
        on_delta: DeltaSink | None,
    ) -> ModelReply:
        """One request to the model (the ``AskModel`` the tool loop calls)."""
        client = self._client_for_this_loop()
        if on_delta is None:
            return await self._complete(client, messages, tools)
        return await self._stream(client, messages, tools, on_delta)

    async def _complete(
        self,
        client: openai.AsyncOpenAI,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam] | None,
    ) -> ModelReply:
        response = await client.chat.completions.create(
            model=self._settings.model,
            messages=messages,
            tools=openai.omit if tools is None else tools,
        )
        usage = _token_usage(response.usage)
        if not response.choices:
            return ModelReply(content="", usage=usage)
        message = response.choices[0].message
        calls = _tool_calls(message.tool_calls or [])
        return ModelReply(content=message.content or "", tool_calls=calls, usage=usage)

    async def _stream(
        self,
        client: openai.AsyncOpenAI,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam] | None,
        on_delta: DeltaSink,
    ) -> ModelReply:
        stream = await client.chat.completions.create(
            model=self._settings.model,
            messages=messages,
            tools=openai.omit if tools is None else tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        calls = StreamedToolCalls()
        usage = TokenUsage()
        # The context manager closes the response on cancellation as well.
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = _token_usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    for piece in choice.delta.tool_calls or ():
                        calls.add(piece)
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        on_delta(choice.delta.content)
        return ModelReply(content="".join(parts), tool_calls=calls.calls(), usage=usage)

    def _agent_error(self, error: openai.OpenAIError, context: TurnContext) -> AgentError:
        scene = ErrorScene(
            base_url=self._settings.base_url,
            api_key=self._settings.api_key,
            history_length=len(context.history),
        )
        # Logged here, redacted, because the SDK's own text can echo the key; the
        # original exception is deliberately not chained for the same reason.
        logger.warning(
            "model request failed for turn %s: %s",
            context.turn_id,
            redact(f"{type(error).__name__}: {error}", self._settings.api_key),
        )
        return AgentError(user_message(error, scene))


def build_messages(system_prompt: str, context: TurnContext) -> list[ChatCompletionMessageParam]:
    """The chat messages for one turn: system, then history, then one per input.

    The system message is the configured prompt, the session-context block, then the
    request's own instructions, each where present.
    """
    parts = (system_prompt, context.session_context, context.system_prompt)
    system = "\n\n".join(part for part in parts if part)
    messages: list[ChatCompletionMessageParam] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(_message(entry.role, entry.content) for entry in context.history)
    messages.extend({"role": "user", "content": text} for text in context.inputs)
    return messages


def build_flush_messages(context: TurnContext) -> list[ChatCompletionMessageParam]:
    """The chat messages of a FLUSH turn: its instructions, the transcript, the inputs."""
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": FLUSH_INSTRUCTIONS}]
    messages.extend(_message(entry.role, entry.content) for entry in context.history)
    messages.extend({"role": "user", "content": text} for text in context.inputs)
    return messages


def _message(role: Role, content: str) -> ChatCompletionMessageParam:
    match role:
        case Role.SYSTEM:
            return {"role": "system", "content": content}
        case Role.USER:
            return {"role": "user", "content": content}
        case Role.ASSISTANT:
            return {"role": "assistant", "content": content}
        case _:
            assert_never(role)


def _tool_calls(calls: list[ChatCompletionMessageToolCallUnion]) -> tuple[ToolCall, ...]:
    # Only function tools are offered, so any other kind of call is a provider oddity.
    return tuple(
        ToolCall(call_id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in calls
        if call.type == "function"
    )


def _token_usage(usage: CompletionUsage | None) -> TokenUsage:
    if usage is None:
        return TokenUsage()
    return TokenUsage(
        input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0
    )
