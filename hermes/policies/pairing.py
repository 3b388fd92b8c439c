"""DM pairing rules: codes, their limits, approval and revocation, as pure decisions.

Each decision takes the current ``PairingState`` and ``now`` and returns the next state, the
facts to persist (``PairingChange``) and its answer; nothing here keeps state, reads a clock or
draws randomness (``new_secret`` does, and callers inject it). The rules (reference §3.3):

- a code is 8 characters from ``ALPHABET`` (no 0/O/1/I), valid for ``code_ttl``;
- at most ``max_pending`` codes wait per platform, and a user has at most one (a new one
  replaces the old);
- a user gets one new code per ``request_interval``;
- ``max_failures`` failed approvals lock the platform's pairing (new codes and approvals) for
  ``lockout``; the count starts again when the lockout begins, or after a success;
- codes are kept only as PBKDF2-HMAC-SHA256 hashes, each with its own random salt, and
  compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Generic, TypeVar

from hermes.messages.pairing import (
    ApprovalRefusal,
    ApprovedUser,
    CodeIssued,
    CodeWithdrawn,
    GuardChanged,
    PairingApproval,
    PairingChange,
    PairingGuard,
    PairingListing,
    PairingRevocation,
    PairingState,
    PendingCode,
    PendingRequest,
    RequestMark,
    RequestsForgotten,
    UserApproved,
    UserRevoked,
)
from hermes.messages.values import InboundMessage, Platform

ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH: Final = 8
SALT_BYTES: Final = 16

REFUSED_TEXT: Final = "Too many pairing requests right now. Please try again later."
APPROVED_TEXT: Final = "✅ You're approved — send me a message any time."

T = TypeVar("T")
Chooser = Callable[[str], str]
"""Picks one character of a string (``secrets.choice``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingLimits:
    """The limits of pairing; the defaults are the original gateway's."""

    code_ttl: timedelta = timedelta(hours=1)
    max_pending: int = 3
    request_interval: timedelta = timedelta(minutes=10)
    max_failures: int = 5
    lockout: timedelta = timedelta(hours=1)
    hash_iterations: int = 100_000
    """PBKDF2 rounds for new codes (~25 ms each): a stolen database does not yield the
    40-bit codes cheaply, while an approval checks its platform's few codes quickly."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeSecret:
    """A fresh code and the salt its hash will use."""

    code: str
    salt: bytes

    def __repr__(self) -> str:
        """Never show the code (this object may end up in a log or a traceback)."""
        return "CodeSecret(<hidden>)"


class Refusal(StrEnum):
    """Why a user got no code."""

    LOCKED = "pairing on this platform is locked"
    TOO_SOON = "a code was issued to this user recently"
    PLATFORM_FULL = "too many codes are waiting on this platform"


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """A code for the user (told once, never stored in the clear)."""

    code: str
    expires_at: datetime

    def __repr__(self) -> str:
        """Never show the code."""
        return f"Issued(code=<hidden>, expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """No code: ``reason``."""

    reason: Refusal


@dataclass(frozen=True, slots=True, kw_only=True)
class AlreadyApproved:
    """The user is approved already; no code."""


RequestDecision = Issued | Refused | AlreadyApproved


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome(Generic[T]):
    """A decision: the next state, the facts to persist (in order), and the answer."""

    state: PairingState
    changes: tuple[PairingChange, ...]
    answer: T


def new_secret(choose: Chooser = secrets.choice) -> CodeSecret:
    """A random code of ``CODE_LENGTH`` characters of ``ALPHABET``, and a random salt."""
    code = "".join(choose(ALPHABET) for _ in range(CODE_LENGTH))
    return CodeSecret(code=code, salt=secrets.token_bytes(SALT_BYTES))


def code_text(platform: Platform, code: str) -> str:
    """What a user who asked for pairing on ``platform`` is told: the code, and what next."""
    return (
        f"Hi! I don't recognize you yet. Your pairing code is {code} — ask the bot's owner to "
        f"run `python -m hermes.actors admin pairing approve {platform.value} {code}`."
    )


def normalize_code(raw: str) -> str:
    """The code as typed, trimmed and upper-cased."""
    return raw.strip().upper()


def hash_code(code: str, salt: bytes, iterations: int) -> str:
    """The hex PBKDF2-HMAC-SHA256 of ``code``."""
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, iterations).hex()


def code_matches(pending: PendingCode, code: str) -> bool:
    """True when ``code`` is ``pending``'s (compared in constant time)."""
    digest = hash_code(code, bytes.fromhex(pending.salt), pending.iterations)
    return hmac.compare_digest(digest, pending.code_hash)


def is_locked(guard: PairingGuard, now: datetime) -> bool:
    """True while ``guard``'s lockout lasts."""
    return guard.locked_until is not None and now < guard.locked_until


def guard_of(state: PairingState, platform: Platform) -> PairingGuard:
    """``platform``'s failure count and lockout."""
    for guard in state.guards:
        if guard.platform is platform:
            return guard
    return PairingGuard(platform=platform)


def tidy(
    state: PairingState, now: datetime, limits: PairingLimits
) -> tuple[PairingState, list[PairingChange]]:
    """Drop expired codes, stale request marks and ended lockouts."""
    changes: list[PairingChange] = []
    expired = [p for p in state.pending if now - p.created_at >= limits.code_ttl]
    changes.extend(CodeWithdrawn(platform=p.platform, user_id=p.user_id) for p in expired)
    stale = [m for m in state.requests if now - m.requested_at >= limits.request_interval]
    for platform in dict.fromkeys(m.platform for m in stale):
        ids = tuple(m.user_id for m in stale if m.platform is platform)
        changes.append(RequestsForgotten(platform=platform, user_ids=ids))
    ended = [g for g in state.guards if g.locked_until is not None and not is_locked(g, now)]
    changes.extend(GuardChanged(guard=PairingGuard(platform=g.platform)) for g in ended)
    state = replace(
        state,
        pending=tuple(p for p in state.pending if p not in expired),
        requests=tuple(m for m in state.requests if m not in stale),
        guards=tuple(g for g in state.guards if g not in ended),
    )
    return state, changes


def request_code(
    state: PairingState,
    message: InboundMessage,
    now: datetime,
    secret: CodeSecret,
    limits: PairingLimits,
) -> Outcome[RequestDecision]:
    """An unauthorized DM asks for a code: issue ``secret``'s code, or refuse."""
    state, changes = tidy(state, now, limits)
    platform, user_id = message.origin.platform, message.sender.user_id
    if any(_is_user(u, platform, user_id) for u in state.approved):
        return Outcome(state=state, changes=tuple(changes), answer=AlreadyApproved())
    refusal = _refusal(state, platform, user_id, now, limits)
    if refusal is not None:
        return Outcome(state=state, changes=tuple(changes), answer=Refused(reason=refusal))
    pending = PendingCode(
        platform=platform,
        user_id=user_id,
        user_name=message.sender.user_name,
        chat=message.origin,
        code_hash=hash_code(secret.code, secret.salt, limits.hash_iterations),
        salt=secret.salt.hex(),
        iterations=limits.hash_iterations,
        created_at=now,
    )
    mark = RequestMark(platform=platform, user_id=user_id, requested_at=now)
    state = replace(
        state,
        pending=(*_without_user(state.pending, platform, user_id), pending),
        requests=(*_without_user(state.requests, platform, user_id), mark),
    )
    changes.append(CodeIssued(pending=pending))
    issued = Issued(code=secret.code, expires_at=now + limits.code_ttl)
    return Outcome(state=state, changes=tuple(changes), answer=issued)


def approve_code(
    state: PairingState, platform: Platform, typed: str, now: datetime, limits: PairingLimits
) -> Outcome[PairingApproval]:
    """The owner approves the code ``typed`` on ``platform``."""
    state, changes = tidy(state, now, limits)
    guard = guard_of(state, platform)
    if is_locked(guard, now):
        answer = PairingApproval(
            platform=platform, refusal=ApprovalRefusal.LOCKED, locked_until=guard.locked_until
        )
        return Outcome(state=state, changes=tuple(changes), answer=answer)
    found = _matching(state.pending, platform, normalize_code(typed))
    if found is None:
        return _failed(state, changes, guard, now, limits)
    user = ApprovedUser(
        platform=platform,
        user_id=found.user_id,
        user_name=found.user_name,
        chat=found.chat,
        approved_at=now,
    )
    state = replace(
        state,
        pending=tuple(p for p in state.pending if p is not found),
        approved=(*_without_user(state.approved, platform, found.user_id), user),
    )
    changes += [CodeWithdrawn(platform=platform, user_id=found.user_id), UserApproved(user=user)]
    if guard.failures:
        state = _with_guard(state, PairingGuard(platform=platform))
        changes.append(GuardChanged(guard=PairingGuard(platform=platform)))
    return Outcome(
        state=state, changes=tuple(changes), answer=PairingApproval(platform=platform, user=user)
    )


def revoke_user(
    state: PairingState, platform: Platform, user_id: str
) -> Outcome[PairingRevocation]:
    """The owner removes ``user_id``'s access on ``platform`` (and any code it waits with)."""
    was_approved = any(_is_user(u, platform, user_id) for u in state.approved)
    had_code = any(_is_user(p, platform, user_id) for p in state.pending)
    changes: list[PairingChange] = []
    if was_approved:
        changes.append(UserRevoked(platform=platform, user_id=user_id))
    if had_code:
        changes.append(CodeWithdrawn(platform=platform, user_id=user_id))
    state = replace(
        state,
        approved=_without_user(state.approved, platform, user_id),
        pending=_without_user(state.pending, platform, user_id),
    )
    answer = PairingRevocation(
        platform=platform, user_id=user_id, was_approved=was_approved, withdrew_code=had_code
    )
    return Outcome(state=state, changes=tuple(changes), answer=answer)


def listing(state: PairingState, now: datetime, limits: PairingLimits) -> PairingListing:
    """What the owner sees: live requests (never their codes), approved users, lockouts."""
    state, _ = tidy(state, now, limits)
    return PairingListing(
        listed_at=now,
        pending=tuple(
            PendingRequest(
                platform=p.platform,
                user_id=p.user_id,
                user_name=p.user_name,
                requested_at=p.created_at,
                expires_at=p.created_at + limits.code_ttl,
            )
            for p in sorted(state.pending, key=lambda p: (p.platform, p.created_at))
        ),
        approved=tuple(sorted(state.approved, key=lambda u: (u.platform, u.approved_at))),
        locked=tuple(g for g in state.guards if is_locked(g, now)),
    )


def _refusal(
    state: PairingState, platform: Platform, user_id: str, now: datetime, limits: PairingLimits
) -> Refusal | None:
    if is_locked(guard_of(state, platform), now):
        return Refusal.LOCKED
    if any(_is_user(m, platform, user_id) for m in state.requests):
        return Refusal.TOO_SOON
    others = [p for p in state.pending if p.platform is platform and p.user_id != user_id]
    if len(others) >= limits.max_pending:
        return Refusal.PLATFORM_FULL
    return None


def _matching(pending: Iterable[PendingCode], platform: Platform, code: str) -> PendingCode | None:
    if len(code) != CODE_LENGTH or not set(code) <= set(ALPHABET):
        return None
    # Every candidate is hashed, so the time taken does not tell which one matched.
    matches = [p for p in pending if p.platform is platform and code_matches(p, code)]
    return matches[0] if matches else None


def _failed(
    state: PairingState,
    changes: list[PairingChange],
    guard: PairingGuard,
    now: datetime,
    limits: PairingLimits,
) -> Outcome[PairingApproval]:
    failures = guard.failures + 1
    platform = guard.platform
    if failures >= limits.max_failures:
        guard = PairingGuard(platform=platform, locked_until=now + limits.lockout)
    else:
        guard = PairingGuard(platform=platform, failures=failures)
    answer = PairingApproval(
        platform=platform,
        refusal=ApprovalRefusal.NO_MATCH,
        attempts_left=max(0, limits.max_failures - failures),
        locked_until=guard.locked_until,
    )
    changes.append(GuardChanged(guard=guard))
    return Outcome(state=_with_guard(state, guard), changes=tuple(changes), answer=answer)


def _with_guard(state: PairingState, guard: PairingGuard) -> PairingState:
    others = tuple(g for g in state.guards if g.platform is not guard.platform)
    kept = (*others, guard) if guard != PairingGuard(platform=guard.platform) else others
    return replace(state, guards=kept)


_U = TypeVar("_U", PendingCode, ApprovedUser, RequestMark)


def _is_user(item: PendingCode | ApprovedUser | RequestMark, platform: Platform, user: str) -> bool:
    return item.platform is platform and item.user_id == user


def _without_user(items: tuple[_U, ...], platform: Platform, user_id: str) -> tuple[_U, ...]:
    return tuple(item for item in items if not _is_user(item, platform, user_id))
