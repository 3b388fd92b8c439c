"""Who is served: the allowlist rules, in the original gateway's order (reference §3.1).

1. The HTTP API (its own bearer key) and in-process platforms are trusted.
2. A message without a user id is denied.
3. A platform's allow-all (``<PLATFORM>_ALLOW_ALL_USERS``) allows.
4. The union of the platform's allowlist and ``GATEWAY_ALLOWED_USERS``: when both are empty
   the answer is ``GATEWAY_ALLOW_ALL_USERS``; otherwise the sender must be listed (by user id,
   or on Discord also by user name).
5. Everything else is denied.

DM pairing (approved users) joins this order with the pairing issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hermes.messages.values import InboundMessage, Platform

TRUSTED_PLATFORMS: Final = frozenset({Platform.API_SERVER, Platform.EMBEDDED, Platform.CONSOLE})


class Verdict(StrEnum):
    """Why a message is served or not (logged, and counted in status)."""

    TRUSTED = "trusted platform"
    NO_USER = "no user id"
    PLATFORM_ALLOW_ALL = "platform allows everyone"
    LISTED = "on an allowlist"
    NOT_LISTED = "not on any allowlist"
    GATEWAY_ALLOW_ALL = "gateway allows everyone"
    NO_ALLOWLIST = "no allowlist and no allow-all"

    @property
    def allowed(self) -> bool:
        """True when the message is served."""
        return self in _ALLOWED


_ALLOWED: Final = frozenset(
    {Verdict.TRUSTED, Verdict.PLATFORM_ALLOW_ALL, Verdict.LISTED, Verdict.GATEWAY_ALLOW_ALL}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformRules:
    """One chat platform's allowlist settings."""

    platform: Platform
    allowed_users: frozenset[str] = frozenset()
    allow_all: bool = False
    match_names: bool = False
    """Whether allowlist entries may be user names: only where names are unique and owned
    (Discord); elsewhere a display name is anyone's to choose."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRules:
    """The whole gateway's allowlist settings."""

    allowed_users: frozenset[str] = frozenset()
    """``GATEWAY_ALLOWED_USERS``."""
    allow_all: bool = False
    """``GATEWAY_ALLOW_ALL_USERS``."""
    platforms: tuple[PlatformRules, ...] = ()

    def for_platform(self, platform: Platform) -> PlatformRules:
        """The rules of ``platform`` (empty when it has none)."""
        for rules in self.platforms:
            if rules.platform is platform:
                return rules
        return PlatformRules(platform=platform)

    def denies_everyone_on(self, platform: Platform) -> bool:
        """True when nobody could be served on ``platform`` (worth a warning at start)."""
        rules = self.for_platform(platform)
        listed = rules.allowed_users or self.allowed_users
        return not (rules.allow_all or listed or self.allow_all)


def authorize(rules: AuthRules, message: InboundMessage) -> Verdict:
    """Whether ``message`` is served, and why."""
    platform = message.origin.platform
    if platform in TRUSTED_PLATFORMS:
        return Verdict.TRUSTED
    sender = message.sender
    if not sender.user_id:
        return Verdict.NO_USER
    own = rules.for_platform(platform)
    if own.allow_all:
        return Verdict.PLATFORM_ALLOW_ALL
    listed = own.allowed_users | rules.allowed_users
    if not listed:
        return Verdict.GATEWAY_ALLOW_ALL if rules.allow_all else Verdict.NO_ALLOWLIST
    names = {sender.user_id}
    if own.match_names and sender.user_name:
        names.add(sender.user_name)
    return Verdict.LISTED if names & listed else Verdict.NOT_LISTED
