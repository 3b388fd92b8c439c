"""The Scheduler actor's protocol: keyed timers other actors arm and cancel, and cron jobs.

Arming a key again replaces its timer, and a cancelled or replaced timer never fires (Akka's
keyed timers). The job requests live with the rest of the cron vocabulary in
``hermes.messages.cron``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hermes.messages.address import Address
from hermes.messages.cron import ChangeJob, CheckDueJobs, CreateJob, ListJobs


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    """Sent by the Scheduler to a timer's ``reply_to`` when it comes due."""

    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmTimer:
    """Sent to the Scheduler: tell ``reply_to`` ``TimerFired(key)`` after ``delay_seconds``."""

    key: str
    delay_seconds: float
    reply_to: Address[TimerFired]

    def __post_init__(self) -> None:
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    """Sent to the Scheduler: forget the timer with this key, if any."""

    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerStatus:
    """What the Scheduler is doing, for ``admin status``."""

    timers: int
    jobs: int = 0
    running_jobs: int = 0
    """Job runs whose turn or delivery has not finished."""


SchedulerCommand = ArmTimer | CancelTimer | CreateJob | ListJobs | ChangeJob | CheckDueJobs
