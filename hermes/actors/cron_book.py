"""The Scheduler's book of cron jobs: the jobs, their changes, and each change's Store write.

Used only on the Scheduler's loop thread. It decides nothing about time by itself (the rules
are in ``hermes.policies.schedules`` and ``hermes.policies.cron``); it holds the jobs, checks
who may see or change which, and tells the Store every change (``SaveCronJob``,
``DeleteCronJob``). Running jobs is the ``JobRunner``'s part.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Final, assert_never

from hermes.messages.address import Address
from hermes.messages.cron import (
    CronJob,
    JobAction,
    JobDraft,
    JobEdit,
    JobOwner,
    JobState,
    OnceSchedule,
    RunStatus,
)
from hermes.messages.ports import Clock
from hermes.messages.store import DeleteCronJob, SaveCronJob, StoreCommand
from hermes.policies.cron import DuePlan, JobError, check_deliver, check_prompt, job_name, plan_due
from hermes.policies.schedules import first_run, parse_schedule

logger = logging.getLogger(__name__)

MAX_JOBS_PER_OWNER: Final = 50
"""Jobs one user may keep in one chat, so a looping model cannot fill the book."""


class JobBook:
    """The cron jobs, by id, and the rules for changing them."""

    def __init__(
        self, jobs: tuple[CronJob, ...], store: Address[StoreCommand], clock: Clock, zone: tzinfo
    ) -> None:
        """Take the jobs loaded from the Store."""
        self._jobs = {job.job_id: job for job in jobs}
        self._store = store
        self._clock = clock
        self._zone = zone

    def __len__(self) -> int:
        """How many jobs there are."""
        return len(self._jobs)

    def get(self, job_id: str) -> CronJob | None:
        """The job ``job_id`` as it is now, if it still exists."""
        return self._jobs.get(job_id)

    def visible(self, owner: JobOwner | None) -> tuple[CronJob, ...]:
        """The jobs ``owner`` may see (an operator, None, sees all), oldest first."""
        return tuple(job for job in self._jobs.values() if owner is None or owner.owns(job))

    def find(self, job_id: str, owner: JobOwner | None) -> CronJob:
        """The job ``job_id``, if ``owner`` may change it.

        Raises:
            JobError: no such job (or, for an owner, none of theirs: the same answer).
        """
        job = self._jobs.get(job_id.strip())
        if job is None or (owner is not None and not owner.owns(job)):
            raise JobError(f"there is no job {job_id.strip()!r}")
        return job

    def next_due(self) -> datetime | None:
        """The earliest next run of an enabled job."""
        times = [job.next_run_at for job in self._jobs.values() if job.enabled and job.next_run_at]
        return min(times, default=None)

    def due(self, now: datetime) -> list[tuple[CronJob, DuePlan]]:
        """Every job whose time has come, with what to do about it."""
        found = ((job, plan_due(job, now, self._zone)) for job in self._jobs.values())
        return [(job, plan) for job, plan in found if plan is not None]

    def create(self, draft: JobDraft, owner: JobOwner | None) -> CronJob:
        """Add a job; returns it.

        Raises:
            JobError, ScheduleError: the draft cannot be a job.
        """
        now = self._clock.now()
        if owner is not None and len(self.visible(owner)) >= MAX_JOBS_PER_OWNER:
            raise JobError(f"this chat has {MAX_JOBS_PER_OWNER} jobs already: remove some first")
        prompt = check_prompt(draft.prompt)
        schedule = parse_schedule(draft.schedule, now, self._zone)
        origin = owner.origin if owner is not None else None
        job = CronJob(
            job_id=self._new_id(),
            name=job_name(draft.name, prompt),
            prompt=prompt,
            schedule=schedule,
            deliver=check_deliver(draft.deliver, origin),
            enabled=True,
            next_run_at=first_run(schedule, now, self._zone),
            created_at=now,
            origin=origin,
            creator=owner.creator if owner is not None else None,
        )
        logger.info("cron job %s (%s) created: %s", job.job_id, job.name, schedule.display)
        return self._save(job)

    def edit(self, job: CronJob, edit: JobEdit) -> CronJob:
        """Apply ``edit``; a new schedule reschedules the job (a finished one-shot included).

        Raises:
            JobError, ScheduleError: a changed field is not acceptable.
        """
        changed = job
        if edit.prompt is not None:
            changed = replace(changed, prompt=check_prompt(edit.prompt))
        if edit.name is not None:
            changed = replace(changed, name=job_name(edit.name, changed.prompt))
        if edit.deliver is not None:
            changed = replace(changed, deliver=check_deliver(edit.deliver, job.origin))
        if edit.schedule is not None:
            now = self._clock.now()
            schedule = parse_schedule(edit.schedule, now, self._zone)
            changed = replace(changed, schedule=schedule, next_run_at=None)
            if job.state is JobState.COMPLETED:
                changed = replace(changed, enabled=True, last_status=None, last_error=None)
            if changed.enabled:
                changed = replace(changed, next_run_at=first_run(schedule, now, self._zone))
        return self._save(changed)

    def act(self, job: CronJob, action: JobAction) -> CronJob:
        """Pause, resume or remove ``job``; ``RUN`` changes nothing here (see ``started``).

        Raises:
            JobError: resuming a one-shot that has run, or whose time has passed.
        """
        match action:
            case JobAction.PAUSE:
                return self._save(replace(job, enabled=False, next_run_at=None))
            case JobAction.RESUME:
                return self._resume(job)
            case JobAction.REMOVE:
                del self._jobs[job.job_id]
                self._store.tell(DeleteCronJob(job_id=job.job_id))
                logger.info("cron job %s (%s) removed", job.job_id, job.name)
                return job
            case JobAction.RUN:
                return job
            case _:
                assert_never(action)

    def started(self, job: CronJob, at: datetime, plan: DuePlan | None) -> CronJob:
        """A run of ``job`` began at ``at``; ``plan`` (a scheduled run) moves the next run."""
        changed = replace(job, last_run_at=at)
        if plan is not None:
            changed = replace(changed, next_run_at=plan.next_run_at)
        return self._save(changed)

    def passed_over(self, job: CronJob, plan: DuePlan, now: datetime) -> None:
        """A due time went by without a run: skipped, still running, or a missed one-shot."""
        if plan.missed:
            logger.warning("cron job %s (%s) missed its time", job.job_id, job.name)
            due = job.next_run_at.isoformat() if job.next_run_at else "its time"
            error = f"due at {due}, when the gateway was not running (it is now {now.isoformat()})"
            self._save(
                replace(
                    job,
                    enabled=False,
                    next_run_at=None,
                    last_status=RunStatus.MISSED,
                    last_error=error,
                )
            )
            return
        logger.info("cron job %s (%s): a run was skipped", job.job_id, job.name)
        self._save(replace(job, next_run_at=plan.next_run_at))

    def finished(self, job_id: str, status: RunStatus, error: str | None) -> None:
        """A run of ``job_id`` ended with ``status``; a one-shot is then done."""
        job = self._jobs.get(job_id)
        if job is None:
            return  # removed while it ran
        changed = replace(job, last_status=status, last_error=error)
        if isinstance(job.schedule, OnceSchedule):
            changed = replace(changed, enabled=False, next_run_at=None)
        self._save(changed)

    def _resume(self, job: CronJob) -> CronJob:
        if job.state is JobState.COMPLETED:
            raise JobError(f"job {job.job_id} has already run: give it a new schedule instead")
        next_run = first_run(job.schedule, self._clock.now(), self._zone)
        if next_run is None:
            raise JobError(f"the time of job {job.job_id} has passed: give it a new schedule")
        return self._save(replace(job, enabled=True, next_run_at=next_run))

    def _save(self, job: CronJob) -> CronJob:
        self._jobs[job.job_id] = job
        self._store.tell(SaveCronJob(job=job))
        return job

    def _new_id(self) -> str:
        while True:
            job_id = secrets.token_hex(6)
            if job_id not in self._jobs:
                return job_id
