"""The operator's commands beyond the core ones: DM pairing, ``send``, ``reload``.

Handlers for ``AdminCommands`` (the System passes them as ``extra``): ``pairing.list``,
``pairing.approve``, ``pairing.revoke`` ask the PairingActor; ``send`` tells Delivery and waits
for its outcome through a ``FutureReply``; ``reload`` re-reads the configuration. Each waits
with a timeout, so a slow or dead actor is an error, never a hung CLI. Codes are never echoed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, TypeVar, assert_never

from hermes.actors.admin import ANSWER_TIMEOUT, AdminError, Handler, Result
from hermes.actors.admin_reload import ConfigReloader, ReloadError
from hermes.actors.future_reply import FutureReply
from hermes.messages.address import Address
from hermes.messages.delivery import (
    DeliverToTarget,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    MessageDelivered,
)
from hermes.messages.pairing import (
    ApprovalRefusal,
    ApprovedUser,
    ApprovePairing,
    ListPairings,
    PairingApproval,
    PairingCommand,
    PairingListing,
    PairingRevocation,
    RevokePairing,
)
from hermes.messages.values import Platform
from hermes.policies.authorization import TRUSTED_PLATFORMS

SEND_TIMEOUT: Final = 10.0
"""Seconds ``send`` waits for the platform to confirm (the CLI itself waits 15)."""
PAIRABLE: Final = tuple(p for p in Platform if p not in TRUSTED_PLATFORMS)

M = TypeVar("M")
M_contra = TypeVar("M_contra", contravariant=True)


class Asker(Protocol[M_contra]):
    """What the handlers need of an actor's address: ask with a timeout (``ActorAddress``)."""

    def ask(self, message: M_contra, timeout: float) -> object:
        """Send ``message`` and wait up to ``timeout`` seconds for the answer."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationsDeps:
    """What the operations talk to."""

    pairing: Asker[PairingCommand]
    delivery: Address[DeliveryCommand]
    reloader: ConfigReloader
    send_timeout: float = SEND_TIMEOUT


def operation_handlers(deps: OperationsDeps) -> dict[str, Handler]:
    """The handlers by command name, for ``AdminCommands(extra=...)``."""
    ops = _Operations(deps)
    return {
        "pairing.list": ops.pairing_list,
        "pairing.approve": ops.pairing_approve,
        "pairing.revoke": ops.pairing_revoke,
        "send": ops.send,
        "reload": ops.reload,
    }


class _Operations:
    def __init__(self, deps: OperationsDeps) -> None:
        self._deps = deps

    def pairing_list(self, args: Mapping[str, object]) -> Result:
        del args
        listing = self._ask(ListPairings(), PairingListing)
        now = listing.listed_at
        return {
            "pending": [
                {
                    "platform": p.platform.value,
                    "user_id": p.user_id,
                    "user_name": p.user_name,
                    "requested_at": _iso(p.requested_at),
                    "age_seconds": round((now - p.requested_at).total_seconds()),
                    "expires_at": _iso(p.expires_at),
                }
                for p in listing.pending
            ],
            "approved": [_approved(user) for user in listing.approved],
            "locked": [
                {"platform": g.platform.value, "locked_until": _iso(g.locked_until)}
                for g in listing.locked
            ],
        }

    def pairing_approve(self, args: Mapping[str, object]) -> Result:
        platform = _platform(args)
        code = _text(args, "code", "approve needs the code the user was given")
        answer = self._ask(ApprovePairing(platform=platform, code=code), PairingApproval)
        if answer.user is not None:
            return {**_approved(answer.user), "approved": True}
        if answer.refusal is ApprovalRefusal.LOCKED:
            raise AdminError(
                f"pairing on {platform} is locked until {_iso(answer.locked_until)} "
                "after too many failed approvals"
            )
        if answer.locked_until is not None:
            raise AdminError(
                f"no pending code on {platform} matches; after too many failed approvals, "
                f"pairing on {platform} is locked until {_iso(answer.locked_until)}"
            )
        raise AdminError(
            f"no pending code on {platform} matches (see `admin pairing list`); "
            f"{answer.attempts_left} more failed approvals lock pairing on {platform}"
        )

    def pairing_revoke(self, args: Mapping[str, object]) -> Result:
        platform = _platform(args)
        user_id = _text(args, "user_id", "revoke needs a user id (see `admin pairing list`)")
        answer = self._ask(RevokePairing(platform=platform, user_id=user_id), PairingRevocation)
        if not (answer.was_approved or answer.withdrew_code):
            raise AdminError(f"user {user_id} has no approval or pending code on {platform}")
        return {
            "platform": platform.value,
            "user_id": user_id,
            "revoked": answer.was_approved,
            "withdrew_code": answer.withdrew_code,
        }

    def send(self, args: Mapping[str, object]) -> Result:
        target = _text(args, "target", "send needs a target, e.g. telegram or telegram:CHAT_ID")
        text = _text(args, "text", "send needs a text")
        reply: FutureReply[DeliveryEvent] = FutureReply()
        delivery_id = secrets.token_hex(8)
        self._deps.delivery.tell(
            DeliverToTarget(
                delivery_id=delivery_id,
                target=target,
                text=text,
                reply_to=reply,
                mirror_label="operator",
            )
        )
        try:
            outcome = reply.future.result(timeout=self._deps.send_timeout)
        except TimeoutError as error:
            raise AdminError(
                f"{target} did not confirm within {self._deps.send_timeout:g} s; the message "
                f"may still arrive (delivery {delivery_id})"
            ) from error
        match outcome:
            case MessageDelivered():
                return {"target": target, "delivery_id": delivery_id, "delivered": True}
            case DeliveryFailed(reason=reason):
                raise AdminError(f"not delivered to {target}: {reason}")
            case _:
                assert_never(outcome)

    def reload(self, args: Mapping[str, object]) -> Result:
        del args
        try:
            report = self._deps.reloader.reload()
        except ReloadError as error:
            raise AdminError(str(error)) from error
        return {"applied": list(report.applied), "needs_restart": list(report.needs_restart)}

    def _ask(self, message: PairingCommand, answer_type: type[M]) -> M:
        answer = self._deps.pairing.ask(message, ANSWER_TIMEOUT)
        if not isinstance(answer, answer_type):
            raise AdminError(f"pairing answered {type(answer).__name__}")
        return answer


def _platform(args: Mapping[str, object]) -> Platform:
    raw = args.get("platform")
    names = ", ".join(p.value for p in PAIRABLE)
    try:
        platform = Platform(str(raw).strip().lower())
    except ValueError:
        platform = None
    if platform is None or platform not in PAIRABLE:
        raise AdminError(f"unknown chat platform {raw!r} (one of: {names})")
    return platform


def _text(args: Mapping[str, object], name: str, missing: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise AdminError(missing)
    return value


def _approved(user: ApprovedUser) -> Result:
    return {
        "platform": user.platform.value,
        "user_id": user.user_id,
        "user_name": user.user_name,
        "approved_at": _iso(user.approved_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
