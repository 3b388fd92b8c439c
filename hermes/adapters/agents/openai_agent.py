"""An agent backed by any OpenAI-compatible chat-completions endpoint.

It sends the system prompt, the session history and the turn's inputs, streams the
answer when asked to, and turns provider failures into ``AgentError`` texts fit for
the user (never holding the API key). When the turn carries a memory handle it offers
the memory tools and runs the tool loop (``tool_loop``); a FLUSH turn uses them only to
save what matters before the session ends. It keeps no per-session state: every turn
carries its own ``TurnContext``. Requests go through ``chat_client`` (aiohttp), whose
connection pool is created on first use, on the one event loop that runs the turns, and
closed by ``aclose``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, assert_never

from hermes.adapters.agents._openai_errors import ErrorScene, display_url, redact, user_message
from hermes.adapters.agents.chat_client import ChatClient, ChatClientSettings
from hermes.adapters.agents.chat_wire import ChatClientError
from hermes.adapters.agents.tool_loop import ToolPolicy, converse
from hermes.adapters.agents.toolbox import toolbox_for
from hermes.messages.agent import AgentError, TurnContext, TurnPurpose, TurnResult
from hermes.messages.values import Role

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

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
    """Retries on connection errors, timeouts, 408, 409, 429 and 5xx, as the SDK made."""
    max_tool_rounds: int = 6
    """Rounds of memory-tool calls one turn may make before the model must answer."""

    def __post_init__(self) -> None:
        if self.max_tool_rounds < 0:
            raise ValueError("max_tool_rounds must not be negative")


class OpenAIAgent:
    """Runs turns against an OpenAI-compatible endpoint (implements ``Agent``).

    Construct it anywhere; use it from one event loop only, the one its first turn
    runs on, because the connection pool its client creates then is bound to that loop.
    """

    def __init__(self, settings: OpenAIAgentSettings) -> None:
        """Keep ``settings``; no I/O and no connection until the first turn."""
        self._settings = settings
        self._client = ChatClient(
            ChatClientSettings(
                base_url=settings.base_url,
                api_key=settings.api_key or NO_KEY_PLACEHOLDER,
                model=settings.model,
                request_timeout=settings.request_timeout,
                max_retries=settings.max_retries,
            )
        )

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
            outcome = await converse(self._client.ask, messages, toolbox, policy, on_delta)
        except ChatClientError as error:
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
        """Close the HTTP connections, if a turn ever opened them."""
        await self._client.aclose()

    def _agent_error(self, error: ChatClientError, context: TurnContext) -> AgentError:
        scene = ErrorScene(
            base_url=self._settings.base_url,
            api_key=self._settings.api_key,
            history_length=len(context.history),
        )
        # Logged here, redacted, because the provider's text can echo the key; the
        # original exception is deliberately not chained for the same reason.
        logger.warning(
            "model request failed for turn %s: %s",
            context.turn_id,
            redact(_describe(error), self._settings.api_key),
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


def _describe(error: ChatClientError) -> str:
    """The error and, for a network failure, its cause: for the log, before redaction."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    return f"{text} ({type(cause).__name__}: {cause})" if cause is not None else text
