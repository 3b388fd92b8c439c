"""The System: wires the actors and adapters, starts them in order, stops them in reverse.

``start_system(config)`` starts Store, Scheduler, AgentRuntime, Delivery, Router, pairing, then
the platforms (so nothing arrives before it can be handled) and the admin socket. ``System.stop``
drains: platforms stop intake, running turns finish (up to ``shutdown_timeout``), the Router
passivates every session, Delivery sends what is left, and the Store commits last. This module
and ``__main__`` are the only ones that know concrete adapters.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Final, TypeVar

from hermes.actors import cron_wiring
from hermes.actors import system_wiring as wiring
from hermes.actors.actor_pool import ActorPool
from hermes.actors.address import ActorAddress
from hermes.actors.admin import AdminCommands, AdminHandles, AdminServer, Handler
from hermes.actors.admin_operations import OperationsDeps, operation_handlers
from hermes.actors.admin_reload import ConfigReloader
from hermes.actors.agent_runtime import AgentRuntime, RuntimeDeps
from hermes.actors.delivery import DeliveryActor, DeliveryDeps
from hermes.actors.late_address import LateAddress
from hermes.actors.pairing import PairingActor, PairingDeps
from hermes.actors.router import ExpiryCheck, RouterActor, RouterDeps
from hermes.actors.scheduler import SchedulerActor
from hermes.actors.session_spawner import SessionSpawner
from hermes.actors.shutdown import Parts, stop_parts
from hermes.actors.store import StoreActor
from hermes.actors.system_recovery import Unfinished
from hermes.adapters.hooks.runner import HookRunner
from hermes.adapters.platforms.embedded import EmbeddedPlatform
from hermes.adapters.platforms.http_api import HttpApiPlatform
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.config import Config, load_config
from hermes.messages.address import Address
from hermes.messages.delivery import ConnectRouter, DeliverToTarget, DeliveryEvent, ResendOutbox
from hermes.messages.hooks import HookEvent
from hermes.messages.memory import MemoryProvider
from hermes.messages.pairing import PairingCommand, PairingState
from hermes.messages.ports import Agent, Clock, PlatformAdapter
from hermes.messages.router import ReplaceAuthRules, RouteInbound, RouterCommand
from hermes.messages.store import StoreCommand
from hermes.messages.values import InboundMessage

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEDUPE_HORIZON: Final = timedelta(days=2)
"""How far back the journal seeds the Router's dedupe window at start."""
ACTOR_STOP_TIMEOUT: Final = 5.0


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemOverrides:
    """What an embedding program (or a test) supplies instead of the configured parts."""

    agent: Agent | None = None
    platforms: tuple[PlatformAdapter, ...] = ()
    """Extra platforms, such as an ``EmbeddedPlatform``."""
    clock: Clock | None = None
    local_zone: tzinfo | None = None
    memory: MemoryProvider | None = None
    """A memory provider to use instead of the configured one."""
    admin_socket: bool = True
    request_stop: Callable[[], None] | None = None
    """Called by ``admin stop``; by default the System stops itself on a new thread."""
    load_config: Callable[[], Config] | None = None
    """How ``admin reload`` reads the configuration again (default: ``load_config(home)``)."""
    open_storage: Callable[[Path], SqliteStorage] | None = None
    """How the state database is opened (default ``SqliteStorage.open``; fault tests wrap it)."""


class System:
    """A running gateway: inject messages, run admin commands, stop it."""

    def __init__(self, config: Config, parts: Parts, overrides: SystemOverrides) -> None:
        """Hold the started parts (use ``start_system``)."""
        self.config = config
        self._parts = parts
        self._overrides = overrides
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        cron = cron_wiring.admin_handlers(_required(parts.scheduler))
        self.admin = AdminCommands(self._admin_handles(), extra=self._operations() | cron)

    @property
    def http_api_url(self) -> str | None:
        """The HTTP API's base URL, if it runs."""
        for platform in self._parts.platforms:
            if isinstance(platform, HttpApiPlatform):
                return platform.url
        return None

    @property
    def embedded(self) -> EmbeddedPlatform:
        """The first embedded platform given in the overrides."""
        for platform in self._parts.platforms:
            if isinstance(platform, EmbeddedPlatform):
                return platform
        raise LookupError("no EmbeddedPlatform was given to start_system")

    @property
    def router(self) -> ActorAddress[RouterCommand]:
        """The Router's address (embedders and tests)."""
        return _required(self._parts.router)

    @property
    def store(self) -> ActorAddress[StoreCommand]:
        """The Store's address (embedders and tests)."""
        return _required(self._parts.store)

    @property
    def scheduler(self) -> SchedulerActor:
        """The Scheduler (embedders and tests: ``CheckDueJobs``, ``status``)."""
        return _required(self._parts.scheduler)

    @property
    def hooks(self) -> HookRunner | None:
        """The hook runner, or None when no hooks are installed (embedders and tests)."""
        hooks = self._parts.hooks
        return hooks if isinstance(hooks, HookRunner) else None

    @property
    def runtime(self) -> AgentRuntime:
        """The AgentRuntime (embedders and tests)."""
        return _required(self._parts.runtime)

    def inject(self, message: InboundMessage) -> None:
        """Route ``message`` as if a platform had received it."""
        self.router.tell(RouteInbound(message=message))

    def deliver(
        self, target: str, text: str, reply_to: Address[DeliveryEvent] | None = None
    ) -> str:
        """Send ``text`` to ``target`` (``<platform>`` or ``<platform>:<chat>[:<thread>]``).

        Returns the delivery id; a failure is told to ``reply_to`` as ``DeliveryFailed``.
        """
        delivery_id = secrets.token_hex(8)
        _required(self._parts.delivery).tell(
            DeliverToTarget(delivery_id=delivery_id, target=target, text=text, reply_to=reply_to)
        )
        return delivery_id

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until ``stop`` has finished."""
        return self._stopped.wait(timeout)

    def request_stop(self) -> None:
        """Ask for a graceful stop without waiting for it (``admin stop``)."""
        if self._overrides.request_stop is not None:
            self._overrides.request_stop()
            return
        threading.Thread(target=self.stop, name="system-stop").start()

    def stop(self) -> None:
        """Drain and stop everything, within ``gateway.shutdown_timeout`` (idempotent)."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            if self._parts.scheduler is not None:
                self._parts.scheduler.stop_jobs()  # no job starts while turns drain
            stop_parts(self._parts, self.config.gateway.shutdown_timeout)
            self._stopped.set()

    def _operations(self) -> dict[str, Handler]:
        home, platforms, router = self.config.home, self._parts.platforms, self.router

        def apply(config: Config) -> None:
            router.tell(ReplaceAuthRules(rules=wiring.auth_rules(config, platforms)))

        reloader = ConfigReloader(
            self.config,
            self._overrides.load_config or (lambda: load_config(home=home).config),
            apply,
        )
        return operation_handlers(
            OperationsDeps(
                pairing=_required(self._parts.pairing),
                delivery=_required(self._parts.delivery),
                reloader=reloader,
            )
        )

    def _admin_handles(self) -> AdminHandles:
        return AdminHandles(
            router=_required(self._parts.router),
            store=_required(self._parts.store),
            delivery=_required(self._parts.delivery),
            runtime=_required(self._parts.runtime),
            scheduler=_required(self._parts.scheduler),
            platforms=tuple(self._parts.platforms),
            started_at=time.monotonic(),
            request_stop=self.request_stop,
            turn_timeout=self.config.gateway.turn_timeout,
            memory=self._parts.memory.description if self._parts.memory else "none",
        )


def start_system(config: Config, overrides: SystemOverrides | None = None) -> System:
    """Start the gateway described by ``config``; return it running.

    Raises:
        StorageError: the state database cannot be opened.
        PlatformStartError: a platform cannot start (for example, its port is taken).
    """
    overrides = overrides or SystemOverrides()
    clock = overrides.clock or SystemClock()
    config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    storage = (overrides.open_storage or SqliteStorage.open)(config.state_db)
    recent = storage.recent_inbound(clock.now() - DEDUPE_HORIZON)
    unfinished = Unfinished.read(storage, clock.now() - DEDUPE_HORIZON)
    jobs, zone = storage.cron_jobs(), cron_wiring.gateway_zone(config, overrides.local_zone)
    chats = wiring.known_chats(storage)
    pairing = storage.pairing_state()
    to_pairing: LateAddress[PairingCommand] = LateAddress()
    parts = Parts()
    try:
        parts.store = ActorAddress(StoreActor.start(storage))
        parts.scheduler = SchedulerActor()
        parts.scheduler.start()
        agent = overrides.agent or wiring.configured_agent(config)
        parts.runtime = AgentRuntime(
            RuntimeDeps(
                agent=agent,
                clock=clock,
                max_concurrent_turns=config.gateway.max_concurrent_turns,
                turn_timeout=config.gateway.turn_timeout,
            )
        )
        parts.runtime.start()
        parts.memory = overrides.memory or wiring.memory_provider(config)
        parts.platforms = [*wiring.configured_platforms(config), *overrides.platforms]
        hooks = _start_hooks(config, parts)
        parts.delivery = ActorAddress(
            DeliveryActor.start(
                DeliveryDeps(
                    links=tuple(wiring.link(p) for p in parts.platforms),
                    homes=wiring.home_channels(config, storage.home_channels()),
                    store=parts.store,
                    scheduler=parts.scheduler.address,
                    clock=clock,
                    local_dir=config.home / "deliveries",
                    directory=tuple(address for address, _ in chats),
                    resend=unfinished.outbox,
                )
            )
        )
        spawner = _session_spawner(config, parts, clock, zone, hooks)
        parts.router = ActorAddress(
            RouterActor.start(
                RouterDeps(
                    sessions=spawner,
                    store=parts.store,
                    group_sessions_per_user=config.group_sessions_per_user,
                    auth=wiring.auth_rules(config, parts.platforms),
                    recent_inbound=recent,
                    pairing=to_pairing,
                    approved=pairing.approved_users(),
                    delivery=parts.delivery,
                    connected=tuple(dict.fromkeys(p.platform for p in parts.platforms)),
                    known_chats=chats,
                    expiry=ExpiryCheck(
                        rules=wiring.reset_rules(config),
                        scheduler=parts.scheduler.address,
                        clock=clock,
                        local_zone=zone,
                        interval_seconds=config.gateway.expiry_check_seconds,
                    ),
                )
            )
        )
        parts.delivery.tell(ConnectRouter(router=parts.router))
        unfinished.resume(parts.router)  # before any platform: they come first, in order
        to_pairing.bind(_start_pairing(parts, pairing, clock))
        _start_platforms(parts, hooks)
        parts.delivery.tell(ResendOutbox())
        parts.scheduler.start_jobs(cron_wiring.cron_deps(config, jobs, parts, clock, zone))
        system = System(config, parts, overrides)
        if overrides.admin_socket:
            parts.admin = AdminServer(config.admin_socket, system.admin)
            parts.admin.start()
    except BaseException:
        stop_parts(parts, ACTOR_STOP_TIMEOUT)
        raise
    logger.info("agent: %s", agent.description)
    logger.info("memory: %s", parts.memory.description if parts.memory is not None else "none")
    return system


def _session_spawner(
    config: Config, parts: Parts, clock: Clock, zone: tzinfo, hooks: HookRunner | None
) -> SessionSpawner:
    """Start the sessions' pool; the Router's factory of SessionActors on it."""
    parts.sessions = ActorPool("SessionPool").start()
    return SessionSpawner(
        store=_required(parts.store),
        runtime=_required(parts.runtime).address,
        delivery=_required(parts.delivery),
        scheduler=_required(parts.scheduler).address,
        clock=clock,
        settings=wiring.session_settings(config, zone),
        memory=parts.memory,
        cron=cron_wiring.cron_service(_required(parts.scheduler)),
        hooks=hooks,
        pool=parts.sessions,
    )


def _start_pairing(parts: Parts, state: PairingState, clock: Clock) -> ActorAddress[PairingCommand]:
    parts.pairing = ActorAddress(
        PairingActor.start(
            PairingDeps(
                state=state,
                store=_required(parts.store),
                delivery=_required(parts.delivery),
                router=_required(parts.router),
                clock=clock,
            )
        )
    )
    return parts.pairing


def _start_hooks(config: Config, parts: Parts) -> HookRunner | None:
    hooks = wiring.hook_runner(config)
    if hooks is not None:
        parts.hooks = hooks
        hooks.start()  # loads off this thread: a hook that hangs at import delays nothing
    return hooks


def _start_platforms(parts: Parts, hooks: HookRunner | None) -> None:
    router = _required(parts.router)
    for platform in parts.platforms:
        platform.start(router)
    if hooks is not None:
        platforms = tuple(dict.fromkeys(p.platform.value for p in parts.platforms))
        hooks.tell(HookEvent(name="gateway:startup", payload=(("platforms", platforms),)))


def _required(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the system is not fully started")
    return part
