"""The memory tools an agent may offer its model, and how one tool call reaches memory.

Four tools in the standard OpenAI ``tools`` format (the original's ``honcho_*`` tools, made
provider-neutral): ``memory_profile``, ``memory_search``, ``memory_context`` and
``memory_conclude``. ``run_memory_tool`` turns one call the model made into one awaited call
on the turn's ``MemoryHandle``, which it receives as an argument: the handle is the only way
to memory, so a call can only ever reach the memory of the session whose turn made it. Every
failure the model can cause or recover from (bad JSON, an unknown tool, a missing or oversized
argument, memory being unavailable) comes back as text for the model, never as an exception.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Final, assert_never

from hermes.messages.memory import MemoryHandle, MemoryUnavailableError

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionToolParam

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS: Final = 4000
"""Longest tool result given back to the model; longer results are cut with a marker."""
MAX_ARGUMENT_CHARS: Final = 2000
"""Longest ``query`` or ``conclusion`` accepted from the model."""
TRUNCATED_MARKER: Final = "\n[... truncated]"


class MemoryTool(StrEnum):
    """The names of the memory tools, as the model sees them."""

    PROFILE = "memory_profile"
    SEARCH = "memory_search"
    CONTEXT = "memory_context"
    CONCLUDE = "memory_conclude"


class _BadCallError(Exception):
    """The model's call cannot be run; the text tells the model why."""


def memory_tool_definitions() -> list[ChatCompletionToolParam]:
    """The four memory tools in the OpenAI ``tools`` format (a fresh list on every call)."""
    return [
        _definition(
            MemoryTool.PROFILE,
            "What is known about the user you are talking to: the lasting facts and "
            "preferences saved earlier. Fast; takes no arguments.",
            None,
        ),
        _definition(
            MemoryTool.SEARCH,
            "Search the earlier conversations of this chat for messages about a topic; "
            "returns matching excerpts.",
            ("query", "Words or a phrase to look for."),
        ),
        _definition(
            MemoryTool.CONTEXT,
            "Ask long-term memory a question about the user or about what happened in "
            "earlier conversations; returns an answer.",
            ("query", "The question, in plain language."),
        ),
        _definition(
            MemoryTool.CONCLUDE,
            "Save one lasting fact about the user (a preference, a decision, a detail worth "
            "remembering next time). One short, self-contained sentence per call.",
            ("conclusion", "The fact to remember, as one self-contained sentence."),
        ),
    ]


async def run_memory_tool(memory: MemoryHandle, name: str, arguments: str) -> str:
    """Run one tool call of the model against ``memory``; the result text for the model.

    Args:
        memory: The memory handle of the turn that made the call; the only memory reached.
        name: The tool the model called.
        arguments: The call's arguments, the JSON object text the model wrote.

    Returns:
        The tool's answer, or a text starting with ``Error:`` saying what went wrong; at
        most ``MAX_RESULT_CHARS`` characters either way.
    """
    try:
        text = await _dispatch(memory, _tool(name), _parse_arguments(arguments))
    except _BadCallError as error:
        logger.info("the model made a bad %s call: %s", name[:100], error)
        text = f"Error: {error}"
    except MemoryUnavailableError as error:
        logger.warning("memory tool %s failed: %s", name, error)
        text = f"Error: memory is unavailable right now ({error}). Go on without it."
    return cap_result(text)


def cap_result(text: str) -> str:
    """``text`` cut to ``MAX_RESULT_CHARS`` characters, marked when cut."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[: MAX_RESULT_CHARS - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER


def _tool(name: str) -> MemoryTool:
    try:
        return MemoryTool(name)
    except ValueError:
        known = ", ".join(MemoryTool)
        raise _BadCallError(
            f"there is no tool named {name[:100]!r}; the tools are {known}."
        ) from None


async def _dispatch(memory: MemoryHandle, tool: MemoryTool, arguments: dict[str, object]) -> str:
    match tool:
        case MemoryTool.PROFILE:
            return await memory.profile()
        case MemoryTool.SEARCH:
            return await memory.search(_text_argument(arguments, "query"))
        case MemoryTool.CONTEXT:
            return await memory.context(_text_argument(arguments, "query"))
        case MemoryTool.CONCLUDE:
            return await memory.conclude(_text_argument(arguments, "conclusion"))
        case _:
            assert_never(tool)


def _parse_arguments(arguments: str) -> dict[str, object]:
    # Some models send "" rather than "{}" for a call without arguments.
    if not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise _BadCallError(f"the arguments are not valid JSON ({error.msg}).") from None
    if not isinstance(parsed, dict):
        raise _BadCallError("the arguments must be a JSON object.")
    return parsed


def _text_argument(arguments: dict[str, object], key: str) -> str:
    value = arguments.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _BadCallError(f"the argument {key!r} is required and must be a non-empty string.")
    if len(value) > MAX_ARGUMENT_CHARS:
        raise _BadCallError(
            f"the argument {key!r} is too long ({len(value)} characters; "
            f"at most {MAX_ARGUMENT_CHARS})."
        )
    return value.strip()


def _definition(
    tool: MemoryTool, description: str, argument: tuple[str, str] | None
) -> ChatCompletionToolParam:
    properties: dict[str, object] = {}
    required: list[str] = []
    if argument is not None:
        key, about = argument
        properties[key] = {"type": "string", "description": about}
        required.append(key)
    return {
        "type": "function",
        "function": {
            "name": tool.value,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }
