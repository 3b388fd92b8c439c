"""Cron jobs in the SQLite state database: every field survives a reopen; removal is durable."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hermes.adapters.storage import sqlite_schema
from hermes.adapters.storage.sqlite_jobs import schedule_from_json, schedule_to_json
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.cron import CronJob, CronSchedule, IntervalSchedule, OnceSchedule, RunStatus
from hermes.messages.store import DeleteCronJob, SaveCronJob
from hermes.messages.values import ChatAddress, ChatType, Platform, Sender

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FULL = CronJob(
    job_id="0123456789ab",
    name="Digest ☕",
    prompt="Summarise\nthe news",
    schedule=CronSchedule(expression="0 9 * * 1-5", display="0 9 * * 1-5"),
    deliver="telegram:-100AbC:7",
    enabled=False,
    next_run_at=T0 + timedelta(days=1),
    created_at=T0,
    origin=ChatAddress(
        platform=Platform.TELEGRAM,
        chat_id="-100AbC",
        chat_type=ChatType.GROUP,
        thread_id="7",
        chat_name="Team",
    ),
    creator=Sender(user_id="1001", user_name="alice"),
    last_run_at=T0 - timedelta(hours=1),
    last_status=RunStatus.UNDELIVERED,
    last_error="chat not found",
)
BARE = CronJob(
    job_id="ba5eba5eba5e",
    name="x",
    prompt="x",
    schedule=OnceSchedule(run_at=T0, display="in 30m"),
    deliver="local",
    enabled=True,
    next_run_at=None,
    created_at=T0 + timedelta(seconds=1),
)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state.db"


def reopened(db_path) -> tuple[CronJob, ...]:
    storage = SqliteStorage.open(db_path)
    try:
        return storage.cron_jobs()
    finally:
        storage.close()


def test_jobs_survive_a_reopen_with_every_field(db_path):
    storage = SqliteStorage.open(db_path)
    storage.apply([SaveCronJob(job=FULL), SaveCronJob(job=BARE)])
    storage.close()

    assert reopened(db_path) == (FULL, BARE)


def test_saving_again_replaces_and_deleting_removes(db_path):
    storage = SqliteStorage.open(db_path)
    try:
        storage.apply([SaveCronJob(job=FULL), SaveCronJob(job=BARE)])
        changed = replace(FULL, enabled=True, last_status=RunStatus.OK)
        storage.apply([SaveCronJob(job=changed), DeleteCronJob(job_id=BARE.job_id)])
        assert storage.cron_jobs() == (changed,)
    finally:
        storage.close()


@pytest.mark.parametrize(
    "schedule",
    [
        OnceSchedule(run_at=datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2))),
                     display="2026-03-29T03:30"),
        IntervalSchedule(every_seconds=5400, display="every 90 minutes"),
        CronSchedule(expression="*/15 9-17 * * mon-fri", display="*/15 9-17 * * mon-fri"),
    ],
)  # fmt: skip
def test_every_kind_of_schedule_round_trips(schedule):
    assert schedule_from_json(schedule_to_json(schedule)) == schedule


def test_a_database_of_the_previous_version_gains_the_jobs_table(db_path):
    with closing(sqlite3.connect(db_path)) as conn:
        for statements in sqlite_schema.MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {sqlite_schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 3")
        conn.commit()

    assert reopened(db_path) == ()
    storage = SqliteStorage.open(db_path)
    try:
        storage.apply([SaveCronJob(job=BARE)])
        assert storage.cron_jobs() == (BARE,)
    finally:
        storage.close()
