"""How the System wires scheduled jobs: the gateway's zone, the Scheduler's job deps, the tools.

Part of the System's wiring (with ``hermes.actors.system``): pure construction, nothing here
starts anything. The gateway's zone is ``timezone`` (``HERMES_TIMEZONE``) when configured, else
the machine's, as an IANA zone when the machine names one (so cron times follow its
daylight-saving changes), else its current fixed offset.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from hermes.actors.admin import Handler
from hermes.actors.cron_admin import cron_admin_handlers
from hermes.actors.cron_client import CronClient, SchedulerCronService
from hermes.actors.scheduler import CronDeps, SchedulerActor
from hermes.actors.shutdown import Parts
from hermes.config import Config
from hermes.messages.cron import CronJob, CronService
from hermes.messages.ports import Clock

logger = logging.getLogger(__name__)

LOCALTIME: Final = Path("/etc/localtime")
"""Where a Unix machine names its zone: a link into a zoneinfo directory."""


def gateway_zone(config: Config, override: tzinfo | None) -> tzinfo:
    """The zone of cron expressions, naive job times and daily resets."""
    if override is not None:
        return override
    if config.timezone is not None:
        return ZoneInfo(config.timezone)  # checked when the configuration was loaded
    return machine_zone(LOCALTIME)


def machine_zone(localtime: Path) -> tzinfo:
    """The machine's IANA zone, read from the ``localtime`` link; else its current offset."""
    try:
        parts = localtime.resolve(strict=True).parts
    except (OSError, RuntimeError):
        parts = ()
    if "zoneinfo" in parts:
        key = "/".join(parts[parts.index("zoneinfo") + 1 :])
        try:
            return ZoneInfo(key)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            logger.debug("%s names the unknown zone %r", localtime, key)
    return datetime.now(UTC).astimezone().tzinfo or UTC


def cron_deps(
    config: Config, jobs: tuple[CronJob, ...], parts: Parts, clock: Clock, zone: tzinfo
) -> CronDeps:
    """What the Scheduler needs to run ``jobs``, once ``parts`` has its runtime and Delivery."""
    if parts.runtime is None or parts.delivery is None or parts.store is None:
        raise RuntimeError("jobs need the runtime, Delivery and the Store started first")
    return CronDeps(
        jobs=jobs,
        runtime=parts.runtime.address,
        delivery=parts.delivery,
        store=parts.store,
        clock=clock,
        zone=zone,
        output_dir=config.home / "cron" / "output",
    )


def cron_service(scheduler: SchedulerActor) -> CronService:
    """What sessions hand their turns: cron tools bound to each turn's chat and user."""
    return SchedulerCronService(CronClient(scheduler.address))


def admin_handlers(scheduler: SchedulerActor) -> dict[str, Handler]:
    """The ``cron.*`` admin commands."""
    return cron_admin_handlers(CronClient(scheduler.address))
