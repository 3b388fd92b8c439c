"""The gateway's stop sequence: drain in order, then close, all within one deadline.

Platforms stop taking messages; running turns may finish (up to the deadline, keeping a reserve);
the rest are cancelled, so their sessions tell the users; the Router stops every session one at a
time (each persists), then pairing and the hook runner stop; Delivery sends what is left; then
platforms, runtime, scheduler and the Store (which commits) close.
``ActorRegistry.stop_all`` is the final safety net; then the sessions' pool ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Final, Protocol

import pykka

from hermes.actors.actor_pool import ActorPool
from hermes.actors.address import ActorAddress
from hermes.actors.admin import AdminServer
from hermes.actors.agent_runtime import AgentRuntime
from hermes.actors.scheduler import SchedulerActor
from hermes.messages.delivery import DeliveryCommand, GetDeliveryStatus
from hermes.messages.memory import MemoryProvider
from hermes.messages.pairing import PairingCommand
from hermes.messages.ports import PlatformAdapter
from hermes.messages.router import RouterCommand
from hermes.messages.store import StoreCommand

logger = logging.getLogger(__name__)

DRAIN_POLL_SECONDS: Final = 0.02
HOOKS_STOP_SECONDS: Final = 2.0
"""At most this long for the last hook calls (a hung hook is abandoned, never waited out)."""


class Stoppable(Protocol):
    """A part that stops within a timeout (the hook runner)."""

    def stop(self, timeout: float) -> None:
        """Stop, waiting up to ``timeout`` seconds."""
        ...


@dataclass(slots=True, kw_only=True)
class Parts:
    """The running pieces of a System, in start order (each None until started)."""

    store: ActorAddress[StoreCommand] | None = None
    scheduler: SchedulerActor | None = None
    runtime: AgentRuntime | None = None
    delivery: ActorAddress[DeliveryCommand] | None = None
    router: ActorAddress[RouterCommand] | None = None
    sessions: ActorPool | None = None
    """The workers the SessionActors run on."""
    pairing: ActorAddress[PairingCommand] | None = None
    platforms: list[PlatformAdapter] = field(default_factory=list)
    memory: MemoryProvider | None = None
    admin: AdminServer | None = None
    hooks: Stoppable | None = None


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def left(self, reserve: float = 0.0) -> float:
        return max(0.1, self._at - time.monotonic() - reserve)


def stop_parts(parts: Parts, timeout: float) -> None:
    """Drain in order: intake, turns, sessions, deliveries; then close everything."""
    deadline = _Deadline(timeout)
    if parts.admin is not None:
        parts.admin.stop()
    for platform in parts.platforms:
        platform.stop_intake()
    if parts.runtime is not None:
        _drain_turns(parts.runtime, deadline)
    if parts.router is not None:
        parts.router.stop(deadline.left())
    if parts.pairing is not None:
        parts.pairing.stop(deadline.left())
    if parts.hooks is not None:  # after the sessions: their last events are in
        parts.hooks.stop(min(HOOKS_STOP_SECONDS, deadline.left()))
    if parts.delivery is not None:
        _drain_delivery(parts.delivery, deadline.left())
        parts.delivery.stop(deadline.left())
    if parts.memory is not None:
        parts.memory.close(deadline.left())
    _close_parts(parts, deadline)


def _drain_turns(runtime: AgentRuntime, deadline: _Deadline) -> None:
    """Let running turns finish, keeping a reserve of the deadline for the rest of the stop."""
    reserve = min(5.0, deadline.seconds * 0.25)
    if not runtime.wait_idle(deadline.left(reserve)):
        logger.warning("turns still running at the shutdown deadline; cancelling them")
    runtime.cancel_all(deadline.left())


def _close_parts(parts: Parts, deadline: _Deadline) -> None:
    for platform in parts.platforms:
        platform.close(deadline.left())
    if parts.runtime is not None:
        parts.runtime.stop(deadline.left())
    if parts.scheduler is not None:
        parts.scheduler.stop(deadline.left())
    if parts.store is not None:
        parts.store.stop(deadline.left())
    pykka.ActorRegistry.stop_all(block=True, timeout=deadline.left())
    if parts.sessions is not None:  # last: stop_all may still have had a session to stop
        parts.sessions.stop(deadline.left())


def _drain_delivery(delivery: ActorAddress[DeliveryCommand], timeout: float) -> None:
    """Wait (bounded) until every delivery in flight was confirmed or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = delivery.ask(GetDeliveryStatus(), timeout=max(0.1, deadline - time.monotonic()))
        if status.in_flight == 0:
            return
        time.sleep(DRAIN_POLL_SECONDS)  # shutdown only: a few polls while the last sends finish
    logger.warning("shutdown: deliveries still in flight at the deadline")
