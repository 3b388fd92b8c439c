"""Cron jobs in the SQLite state database: their table's rows, written and read back.

Part of ``SqliteStorage``: it applies ``SaveCronJob`` and ``DeleteCronJob`` inside the Store's
transaction and reads every job once at start. A job's schedule, origin and creator are small
JSON objects; times are stored as ``sqlite_codec`` writes them.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Final, assert_never

from hermes.adapters.storage.sqlite_codec import (
    address_from_json,
    address_to_json,
    from_text,
    sender_from_json,
    sender_to_json,
    to_text,
)
from hermes.messages.cron import (
    CronJob,
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    RunStatus,
    Schedule,
)

_UPSERT_JOB: Final = """INSERT INTO cron_jobs (job_id, name, prompt, schedule, deliver,
        enabled, next_run_at, created_at, origin, creator, last_run_at, last_status,
        last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (job_id) DO UPDATE SET name = excluded.name, prompt = excluded.prompt,
        schedule = excluded.schedule, deliver = excluded.deliver,
        enabled = excluded.enabled, next_run_at = excluded.next_run_at,
        origin = excluded.origin, creator = excluded.creator,
        last_run_at = excluded.last_run_at, last_status = excluded.last_status,
        last_error = excluded.last_error"""
_DELETE_JOB: Final = "DELETE FROM cron_jobs WHERE job_id = ?"
_SELECT_JOBS: Final = """SELECT job_id, name, prompt, schedule, deliver, enabled, next_run_at,
    created_at, origin, creator, last_run_at, last_status, last_error FROM cron_jobs
    ORDER BY created_at, job_id"""

_Text = str | None
JobRow = tuple[str, str, str, str, str, int, _Text, str, _Text, _Text, _Text, _Text, _Text]
"""A row of ``cron_jobs`` in ``_SELECT_JOBS`` order."""


def save_job(conn: sqlite3.Connection, job: CronJob) -> None:
    """Insert or replace ``job`` (inside the caller's transaction)."""
    conn.execute(
        _UPSERT_JOB,
        (
            job.job_id,
            job.name,
            job.prompt,
            schedule_to_json(job.schedule),
            job.deliver,
            int(job.enabled),
            None if job.next_run_at is None else to_text(job.next_run_at),
            to_text(job.created_at),
            None if job.origin is None else address_to_json(job.origin),
            None if job.creator is None else sender_to_json(job.creator),
            None if job.last_run_at is None else to_text(job.last_run_at),
            None if job.last_status is None else job.last_status.value,
            job.last_error,
        ),
    )


def delete_job(conn: sqlite3.Connection, job_id: str) -> None:
    """Forget the job ``job_id`` (inside the caller's transaction)."""
    conn.execute(_DELETE_JOB, (job_id,))


def load_jobs(conn: sqlite3.Connection) -> tuple[CronJob, ...]:
    """Every job, oldest first.

    Raises:
        sqlite3.Error, ValueError, KeyError, TypeError: the table or a row is unreadable.
    """
    return tuple(_job(row) for row in conn.execute(_SELECT_JOBS))


def schedule_to_json(schedule: Schedule) -> str:
    """A schedule as JSON."""
    match schedule:
        case OnceSchedule(run_at=run_at):
            fields: dict[str, object] = {"kind": "once", "run_at": to_text(run_at)}
        case IntervalSchedule(every_seconds=seconds):
            fields = {"kind": "interval", "every_seconds": seconds}
        case CronSchedule(expression=expression):
            fields = {"kind": "cron", "expression": expression}
        case _:
            assert_never(schedule)
    fields["display"] = schedule.display
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def schedule_from_json(text: str) -> Schedule:
    """A schedule from JSON.

    Raises:
        ValueError, KeyError: not a schedule this code wrote.
    """
    fields = json.loads(text)
    display = str(fields["display"])
    match fields["kind"]:
        case "once":
            return OnceSchedule(run_at=from_text(fields["run_at"]), display=display)
        case "interval":
            return IntervalSchedule(every_seconds=int(fields["every_seconds"]), display=display)
        case "cron":
            return CronSchedule(expression=str(fields["expression"]), display=display)
        case other:
            raise ValueError(f"unknown schedule kind {other!r}")


def _job(row: JobRow) -> CronJob:
    (
        job_id,
        name,
        prompt,
        schedule,
        deliver,
        enabled,
        next_run_at,
        created_at,
        origin,
        creator,
        last_run_at,
        last_status,
        last_error,
    ) = row
    return CronJob(
        job_id=job_id,
        name=name,
        prompt=prompt,
        schedule=schedule_from_json(schedule),
        deliver=deliver,
        enabled=bool(enabled),
        next_run_at=None if next_run_at is None else from_text(next_run_at),
        created_at=from_text(created_at),
        origin=None if origin is None else address_from_json(origin),
        creator=None if creator is None else sender_from_json(creator),
        last_run_at=None if last_run_at is None else from_text(last_run_at),
        last_status=None if last_status is None else RunStatus(last_status),
        last_error=last_error,
    )
