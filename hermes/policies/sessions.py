"""Pure rules about a session's identity and life: new session ids, and the reset policy.

The reset policy (reference §1.5) is evaluated when a message arrives: ``idle`` expires a
session ``idle_minutes`` after its last activity, ``daily`` once the daily ``at_hour`` boundary
(local time) has passed since its last activity, ``both`` on either, ``none`` never.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from hermes.messages.session import ResetReason
from hermes.messages.values import Platform


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetRule:
    """The reset policy in force for a session."""

    idle: bool
    daily: bool
    at_hour: int
    idle_minutes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetRules:
    """The reset policy: a default rule and per-platform overrides (None: never reset)."""

    default: ResetRule | None = None
    platforms: tuple[tuple[Platform, ResetRule | None], ...] = ()

    def for_platform(self, platform: Platform | None) -> ResetRule | None:
        """The rule a session on ``platform`` follows."""
        for candidate, rule in self.platforms:
            if candidate is platform:
                return rule
        return self.default

    def latest_cutoff(self, now: datetime, local_zone: tzinfo) -> datetime | None:
        """A session last active before this may have expired under some rule (None: none can)."""
        rules = [rule for rule in (self.default, *(r for _, r in self.platforms)) if rule]
        cutoffs = [cutoff(rule, now, local_zone) for rule in rules]
        return max(cutoffs) if cutoffs else None


def cutoff(rule: ResetRule, now: datetime, local_zone: tzinfo) -> datetime:
    """Sessions last active before this have expired under ``rule``."""
    candidates = []
    if rule.idle:
        candidates.append(now - timedelta(minutes=rule.idle_minutes))
    if rule.daily:
        candidates.append(_last_boundary(now, rule.at_hour, local_zone))
    return max(candidates) if candidates else now - timedelta(days=36500)


def new_session_id(now: datetime, token: str | None = None) -> str:
    """A session id in the original's format, ``YYYYMMDD_HHMMSS_<8 hex>`` (UTC)."""
    suffix = token if token is not None else secrets.token_hex(4)
    return f"{now.astimezone(UTC).strftime('%Y%m%d_%H%M%S')}_{suffix}"


def expiry_reason(
    rule: ResetRule, last_activity: datetime, now: datetime, local_zone: tzinfo
) -> ResetReason | None:
    """Why a session last active at ``last_activity`` has expired by ``now``, or None."""
    if rule.idle and now > last_activity + timedelta(minutes=rule.idle_minutes):
        return ResetReason.IDLE
    if rule.daily and last_activity < _last_boundary(now, rule.at_hour, local_zone):
        return ResetReason.DAILY
    return None


def _last_boundary(now: datetime, at_hour: int, local_zone: tzinfo) -> datetime:
    local_now = now.astimezone(local_zone)
    boundary = local_now.replace(hour=at_hour, minute=0, second=0, microsecond=0)
    if local_now < boundary:
        boundary -= timedelta(days=1)
    return boundary
