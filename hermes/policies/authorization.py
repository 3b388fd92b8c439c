"""Who is served: the access rules in the original gateway's order (reference §3.1).

1. The HTTP API (its own bearer key) and in-process platforms are trusted.
2. A message without a user id is denied.
3. A platform's allow-all (``<PLATFORM>_ALLOW_ALL_USERS``) allows.
4. A user the owner approved by DM pairing is allowed, allowlists or not: only the owner can
   approve (over the admin socket), so a pairing is a grant the owner made, and revoking it
   takes effect at once.
5. The union of the platform's allowlist and ``GATEWAY_ALLOWED_USERS``: when both are empty
   the answer is ``GATEWAY_ALLOW_ALL_USERS``; otherwise the sender must be listed (by user id,
   or on Discord also by user name).
6. Everything else is denied. An unauthorized DM may be offered a pairing code
   (``unauthorized_dm_behavior``); in groups an unauthorized user is ignored silently.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from hermes.messages.access import AuthRules, DmBehavior, PlatformRules, PlatformUser
from hermes.messages.values import ChatType, InboundMessage, Platform

__all__ = [
    "TRUSTED_PLATFORMS",
    "AuthRules",
    "DmBehavior",
    "PlatformRules",
    "Verdict",
    "authorize",
    "dm_behavior",
    "offers_pairing",
]

TRUSTED_PLATFORMS: Final = frozenset({Platform.API_SERVER, Platform.EMBEDDED, Platform.CONSOLE})


class Verdict(StrEnum):
    """Why a message is served or not (logged, and counted in status)."""

    TRUSTED = "trusted platform"
    NO_USER = "no user id"
    PLATFORM_ALLOW_ALL = "platform allows everyone"
    PAIRED = "approved by pairing"
    LISTED = "on an allowlist"
    NOT_LISTED = "not on any allowlist"
    GATEWAY_ALLOW_ALL = "gateway allows everyone"
    NO_ALLOWLIST = "no allowlist and no allow-all"

    @property
    def allowed(self) -> bool:
        """True when the message is served."""
        return self in _ALLOWED


_ALLOWED: Final = frozenset(
    {
        Verdict.TRUSTED,
        Verdict.PLATFORM_ALLOW_ALL,
        Verdict.PAIRED,
        Verdict.LISTED,
        Verdict.GATEWAY_ALLOW_ALL,
    }
)
_PAIRABLE: Final = frozenset({Verdict.NOT_LISTED, Verdict.NO_ALLOWLIST})
"""Refusals a pairing code can cure (a message without a user id cannot be paired)."""


def authorize(
    rules: AuthRules, message: InboundMessage, approved: frozenset[PlatformUser] = frozenset()
) -> Verdict:
    """Whether ``message`` is served, and why; ``approved`` holds the approved pairings."""
    platform = message.origin.platform
    if platform in TRUSTED_PLATFORMS:
        return Verdict.TRUSTED
    sender = message.sender
    if not sender.user_id:
        return Verdict.NO_USER
    own = rules.for_platform(platform)
    if own.allow_all:
        return Verdict.PLATFORM_ALLOW_ALL
    if approved and PlatformUser(platform=platform, user_id=sender.user_id) in approved:
        return Verdict.PAIRED
    listed = own.allowed_users | rules.allowed_users
    if not listed:
        return Verdict.GATEWAY_ALLOW_ALL if rules.allow_all else Verdict.NO_ALLOWLIST
    names = {sender.user_id}
    if own.match_names and sender.user_name:
        names.add(sender.user_name)
    return Verdict.LISTED if names & listed else Verdict.NOT_LISTED


def dm_behavior(rules: AuthRules, platform: Platform) -> DmBehavior:
    """What an unauthorized DM on ``platform`` gets.

    The platform's own setting, else the gateway's, else ``ignore`` when an allowlist
    applies to the platform (the owner has said who may talk: strangers are not offered
    codes) and ``pair`` when none does.
    """
    chosen = rules.for_platform(platform).unauthorized_dm or rules.unauthorized_dm
    if chosen is not None:
        return chosen
    return DmBehavior.IGNORE if rules.has_allowlist(platform) else DmBehavior.PAIR


def offers_pairing(rules: AuthRules, message: InboundMessage, verdict: Verdict) -> bool:
    """True when the refused ``message`` should get a pairing code (or the refusal)."""
    return (
        verdict in _PAIRABLE
        and message.origin.chat_type is ChatType.DM
        and dm_behavior(rules, message.origin.platform) is DmBehavior.PAIR
    )
