"""Resolving a delivery target written as text (reference §7.1).

``<platform>`` is that platform's home channel; ``<platform>:<chat_id>`` and
``<platform>:<chat_id>:<thread_id>`` name a chat (and topic or thread) explicitly. The platform
name is case-insensitive; chat ids are kept exactly as written (the original lower-cased the
whole target and broke case-sensitive ids). ``origin`` and ``local`` belong to sessions and
jobs, and arrive with the scheduling issue.
"""

from __future__ import annotations

from collections.abc import Mapping

from hermes.messages.values import ChatAddress, HomeChannel, Platform

_HOME_HINT = {Platform.TELEGRAM: "TELEGRAM_HOME_CHANNEL", Platform.DISCORD: "DISCORD_HOME_CHANNEL"}


class TargetError(ValueError):
    """A target that cannot be resolved; the text says why and what would work."""


def resolve_target(spec: str, homes: Mapping[Platform, HomeChannel]) -> ChatAddress:
    """The chat ``spec`` names.

    Raises:
        TargetError: unknown platform, no home channel, malformed, or not supported yet.
    """
    text = spec.strip()
    name, colon, rest = text.partition(":")
    if name.casefold() in {"origin", "local"} and not rest:
        raise TargetError(f"the target {name!r} is not supported here yet")
    try:
        platform = Platform(name.casefold())
    except ValueError:
        known = ", ".join(p.value for p in Platform)
        raise TargetError(
            f"unknown platform {name!r} in target {spec!r} (known: {known})"
        ) from None
    if not colon:
        return _home(platform, homes)
    chat_id, _, thread_id = rest.partition(":")
    if not chat_id or ":" in thread_id:
        raise TargetError(f"malformed target {spec!r}: use platform:chat_id[:thread_id]")
    return ChatAddress(platform=platform, chat_id=chat_id, thread_id=thread_id or None)


def _home(platform: Platform, homes: Mapping[Platform, HomeChannel]) -> ChatAddress:
    home = homes.get(platform)
    if home is None:
        hint = _HOME_HINT.get(platform)
        how = "send /sethome in the chat" + (f" or set {hint}" if hint else "")
        raise TargetError(f"{platform.value} has no home channel: {how}")
    return home.address
