"""The hook events a session emits: session start, end and reset, agent start and end, commands.

Told to the hook runner and never waited for (``hermes.messages.hooks``); with no hooks
installed the System gives sessions no runner, and nothing is built or sent. Used only from its
SessionActor's thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hermes.messages.address import Address, AddressClosedError
from hermes.messages.hooks import HookEvent, HookValue, excerpt
from hermes.messages.session import ResetReason
from hermes.messages.values import ChatAddress, InboundMessage, Sender, SessionKey
from hermes.policies.inputs import PendingInput

logger = logging.getLogger(__name__)

USER_RESETS = frozenset({ResetReason.USER, ResetReason.ADMIN})
"""Endings that are a reset someone asked for (``session:reset`` follows ``session:end``)."""


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """Emits one session's hook events."""

    runner: Address[HookEvent] | None
    session_key: SessionKey

    @property
    def enabled(self) -> bool:
        """True when hooks are installed (so payloads are worth building)."""
        return self.runner is not None

    def emit(
        self,
        name: str,
        origin: ChatAddress | None,
        sender: Sender | None,
        session_id: str | None,
        **extra: HookValue,
    ) -> None:
        """Tell ``name`` with the common keys (platform, user_id, session_id, session_key)."""
        if self.runner is None:
            return
        payload: dict[str, HookValue] = {
            "platform": origin.platform.value if origin is not None else None,
            "user_id": sender.user_id if sender is not None else None,
            "session_id": session_id,
            "session_key": self.session_key.value,
            **extra,
        }
        try:
            self.runner.tell(HookEvent(name=name, payload=tuple(payload.items())))
        except AddressClosedError:
            logger.debug("hook runner gone; %s not emitted", name)

    def command(
        self, inbound: InboundMessage, session_id: str | None, name: str, args: str
    ) -> None:
        """``command:<name>``: someone sent one of the gateway's commands."""
        if self.runner is not None:
            self.emit(
                f"command:{name}",
                inbound.origin,
                inbound.sender,
                session_id,
                command=name,
                args=args,
            )

    def agent(
        self,
        name: str,
        inputs: tuple[PendingInput, ...],
        session_id: str | None,
        **extra: HookValue,
    ) -> None:
        """``agent:start`` or ``agent:end`` of the turn answering ``inputs``."""
        if self.runner is None:
            return
        last = inputs[-1].message
        message = excerpt("\n".join(item.text for item in inputs))
        self.emit(name, last.origin, last.sender, session_id, message=message, **extra)

    def ended(
        self,
        origin: ChatAddress | None,
        sender: Sender | None,
        old_session_id: str,
        new_session_id: str,
        reason: ResetReason,
    ) -> None:
        """``session:end`` for every ending; ``session:reset`` too when someone asked for it."""
        self.emit("session:end", origin, sender, old_session_id, reason=reason.value)
        if reason in USER_RESETS:
            self.emit("session:reset", origin, sender, new_session_id, reason=reason.value)
