"""The session-context block every turn's system prompt carries: where the agent is talking.

Built from the session's origin (reference §1.9, ``build_session_context_prompt``): the source
(platform, a DM with whom or which group, the thread), the connected platforms, the home channels,
and the delivery targets the agent may use for scheduled work and ``send_message``. It never
holds a secret. Names come from users (display names, group titles) and are neutralised: one
line, no markup or control characters, length-capped and quoted, so they cannot pose as
instructions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hermes.messages.values import ChatAddress, ChatType, HomeChannel, Platform, Sender

MAX_NAME_CHARS: Final = 64
_MARKUP: Final = re.compile(r"[`*_#<>\[\]{}|\\]")
_PLATFORM_TITLES: Final = {
    Platform.TELEGRAM: "Telegram",
    Platform.DISCORD: "Discord",
    Platform.API_SERVER: "the HTTP API",
    Platform.CONSOLE: "the local console",
    Platform.EMBEDDED: "an embedded chat",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptContext:
    """What the block describes."""

    origin: ChatAddress
    sender: Sender
    connected: tuple[Platform, ...]
    homes: tuple[HomeChannel, ...] = ()


def neutral_name(name: str | None) -> str | None:
    """A user-supplied name made harmless: one short line of plain text, or None."""
    if not name:
        return None
    text = "".join(" " if unicodedata.category(ch)[0] in {"C", "Z"} else ch for ch in name)
    text = _MARKUP.sub("", text)
    text = " ".join(text.replace('"', "'").split())[:MAX_NAME_CHARS]
    return text or None


def context_block(context: PromptContext) -> str:
    """The ``## Current Session Context`` block."""
    lines = ["## Current Session Context", "", f"**Source:** {_source(context)}"]
    user = neutral_name(context.sender.user_name)
    lines.append(
        f'**User:** "{user}" (id {context.sender.user_id})'
        if user
        else f"**User id:** {context.sender.user_id}"
    )
    connected = ", ".join(_PLATFORM_TITLES.get(p, p.value) for p in context.connected)
    lines.append(f"**Connected platforms:** {connected or 'none'}")
    if context.homes:
        lines.append("**Home channels:**")
        lines.extend(_home_lines(context.homes))
    lines.extend(["", "**Delivery targets for scheduled work and send_message:**"])
    lines.extend(_target_lines(context))
    return "\n".join(lines)


def _source(context: PromptContext) -> str:
    origin = context.origin
    title = _PLATFORM_TITLES.get(origin.platform, origin.platform.value)
    name = neutral_name(origin.chat_name)
    if origin.chat_type is ChatType.DM:
        where = "a direct message"
    else:
        kind = "group" if origin.chat_type is ChatType.GROUP else origin.chat_type.value
        where = f'the {kind} "{name}"' if name else f"a {kind}"
    thread = f", thread {origin.thread_id}" if origin.thread_id else ""
    return f"{title}, {where}{thread}"


def _home_lines(homes: Iterable[HomeChannel]) -> list[str]:
    lines = []
    for home in homes:
        name = neutral_name(home.name) or home.address.chat_id
        lines.append(f'- {home.platform.value}: "{name}" (id {home.address.chat_id})')
    return lines


def _target_lines(context: PromptContext) -> list[str]:
    lines = [
        '- "origin": back to this chat',
        '- "local": saved to a file on the gateway\'s machine, sent nowhere',
    ]
    lines.extend(
        f'- "{home.platform.value}": the {home.platform.value} home channel'
        for home in context.homes
    )
    lines.append('- "platform:chat_id" (or "platform:chat_id:thread_id") for a chat you were given')
    return lines
