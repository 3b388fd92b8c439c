"""The ``send_message`` tool: the agent sends text to another chat, or lists where it can.

One tool with an ``action`` (``send``, the default, or ``list``), as the original's. Every call
goes through the turn's ``MessagingHandle``, bound to the chat of the turn: ``origin`` means
that chat, and what is sent is recorded in the target chat's transcript. Whatever goes wrong
comes back to the model as text, never as an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hermes.adapters.agents.tool_arguments import (
    BadCallError,
    function_tool,
    parse_arguments,
    required,
)
from hermes.messages.messaging import MessagingError, MessagingHandle

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionToolParam

logger = logging.getLogger(__name__)

TOOL_NAME: Final = "send_message"
ACTIONS: Final = ("send", "list")
MAX_MESSAGE_CHARS: Final = 20_000
DESCRIPTION: Final = (
    "Send a message to a chat now, or list the chats you can send to. Use it only when the "
    "user asks for a message to go somewhere else (your answer here reaches this chat "
    "anyway). Targets: 'origin' (this chat), 'telegram' or 'discord' (their home channel), "
    "'platform:chat_id' or 'platform:chat_id:thread_id', or 'platform:Name' for a group the "
    "gateway has seen. Actions: send (target, message), list."
)
_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "action": {"type": "string", "enum": list(ACTIONS), "description": "send (default) or list."},
    "target": {"type": "string", "description": "Where the message goes (see the forms above)."},
    "message": {"type": "string", "description": "The text to send."},
}


@dataclass(frozen=True, slots=True)
class MessagingTools:
    """The ``send_message`` tool, bound to one turn's ``MessagingHandle`` (a ``ToolGroup``)."""

    messaging: MessagingHandle

    def definitions(self) -> list[ChatCompletionToolParam]:
        """The one tool, in the OpenAI ``tools`` format (a fresh list on every call)."""
        return [function_tool(TOOL_NAME, DESCRIPTION, _FIELDS)]

    def offers(self, name: str) -> bool:
        """True for ``send_message``."""
        return name == TOOL_NAME

    async def run(self, name: str, arguments: str) -> str:
        """Run one ``send_message`` call; the result (or ``Error: ...``) for the model."""
        del name
        try:
            return await self._dispatch(
                parse_arguments(arguments or "{}", _FIELDS, max_chars=MAX_MESSAGE_CHARS)
            )
        except BadCallError as error:
            logger.info("the model made a bad send_message call: %s", error)
            return f"Error: {error}"
        except MessagingError as error:
            return f"Error: {error}"

    async def _dispatch(self, args: dict[str, str]) -> str:
        action = args.get("action", "send")
        if action == "list":
            return await self._list()
        if action != "send":
            raise BadCallError(f"'action' must be one of {', '.join(ACTIONS)}")
        return await self.messaging.send(required(args, "target"), required(args, "message"))

    async def _list(self) -> str:
        targets = await self.messaging.targets()
        if not targets:
            return "No chats are known to send to."
        return "\n".join(f"{known.target}: {known.description}" for known in targets)
