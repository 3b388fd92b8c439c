"""Resolving a delivery target written as text (reference §7.1).

``origin`` is the chat a session or job came from; ``local`` means a file only; ``<platform>``
is that platform's home channel; ``<platform>:<chat>`` and ``<platform>:<chat>:<thread>`` name a
chat (and topic or thread), by id or by a name the gateway has seen (``telegram:Team``,
``discord:#general``). The platform name is case-insensitive; chat ids are kept exactly as
written (the original lower-cased the whole target and broke case-sensitive ids).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from hermes.messages.messaging import KnownTarget
from hermes.messages.values import ChatAddress, ChatType, HomeChannel, Platform
from hermes.policies.context_prompt import neutral_name

PUSH_PLATFORMS: Final = frozenset(
    {Platform.TELEGRAM, Platform.DISCORD, Platform.CONSOLE, Platform.EMBEDDED}
)
"""Platforms that can receive a message nobody asked for (the HTTP API only answers requests)."""
TYPING_PLATFORMS: Final = frozenset({Platform.TELEGRAM, Platform.DISCORD})
"""Platforms that show a "typing…" indicator (sessions tell no one about typing elsewhere)."""

_HOME_HINT: Final = {
    Platform.TELEGRAM: "TELEGRAM_HOME_CHANNEL",
    Platform.DISCORD: "DISCORD_HOME_CHANNEL",
}
_CHAT_ID: Final = re.compile(r"-?\d+|@\w+")
"""A chat id: a number, or a Telegram @username; anything else is a name to look up."""


class TargetError(ValueError):
    """A target that cannot be resolved; the text says why and what would work."""


@dataclass(frozen=True, slots=True)
class LocalTarget:
    """``local``: written to a file, sent nowhere."""


Resolved = ChatAddress | LocalTarget


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetContext:
    """What a target may refer to."""

    homes: Mapping[Platform, HomeChannel]
    directory: Iterable[ChatAddress] = ()
    origin: ChatAddress | None = None


def resolve_target(spec: str, context: TargetContext) -> Resolved:
    """The chat (or file) ``spec`` names.

    Raises:
        TargetError: unknown platform or name, no home channel or origin, malformed.
    """
    text = spec.strip()
    name, colon, rest = text.partition(":")
    if not colon and name.casefold() == "origin":
        if context.origin is None:
            raise TargetError("'origin' needs a chat this comes from, and there is none here")
        return context.origin
    if not colon and name.casefold() == "local":
        return LocalTarget()
    platform = _platform(name, spec)
    if not colon:
        return _home(platform, context.homes)
    chat, _, thread_id = rest.partition(":")
    if not chat or ":" in thread_id:
        raise TargetError(f"malformed target {spec!r}: use platform:chat[:thread]")
    if _CHAT_ID.fullmatch(chat) or platform not in _HOME_HINT:
        return ChatAddress(platform=platform, chat_id=chat, thread_id=thread_id or None)
    return _by_name(platform, chat, thread_id or None, context.directory)


def _platform(name: str, spec: str) -> Platform:
    try:
        return Platform(name.casefold())
    except ValueError:
        known = ", ".join(["origin", "local", *(p.value for p in Platform)])
        message = f"unknown platform {name!r} in target {spec!r} (known: {known})"
        raise TargetError(message) from None


def _home(platform: Platform, homes: Mapping[Platform, HomeChannel]) -> ChatAddress:
    home = homes.get(platform)
    if home is None:
        hint = _HOME_HINT.get(platform)
        how = "send /sethome in the chat" + (f" or set {hint}" if hint else "")
        raise TargetError(f"{platform.value} has no home channel: {how}")
    return home.address


def _by_name(
    platform: Platform, name: str, thread_id: str | None, directory: Iterable[ChatAddress]
) -> ChatAddress:
    wanted = _normal(name)
    matches = {
        address.chat_id: address
        for address in directory
        if address.platform is platform
        and address.chat_name
        and _normal(address.chat_name) == wanted
    }
    if not matches:
        raise TargetError(f"no {platform.value} chat called {name!r} has been seen")
    if len(matches) > 1:
        ids = ", ".join(sorted(matches))
        raise TargetError(f"several {platform.value} chats are called {name!r}: {ids}")
    (address,) = matches.values()
    return ChatAddress(
        platform=platform,
        chat_id=address.chat_id,
        chat_type=address.chat_type,
        thread_id=thread_id,
        chat_name=address.chat_name,
    )


def _normal(name: str) -> str:
    return name.strip().lstrip("#").casefold()


def known_targets(
    homes: Iterable[HomeChannel], chats: Iterable[ChatAddress], origin: ChatAddress | None
) -> tuple[KnownTarget, ...]:
    """The targets an agent in ``origin`` is offered: this chat, home channels, group chats.

    Direct messages other than ``origin`` are left out: one user's agent is not shown who
    else talks to the gateway. Names come from users and are neutralised.
    """
    listed: list[KnownTarget] = []
    if origin is not None and origin.platform in PUSH_PLATFORMS:
        listed.append(KnownTarget(target="origin", description=f"this chat ({_chat(origin)})"))
    home_chats = set()
    for home in homes:
        home_chats.add((home.platform, home.address.chat_id))
        name = neutral_name(home.name) or home.address.chat_id
        listed.append(
            KnownTarget(
                target=home.platform.value,
                description=f'the {home.platform.value} home channel "{name}"',
            )
        )
    for chat in chats:
        if chat.chat_type is ChatType.DM or (chat.platform, chat.chat_id) in home_chats:
            continue
        listed.append(
            KnownTarget(target=f"{chat.platform.value}:{chat.chat_id}", description=_chat(chat))
        )
    return tuple(listed)


def _chat(address: ChatAddress) -> str:
    kind = "direct message" if address.chat_type is ChatType.DM else address.chat_type.value
    where = f"{address.platform.value} {kind}"
    name = neutral_name(address.chat_name)
    return f'{where} "{name}"' if name else where
