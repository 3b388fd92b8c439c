"""PairingActor: the owner of DM pairing (codes, approvals, rate limits, lockouts).

The Router asks it for a code for an unauthorized DM (``RequestPairing``); the admin interface
asks it to list, approve and revoke. Every decision is made by ``hermes.policies.pairing``; this
actor keeps the resulting state, persists each change through the Store (``RecordPairing``),
answers users through Delivery, and pushes the approved set to the Router
(``ApprovedUsersChanged``), which alone decides who is served. Codes are never logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, assert_never

import pykka

from hermes.messages.address import Address
from hermes.messages.delivery import DeliverMessage, DeliveryCommand, OutboundKind, OutboundMessage
from hermes.messages.pairing import (
    ApprovePairing,
    ListPairings,
    PairingApproval,
    PairingCommand,
    PairingRevocation,
    PairingState,
    RequestPairing,
    RevokePairing,
)
from hermes.messages.ports import Clock
from hermes.messages.router import ApprovedUsersChanged, RouterCommand
from hermes.messages.store import RecordPairing, StoreCommand
from hermes.messages.values import ChatAddress, InboundMessage
from hermes.policies.pairing import (
    APPROVED_TEXT,
    REFUSED_TEXT,
    AlreadyApproved,
    CodeSecret,
    Issued,
    Outcome,
    PairingLimits,
    Refused,
    approve_code,
    code_text,
    listing,
    new_secret,
    request_code,
    revoke_user,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingDeps:
    """Everything the PairingActor is started with."""

    state: PairingState
    """What the Store held at start."""
    store: Address[StoreCommand]
    delivery: Address[DeliveryCommand]
    router: Address[RouterCommand]
    clock: Clock
    limits: PairingLimits = field(default_factory=PairingLimits)
    new_secret: Callable[[], CodeSecret] = new_secret
    """Draws a code and its salt (tests inject a predictable one)."""


class PairingActor(pykka.ThreadingActor):
    """The owner of DM pairing.

    Accepts: ``PairingCommand`` (``RequestPairing`` told; the rest asked by the admin interface).
    Emits: ``DeliverMessage`` to Delivery (codes, refusals, approval notices); ``RecordPairing``
        to the Store; ``ApprovedUsersChanged`` to the Router.
    Owns: pending codes (hashed), approved users, request marks, failure counts and lockouts.
    Lifecycle: started by the System after the Router; stopped after the Router, before the
        Store.
    """

    def __init__(self, deps: PairingDeps) -> None:
        """Start from the stored state."""
        super().__init__()
        self._deps = deps
        self._state = deps.state

    def on_receive(self, message: PairingCommand) -> object:
        """Dispatch one message of the PairingActor's protocol."""
        match message:
            case RequestPairing():
                self._on_request(message.message)
            case ListPairings():
                return listing(self._state, self._deps.clock.now(), self._deps.limits)
            case ApprovePairing():
                return self._on_approve(message)
            case RevokePairing():
                return self._on_revoke(message)
            case _:
                assert_never(message)
        return None

    def _on_request(self, inbound: InboundMessage) -> None:
        deps = self._deps
        outcome = request_code(
            self._state, inbound, deps.clock.now(), deps.new_secret(), deps.limits
        )
        self._commit(outcome)
        user, platform = inbound.sender.user_id, inbound.origin.platform
        match outcome.answer:
            case Issued(expires_at=expires_at):
                logger.info(
                    "pairing code issued to user %s on %s, valid until %s",
                    user,
                    platform,
                    expires_at.isoformat(timespec="seconds"),
                )
                text = code_text(platform, outcome.answer.code)
            case Refused(reason=reason):
                logger.info("no pairing code for user %s on %s: %s", user, platform, reason)
                text = REFUSED_TEXT
            case AlreadyApproved():
                text = APPROVED_TEXT
            case _:
                assert_never(outcome.answer)
        self._tell_user(inbound.origin, text, inbound.message_id)

    def _on_approve(self, message: ApprovePairing) -> PairingApproval:
        outcome = approve_code(
            self._state, message.platform, message.code, self._deps.clock.now(), self._deps.limits
        )
        self._commit(outcome)
        answer = outcome.answer
        if answer.user is not None:
            logger.info("pairing approved: user %s on %s", answer.user.user_id, answer.platform)
            if answer.user.chat is not None:
                self._tell_user(answer.user.chat, APPROVED_TEXT, None)
        elif answer.locked_until is not None:
            logger.warning(
                "pairing on %s is locked until %s after failed approvals",
                answer.platform,
                answer.locked_until.isoformat(timespec="seconds"),
            )
        else:
            logger.warning(
                "failed pairing approval on %s (%s attempts left)",
                answer.platform,
                answer.attempts_left,
            )
        return answer

    def _on_revoke(self, message: RevokePairing) -> PairingRevocation:
        outcome = revoke_user(self._state, message.platform, message.user_id)
        self._commit(outcome)
        if outcome.answer.was_approved:
            logger.info("pairing revoked: user %s on %s", message.user_id, message.platform)
        return outcome.answer

    def _commit(self, outcome: Outcome[T]) -> None:
        before = self._state.approved_users()
        self._state = outcome.state
        if outcome.changes:
            self._deps.store.tell(RecordPairing(changes=outcome.changes))
        after = self._state.approved_users()
        if after != before:
            self._deps.router.tell(ApprovedUsersChanged(approved=after))

    def _tell_user(self, chat: ChatAddress, text: str, in_reply_to: str | None) -> None:
        self._deps.delivery.tell(
            DeliverMessage(
                delivery_id=secrets.token_hex(8),
                message=OutboundMessage(
                    target=chat, text=text, kind=OutboundKind.NOTICE, in_reply_to=in_reply_to
                ),
            )
        )
