"""One tool's definition and its call's arguments: the model's JSON text into checked strings.

Shared by the tool groups whose arguments are all strings (``cronjob``, ``send_message``).
Anything wrong raises ``BadCallError`` with a text that tells the model how to call the tool
right.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionToolParam

MAX_ARGUMENT_CHARS: Final = 10_000


def function_tool(
    name: str,
    description: str,
    fields: Mapping[str, Mapping[str, Any]],
    required_fields: tuple[str, ...] = (),
) -> ChatCompletionToolParam:
    """A tool in the OpenAI ``tools`` format whose arguments are ``fields`` (a fresh value)."""
    parameters: dict[str, object] = {
        "type": "object",
        "properties": {key: dict(schema) for key, schema in fields.items()},
        "additionalProperties": False,
    }
    if required_fields:
        parameters["required"] = list(required_fields)
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


class BadCallError(Exception):
    """The model's call cannot be run; the text tells the model why."""


def parse_arguments(
    arguments: str, fields: Collection[str], *, max_chars: int = MAX_ARGUMENT_CHARS
) -> dict[str, str]:
    """The call's arguments: a JSON object of strings, each one of ``fields`` (null: absent).

    Raises:
        BadCallError: not JSON, not an object, an unknown field, or a value that is not a
            string of at most ``max_chars`` characters.
    """
    if not arguments.strip():
        raise BadCallError("the arguments are missing")
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise BadCallError(f"the arguments are not valid JSON ({error.msg}).") from None
    if not isinstance(parsed, dict):
        raise BadCallError("the arguments must be a JSON object.")
    values: dict[str, str] = {}
    for key, value in parsed.items():
        if key not in fields:
            raise BadCallError(f"unknown argument {key!r}; the arguments are {', '.join(fields)}")
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > max_chars:
            raise BadCallError(
                f"the argument {key!r} must be a string (at most {max_chars} characters)"
            )
        values[key] = value
    return values


def required(args: dict[str, str], key: str) -> str:
    """The non-blank argument ``key``.

    Raises:
        BadCallError: it is missing or blank.
    """
    value = args.get(key, "")
    if not value.strip():
        raise BadCallError(f"the argument {key!r} is required for this action")
    return value
