"""Who may talk: the access rules the Router applies, as values it can be sent.

The rules are data (allowlists, allow-all switches, what an unknown DM gets) so that the
operator's ``reload`` can hand the Router a new set in one message. The decisions over them
live in ``hermes.policies.authorization``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hermes.messages.values import Platform


class DmBehavior(StrEnum):
    """What an unauthorized user who DMs the bot gets (``unauthorized_dm_behavior``)."""

    PAIR = "pair"
    """A pairing code the owner can approve."""
    IGNORE = "ignore"
    """Nothing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformUser:
    """One user of one chat platform (an approved pairing)."""

    platform: Platform
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformRules:
    """One chat platform's access settings."""

    platform: Platform
    allowed_users: frozenset[str] = frozenset()
    allow_all: bool = False
    match_names: bool = False
    """Whether allowlist entries may be user names: only where names are unique and owned
    (Discord); elsewhere a display name is anyone's to choose."""
    unauthorized_dm: DmBehavior | None = None
    """``<platform>.unauthorized_dm_behavior``; None defers to the gateway's setting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRules:
    """The whole gateway's access settings."""

    allowed_users: frozenset[str] = frozenset()
    """``GATEWAY_ALLOWED_USERS``."""
    allow_all: bool = False
    """``GATEWAY_ALLOW_ALL_USERS``."""
    unauthorized_dm: DmBehavior | None = None
    """``unauthorized_dm_behavior``; None means: pair without an allowlist, ignore with one."""
    platforms: tuple[PlatformRules, ...] = ()

    def for_platform(self, platform: Platform) -> PlatformRules:
        """The rules of ``platform`` (empty when it has none)."""
        for rules in self.platforms:
            if rules.platform is platform:
                return rules
        return PlatformRules(platform=platform)

    def has_allowlist(self, platform: Platform) -> bool:
        """True when ``platform`` has its own allowlist or the gateway has one."""
        return bool(self.for_platform(platform).allowed_users or self.allowed_users)

    def denies_everyone_on(self, platform: Platform) -> bool:
        """True when no allowlist or allow-all serves anyone on ``platform``."""
        rules = self.for_platform(platform)
        return not (rules.allow_all or self.has_allowlist(platform) or self.allow_all)
