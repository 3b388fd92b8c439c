"""The PairingActor's protocol, and the pairing state it owns and the Store keeps.

An unknown user who DMs the bot may be given a pairing code; the owner approves it over the
admin socket. Codes exist only as salted hashes (``PendingCode``); the plain code is told to
the user once and never stored or logged. Every change is a ``PairingChange`` fact, written by
the Store in the same order; ``PairingState`` is what the Store hands back at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hermes.messages.access import PlatformUser
from hermes.messages.values import ChatAddress, InboundMessage, Platform

# -- the state -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingCode:
    """A pairing code waiting for the owner's approval (at most one per user)."""

    platform: Platform
    user_id: str
    user_name: str | None
    chat: ChatAddress
    """The DM the code was sent to; the approval notice goes there."""
    code_hash: str
    """PBKDF2-HMAC-SHA256 of the code, hex."""
    salt: str
    """The code's own random salt, hex."""
    iterations: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovedUser:
    """A user the owner approved: served on ``platform`` until revoked."""

    platform: Platform
    user_id: str
    user_name: str | None
    chat: ChatAddress | None
    approved_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestMark:
    """When ``user_id`` was last given a code (the per-user rate limit)."""

    platform: Platform
    user_id: str
    requested_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingGuard:
    """A platform's failed approvals, and the lockout they lead to."""

    platform: Platform
    failures: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingState:
    """Everything pairing knows; the PairingActor's state and the Store's snapshot of it."""

    pending: tuple[PendingCode, ...] = ()
    approved: tuple[ApprovedUser, ...] = ()
    requests: tuple[RequestMark, ...] = ()
    guards: tuple[PairingGuard, ...] = ()

    def approved_users(self) -> frozenset[PlatformUser]:
        """The approved users, as the Router checks them."""
        return frozenset(
            PlatformUser(platform=user.platform, user_id=user.user_id) for user in self.approved
        )


# -- the facts the Store writes --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeIssued:
    """A code was issued: it replaces the user's pending one, and marks the request time."""

    pending: PendingCode


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeWithdrawn:
    """The user's pending code is gone (approved, expired, replaced or revoked)."""

    platform: Platform
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserApproved:
    """The owner approved this user."""

    user: ApprovedUser


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRevoked:
    """The owner revoked this user's approval."""

    platform: Platform
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestsForgotten:
    """These users' request marks are older than the rate limit: no longer needed."""

    platform: Platform
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardChanged:
    """A platform's failure count or lockout changed."""

    guard: PairingGuard


PairingChange = (
    CodeIssued | CodeWithdrawn | UserApproved | UserRevoked | RequestsForgotten | GuardChanged
)


# -- the protocol ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPairing:
    """Sent by the Router to the PairingActor: this unauthorized DM asks for a pairing code.

    The PairingActor answers the user through Delivery: a code, or the refusal.
    """

    message: InboundMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPairings:
    """Query (ask only, with a timeout): pending requests, approved users, lockouts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovePairing:
    """Query (ask only, with a timeout), from the admin interface: approve this code.

    Answered with ``PairingApproval``; the approved user is told through Delivery.
    """

    platform: Platform
    code: str
    """As the owner typed it; upper-cased and trimmed before it is checked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokePairing:
    """Query (ask only, with a timeout), from the admin interface: remove this user's access.

    Answered with ``PairingRevocation``; the Router stops serving the user at once.
    """

    platform: Platform
    user_id: str


PairingCommand = RequestPairing | ListPairings | ApprovePairing | RevokePairing


# -- the answers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRequest:
    """A pending code as the owner sees it: who and when, never the code."""

    platform: Platform
    user_id: str
    user_name: str | None
    requested_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingListing:
    """Reply to ``ListPairings``."""

    listed_at: datetime
    """The PairingActor's now (ages are counted from it)."""
    pending: tuple[PendingRequest, ...]
    approved: tuple[ApprovedUser, ...]
    locked: tuple[PairingGuard, ...]
    """Platforms whose pairing is locked now."""


class ApprovalRefusal(StrEnum):
    """Why an approval was refused."""

    NO_MATCH = "no pending code matches"
    """Counted as a failed approval."""
    LOCKED = "pairing is locked after too many failed approvals"


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingApproval:
    """Reply to ``ApprovePairing``: the approved user, or why not."""

    platform: Platform
    user: ApprovedUser | None = None
    refusal: ApprovalRefusal | None = None
    attempts_left: int | None = None
    """Failed approvals left before the lockout (after a ``NO_MATCH``)."""
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingRevocation:
    """Reply to ``RevokePairing``."""

    platform: Platform
    user_id: str
    was_approved: bool
    withdrew_code: bool
