"""Scheduled jobs: their schedules, the jobs, the Scheduler's job protocol, the cron tools.

The Scheduler owns the jobs. The agent reaches them through a ``CronHandle`` (bound to the chat
and user of the turn that holds it, like a ``MemoryHandle``), operators through the admin
interface; both send the requests below and hear back a ``JobsAnswer``. A schedule is parsed
once, when a job is created or edited (``hermes.policies.schedules``), into one of the three
schedule values here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from hermes.messages.address import Address
from hermes.messages.values import ChatAddress, Sender

JOB_ID_PATTERN: Final = re.compile(r"[0-9a-f]{12}")
"""Job ids are 12 lower-case hex digits, made by the Scheduler; they become directory names."""


def is_job_id(text: str) -> bool:
    """True when ``text`` is a well-formed job id (and so safe in a path)."""
    return JOB_ID_PATTERN.fullmatch(text) is not None


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceSchedule:
    """Run once, at ``run_at`` (``30m``, ``2h``, or an ISO timestamp)."""

    run_at: datetime
    display: str
    """The schedule as the user wrote it, normalised."""

    def __post_init__(self) -> None:
        _require_aware("run_at", self.run_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalSchedule:
    """Run every ``every_seconds`` of elapsed time (``every 2h``)."""

    every_seconds: int
    display: str

    def __post_init__(self) -> None:
        if self.every_seconds <= 0:
            raise ValueError("every_seconds must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class CronSchedule:
    """Run at the wall-clock times a 5-field cron expression names, in the gateway's zone."""

    expression: str
    display: str


Schedule = OnceSchedule | IntervalSchedule | CronSchedule


class RunStatus(StrEnum):
    """How a job's last run ended."""

    OK = "ok"
    """The answer was delivered (or saved, for ``local``)."""
    SILENT = "silent"
    """The answer began with ``[SILENT]``: saved, not delivered."""
    FAILED = "failed"
    """The turn failed; a short notice was delivered instead."""
    UNDELIVERED = "undelivered"
    """The turn answered, but the answer did not reach its target."""
    MISSED = "missed"
    """A one-shot whose time passed (by more than the grace) while the gateway was down."""


class JobState(StrEnum):
    """Where a job is in its life."""

    SCHEDULED = "scheduled"
    PAUSED = "paused"
    COMPLETED = "completed"
    """A one-shot that has run (or was missed); it stays listed until removed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CronJob:
    """One scheduled job, as the Scheduler keeps it and the Store persists it."""

    job_id: str
    name: str
    prompt: str
    schedule: Schedule
    deliver: str
    """``origin``, ``local``, ``<platform>`` or ``<platform>:<chat_id>[:<thread_id>]``."""
    enabled: bool
    next_run_at: datetime | None
    """When it runs next; None once nothing is left to run."""
    created_at: datetime
    origin: ChatAddress | None = None
    """The chat it was created from (None: an operator made it)."""
    creator: Sender | None = None
    """Who created it from that chat."""
    last_run_at: datetime | None = None
    last_status: RunStatus | None = None
    last_error: str | None = None

    def __post_init__(self) -> None:
        if not is_job_id(self.job_id):
            raise ValueError(f"invalid job id {self.job_id!r}")
        for name in ("next_run_at", "created_at", "last_run_at"):
            _require_aware(name, getattr(self, name))

    @property
    def state(self) -> JobState:
        """Scheduled, paused, or (a one-shot that ran) completed."""
        if isinstance(self.schedule, OnceSchedule) and self.last_status is not None:
            return JobState.COMPLETED
        return JobState.SCHEDULED if self.enabled else JobState.PAUSED


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDraft:
    """A new job as its creator describes it; the Scheduler parses and checks it."""

    prompt: str
    schedule: str
    name: str | None = None
    """None: the prompt's beginning."""
    deliver: str | None = None
    """None: ``origin`` for a job made from a chat, ``local`` for an operator's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEdit:
    """Changes to a job; None leaves a field as it is."""

    prompt: str | None = None
    schedule: str | None = None
    name: str | None = None
    deliver: str | None = None


class JobAction(StrEnum):
    """What can be done to a job besides editing it."""

    PAUSE = "pause"
    RESUME = "resume"
    REMOVE = "remove"
    RUN = "run"
    """Run it now, once, whatever its schedule (the schedule is unchanged)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOwner:
    """The chat and user a request acts for: they see and change only the jobs they made."""

    origin: ChatAddress
    creator: Sender

    def owns(self, job: CronJob) -> bool:
        """True when ``job`` was created by this user in this chat (and thread)."""
        mine, theirs = self.origin, job.origin
        return (
            theirs is not None
            and job.creator is not None
            and (mine.platform, mine.chat_id, mine.thread_id)
            == (theirs.platform, theirs.chat_id, theirs.thread_id)
            and job.creator.user_id == self.creator.user_id
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobsAnswer:
    """Sent by the Scheduler to a job request's ``reply_to``: the jobs concerned, or why not."""

    jobs: tuple[CronJob, ...] = ()
    error: str | None = None
    """What went wrong, in words fit for the model or the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateJob:
    """Sent to the Scheduler by the cron tool or an operator: schedule a new job."""

    draft: JobDraft
    owner: JobOwner | None
    """The chat and user creating it (None: an operator)."""
    reply_to: Address[JobsAnswer]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListJobs:
    """Sent to the Scheduler: the jobs ``owner`` may see (None: all of them)."""

    owner: JobOwner | None
    reply_to: Address[JobsAnswer]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeJob:
    """Sent to the Scheduler: edit, pause, resume, remove or run one job."""

    job_id: str
    change: JobEdit | JobAction
    owner: JobOwner | None
    """Only the owner's jobs may be changed (None: an operator, any job)."""
    reply_to: Address[JobsAnswer]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckDueJobs:
    """Sent to the Scheduler by its own wake-up timer (and by tests): run what is due now."""


JobRequest = CreateJob | ListJobs | ChangeJob


class CronError(Exception):
    """A job request that was refused; the text says why, fit for the model or the operator."""


class CronHandle(Protocol):
    """The cron tools of one turn: bound to its chat and user. Safe on any event loop.

    Jobs created through it are delivered to that chat by default (``origin``), and it sees
    and changes only the jobs that user made in that chat. Every method raises ``CronError``
    when the Scheduler refuses the request.
    """

    async def create(self, draft: JobDraft) -> CronJob:
        """Schedule a new job; returns it."""
        ...

    async def list_jobs(self) -> tuple[CronJob, ...]:
        """This chat's and user's jobs."""
        ...

    async def update(self, job_id: str, edit: JobEdit) -> CronJob:
        """Change a job; returns it as it is now."""
        ...

    async def act(self, job_id: str, action: JobAction) -> CronJob:
        """Pause, resume, remove or run a job now; returns it."""
        ...


class CronService(Protocol):
    """Hands out ``CronHandle``s; shared by all sessions (thread-safe)."""

    def handle_for(self, origin: ChatAddress, creator: Sender) -> CronHandle:
        """The cron tools for a turn in chat ``origin`` answering ``creator``."""
        ...
