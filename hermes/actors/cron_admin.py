"""The operator's cron commands: ``cron.list``, ``cron.add``, ``cron.remove`` and the rest.

Handlers for ``AdminCommands`` (its ``extra``): each turns one admin request into one job
request to the Scheduler, waited for with a timeout at this edge, and answers with the job (or
jobs) as JSON. Operators see and change every job; the jobs they create come from no chat, so
they deliver to ``local`` unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from hermes.actors.admin import AdminError, Handler, Result
from hermes.actors.cron_client import BuildRequest, CronClient
from hermes.messages.cron import (
    ChangeJob,
    CreateJob,
    CronError,
    CronJob,
    JobAction,
    JobDraft,
    ListJobs,
)
from hermes.policies.cron import origin_target


def cron_admin_handlers(client: CronClient) -> dict[str, Handler]:
    """The cron commands, by request name, for ``AdminCommands(extra=...)``."""
    return {
        "cron.list": lambda args: _list(client, args),
        "cron.add": lambda args: _add(client, args),
        **{
            f"cron.{action.value}": _action_handler(client, action)
            for action in (JobAction.REMOVE, JobAction.RUN, JobAction.PAUSE, JobAction.RESUME)
        },
    }


def job_to_json(job: CronJob) -> Result:
    """A job as the admin interface shows it."""
    return {
        "job_id": job.job_id,
        "name": job.name,
        "prompt": job.prompt,
        "schedule": job.schedule.display,
        "deliver": job.deliver,
        "state": job.state.value,
        "enabled": job.enabled,
        "next_run_at": _time(job.next_run_at),
        "last_run_at": _time(job.last_run_at),
        "last_status": job.last_status.value if job.last_status else None,
        "last_error": job.last_error,
        "created_at": _time(job.created_at),
        "origin": origin_target(job.origin) if job.origin else None,
        "creator": job.creator.user_id if job.creator else None,
    }


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _list(client: CronClient, args: Mapping[str, object]) -> Result:
    del args
    jobs = _ask(client, lambda reply: ListJobs(owner=None, reply_to=reply))
    return {"jobs": [job_to_json(job) for job in jobs]}


def _add(client: CronClient, args: Mapping[str, object]) -> Result:
    draft = JobDraft(
        prompt=_text(args, "prompt", required=True) or "",
        schedule=_text(args, "schedule", required=True) or "",
        name=_text(args, "name"),
        deliver=_text(args, "deliver"),
    )
    jobs = _ask(client, lambda reply: CreateJob(draft=draft, owner=None, reply_to=reply))
    return job_to_json(_one(jobs))


def _action_handler(client: CronClient, action: JobAction) -> Handler:
    def handle(args: Mapping[str, object]) -> Result:
        job_id = _text(args, "job_id", required=True) or ""
        jobs = _ask(
            client,
            lambda reply: ChangeJob(job_id=job_id, change=action, owner=None, reply_to=reply),
        )
        return job_to_json(_one(jobs))

    return handle


def _ask(client: CronClient, build: BuildRequest) -> tuple[CronJob, ...]:
    try:
        return client.ask(build)
    except CronError as error:
        raise AdminError(str(error)) from error


def _one(jobs: tuple[CronJob, ...]) -> CronJob:
    if len(jobs) != 1:
        raise AdminError("the scheduler gave an unexpected answer")
    return jobs[0]


def _text(args: Mapping[str, object], key: str, *, required: bool = False) -> str | None:
    value = args.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise AdminError(f"{key} is required (a string)")
    return value
