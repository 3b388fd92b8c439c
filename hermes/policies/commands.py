"""Recognising the gateway's own slash commands in a message's text.

Only known commands are commands: unknown slash text (``/home/me/notes``, ``/imagine``) goes to
the agent as ordinary text. ``/status@MyBot`` is ``/status`` (group chats address bots so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class CommandName(StrEnum):
    """The gateway's commands, answered at once even while a turn runs."""

    NEW = "new"
    STATUS = "status"
    STOP = "stop"
    HELP = "help"
    QUEUE = "queue"
    SETHOME = "sethome"


ALIASES: Final[dict[str, CommandName]] = {
    "new": CommandName.NEW,
    "reset": CommandName.NEW,
    "status": CommandName.STATUS,
    "stop": CommandName.STOP,
    "help": CommandName.HELP,
    "queue": CommandName.QUEUE,
    "q": CommandName.QUEUE,
    "sethome": CommandName.SETHOME,
    "set-home": CommandName.SETHOME,
}

HELP_LINES: Final = (
    ("/new, /reset", "start a fresh conversation (the old one is kept in the history)"),
    ("/stop", "stop the answer being written"),
    ("/status", "this conversation's id, age, token use and what is running"),
    ("/queue TEXT, /q TEXT", "answer TEXT after the current answer, without interrupting it"),
    ("/sethome, /set-home", "make this chat the platform's home channel for deliveries"),
    ("/help", "this list"),
)

HELP_LINES_BY_NAME: Final = {
    "new": "Start a fresh conversation",
    "status": "This conversation's id, age, token use",
    "stop": "Stop the answer being written",
    "help": "The commands",
    "queue": "Answer this after the current answer",
    "sethome": "Make this chat the home channel",
}
"""One line per command for a client's command menu (Telegram's setMyCommands)."""

_COMMAND = re.compile(r"^/([A-Za-z0-9_-]+)(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedCommand:
    """A recognised command and the text after it."""

    name: CommandName
    args: str


def parse_command(text: str) -> ParsedCommand | None:
    """The command in ``text``, or None when ``text`` is for the agent."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    name = ALIASES.get(match.group(1).lower())
    if name is None:
        return None
    return ParsedCommand(name=name, args=(match.group(2) or "").strip())


def help_text() -> str:
    """The reply to /help."""
    lines = ["Commands:"]
    lines.extend(f"{usage}: {meaning}" for usage, meaning in HELP_LINES)
    lines.append("Anything else goes to the agent.")
    return "\n".join(lines)
