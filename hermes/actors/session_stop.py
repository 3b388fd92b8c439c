"""How a SessionActor stops: passivation when idle, and the ending protocol after a reset.

Both begin by telling the Router ``SessionStopping`` (so it routes nothing more here) and end
with ``SessionStopped`` carrying any message that still arrived, once the Router's
``HandOver`` is in. Ending (``/new``, ``/reset``, a reset policy, expiry, ``admin reset``) runs,
in order: stop taking inputs; let the running turn settle; the optional flush turn (memory
tools only, written nowhere); the provider's end-of-session hook and the draining of queued
memory writes; then persist the new session_id with ``memory_flushed`` so the flush never runs
twice. Passivation persists nothing new: every turn was persisted when it ended.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from hermes.actors.session_state import SessionState
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import StartTurn, TurnEvent
from hermes.messages.router import SessionStopped, SessionStopping, StopReason
from hermes.messages.scheduler import ArmTimer, CancelTimer
from hermes.messages.session import ResetReason, SessionCommand
from hermes.messages.values import InboundMessage

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class _Stop:
    reason: StopReason
    end_reason: ResetReason | None = None
    settling_turn: str | None = None
    """A turn cancelled by the reset, whose report is awaited before the flush."""
    flush_started: bool = False
    flush_turn: str | None = None
    persisted: bool = False
    acked: bool = False
    """The Router's ``HandOver`` arrived: nothing more will be routed here."""
    held: list[InboundMessage] = field(default_factory=list)


class StopProtocol:
    """The stopping half of a SessionActor (used only on the actor's thread)."""

    def __init__(
        self,
        state: SessionState,
        self_address: Address[SessionCommand],
        stop_actor: Callable[[], None],
    ) -> None:
        """Work on ``state``; ``stop_actor`` ends the actor once everything is handed over."""
        self._state = state
        self._deps = state.deps
        self._self = self_address
        self._stop_actor = stop_actor
        self._stop: _Stop | None = None
        self._timer_key = f"passivate:{self._deps.route.key}:{self._deps.incarnation}"

    @property
    def active(self) -> bool:
        """True once the session has begun to stop: inputs are held for the next incarnation."""
        return self._stop is not None

    def hold(self, message: InboundMessage) -> None:
        """Keep ``message`` for the next incarnation."""
        if self._stop is not None:
            self._stop.held.append(message)

    def begin_idle_stop(self) -> None:
        """Passivate: release the actor; the session goes on from the Store."""
        if self._stop is None:
            self._begin(_Stop(reason=StopReason.IDLE, persisted=True))

    def begin_ending(self, reason: ResetReason, settling_turn: str | None = None) -> None:
        """End the session_id (see the module docstring for the steps)."""
        if self._stop is None:
            self._begin(
                _Stop(reason=StopReason.ENDED, end_reason=reason, settling_turn=settling_turn)
            )
        elif self._stop.reason is StopReason.IDLE:
            self._stop.reason, self._stop.end_reason = StopReason.ENDED, reason
            self._stop.persisted = False
            self._advance()

    def on_turn_event(self, event: TurnEvent) -> bool:
        """Take a turn's report if it belongs to the stop (settling or flush); True if taken."""
        stop = self._stop
        if stop is None or event.turn_id not in {stop.settling_turn, stop.flush_turn}:
            return False
        if event.turn_id == stop.settling_turn:
            stop.settling_turn = None
        else:
            stop.flush_turn = None
        self._advance()
        return True

    def on_hand_over(self) -> None:
        """The Router will route nothing more here."""
        if self._stop is None:
            logger.warning("session %s got HandOver without stopping", self._deps.route.key)
            return
        self._stop.acked = True
        self._advance()

    def on_actor_stop(self) -> tuple[InboundMessage, ...]:
        """The actor is stopping: keep a begun rotation; return what was never handed over.

        Its senders must hear why (the gateway is stopping).
        """
        self.cancel_idle_timer()
        stop = self._stop
        if stop is None:
            return ()
        if not stop.persisted and stop.end_reason is not None:
            logger.info(
                "session %s stopped before its flush; rotating anyway", self._deps.route.key
            )
            self._state.rotate(stop.end_reason)
            stop.persisted = True
        held, stop.held = tuple(stop.held), []
        return held

    # -- the idle timer ------------------------------------------------------------------------

    def arm_idle_timer(self, delay: float | None = None) -> None:
        """(Re)arm the passivation timer."""
        seconds = self._deps.settings.idle_passivate_seconds if delay is None else delay
        try:
            self._deps.scheduler.tell(
                ArmTimer(key=self._timer_key, delay_seconds=seconds, reply_to=self._self)
            )
        except AddressClosedError:
            logger.debug("scheduler gone; no idle timer for %s", self._deps.route.key)

    def cancel_idle_timer(self) -> None:
        """Forget the passivation timer."""
        try:
            self._deps.scheduler.tell(CancelTimer(key=self._timer_key))
        except AddressClosedError:
            logger.debug("scheduler gone; timer of %s dies with it", self._deps.route.key)

    def on_idle_timer(self) -> None:
        """The timer fired: passivate if idle long enough, else wait the rest."""
        if self.active:
            return
        if self._state.busy():
            self.arm_idle_timer()
            return
        remaining = self._state.idle_remaining()
        if remaining > 0:
            self.arm_idle_timer(remaining)
            return
        self.begin_idle_stop()

    # -- the steps -----------------------------------------------------------------------------

    def _begin(self, stop: _Stop) -> None:
        self._stop = stop
        self.cancel_idle_timer()
        try:
            self._deps.router.tell(
                SessionStopping(
                    session_key=self._deps.route.key,
                    incarnation=self._deps.incarnation,
                    reason=stop.reason,
                )
            )
        except AddressClosedError:
            logger.debug("router gone; %s stops with the gateway", self._deps.route.key)
        self._advance()

    def _advance(self) -> None:
        stop = self._stop
        if stop is None:
            return
        if not stop.persisted and not self._ending_done(stop):
            return
        if stop.acked:
            try:
                self._deps.router.tell(
                    SessionStopped(
                        session_key=self._deps.route.key,
                        incarnation=self._deps.incarnation,
                        handover=tuple(stop.held),
                    )
                )
                stop.held.clear()
            except AddressClosedError:
                logger.debug("router gone; %s stops with the gateway", self._deps.route.key)
            self._stop_actor()

    def _ending_done(self, stop: _Stop) -> bool:
        """Run the ending's next step; True once it is persisted."""
        if stop.settling_turn is not None or stop.flush_turn is not None:
            return False
        if not stop.flush_started:
            stop.flush_started = True
            context = self._state.flush_context(secrets.token_hex(8))
            if context is not None:
                stop.flush_turn = context.turn_id
                self._deps.runtime.tell(StartTurn(context=context, reply_to=self._self))
                return False
        record = self._state.record
        if record is not None:
            self._state.memory.end_session(record.session_id)
        if stop.end_reason is not None:
            self._state.rotate(stop.end_reason)
        stop.persisted = True
        logger.info("session %s ended (%s)", self._deps.route.key, stop.end_reason)
        return True
