"""How the System starts SessionActors: the Router's ``SessionFactory``.

Every session gets the same collaborators (Store, AgentRuntime, Delivery, Scheduler, memory,
cron, hooks) and its own route and incarnation.
"""

from __future__ import annotations

from dataclasses import dataclass

from hermes.actors.actor_pool import ActorPool
from hermes.actors.address import ActorAddress
from hermes.actors.router import SessionHandle
from hermes.actors.session import SessionActor
from hermes.actors.session_state import SessionDeps, SessionSettings
from hermes.messages.address import Address
from hermes.messages.agent import AgentRuntimeCommand
from hermes.messages.cron import CronService
from hermes.messages.delivery import DeliveryCommand
from hermes.messages.hooks import HookEvent
from hermes.messages.memory import MemoryProvider
from hermes.messages.ports import Clock
from hermes.messages.router import RouterCommand
from hermes.messages.scheduler import SchedulerCommand
from hermes.messages.session import SessionCommand
from hermes.messages.store import StoreCommand
from hermes.policies.session_keys import SessionRoute


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSpawner:
    """The Router's ``SessionFactory``: starts SessionActors with their collaborators."""

    store: Address[StoreCommand]
    runtime: Address[AgentRuntimeCommand]
    delivery: Address[DeliveryCommand]
    scheduler: Address[SchedulerCommand]
    clock: Clock
    settings: SessionSettings
    memory: MemoryProvider | None
    pool: ActorPool
    """The workers every session runs on (the System starts and stops it)."""
    cron: CronService | None = None
    hooks: Address[HookEvent] | None = None

    def spawn(
        self, route: SessionRoute, incarnation: int, router: Address[RouterCommand]
    ) -> SessionHandle:
        """Start the SessionActor of ``route``."""
        deps = SessionDeps(
            route=route,
            incarnation=incarnation,
            router=router,
            store=self.store,
            runtime=self.runtime,
            delivery=self.delivery,
            scheduler=self.scheduler,
            clock=self.clock,
            settings=self.settings,
            memory=self.memory,
            cron=self.cron,
            hooks=self.hooks,
        )
        return ActorHandle(ActorAddress(SessionActor.start(deps, self.pool)))


@dataclass(frozen=True, slots=True)
class ActorHandle:
    """A started SessionActor, as the Router holds it."""

    address: ActorAddress[SessionCommand]

    def stop(self, timeout: float) -> None:
        """Stop it after what is queued, waiting up to ``timeout`` seconds."""
        self.address.stop(timeout)
