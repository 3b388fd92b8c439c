"""The edges of scheduled jobs: asking the Scheduler with a timeout, and the gateway's zone."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hermes.actors.cron_client import CronClient
from hermes.actors.cron_wiring import gateway_zone, machine_zone
from hermes.config import Config
from hermes.messages.cron import CronError, JobsAnswer, ListJobs
from tests.fakes.recording import RecordingAddress


def list_all(reply):
    return ListJobs(owner=None, reply_to=reply)


def test_an_answer_completes_the_request():
    scheduler = RecordingAddress("scheduler")
    client = CronClient(scheduler, timeout=1.0)

    future = client.submit(list_all)
    scheduler.expect(ListJobs).reply_to.tell(JobsAnswer(error="no"))

    assert future.result(1.0) == JobsAnswer(error="no")


def test_a_stopped_scheduler_is_an_error_not_a_hang():
    scheduler = RecordingAddress("scheduler")
    scheduler.closed = True

    with pytest.raises(CronError, match="stopped"):
        CronClient(scheduler).ask(list_all)


def test_a_silent_scheduler_times_out_and_a_late_answer_is_dropped():
    scheduler = RecordingAddress("scheduler")
    client = CronClient(scheduler, timeout=0.05)

    with pytest.raises(concurrent.futures.TimeoutError):
        client.ask(list_all)
    with pytest.raises(CronError, match="did not answer"):
        asyncio.run(client.ask_async(list_all))
    for request in scheduler.of_type(ListJobs):
        request.reply_to.tell(JobsAnswer())  # too late: nobody waits, nothing raises


def test_the_configured_zone_wins_then_the_machines(tmp_path):
    assert gateway_zone(Config(home=tmp_path, timezone="Asia/Tokyo"), None) == ZoneInfo(
        "Asia/Tokyo"
    )
    fixed = timezone(timedelta(hours=3))
    assert gateway_zone(Config(home=tmp_path, timezone="Asia/Tokyo"), fixed) is fixed


def test_the_machine_zone_is_read_from_the_localtime_link(tmp_path):
    target = tmp_path / "usr" / "share" / "zoneinfo" / "Europe" / "Berlin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    link = tmp_path / "localtime"
    link.symlink_to(target)

    assert machine_zone(link) == ZoneInfo("Europe/Berlin")


def test_without_a_named_zone_the_machine_offset_is_used(tmp_path):
    elsewhere = tmp_path / "not-a-zone"
    elsewhere.write_bytes(b"")
    link = tmp_path / "localtime"
    link.symlink_to(elsewhere)
    offset = datetime.now(UTC).astimezone().utcoffset()

    for path in (tmp_path / "missing", link):
        zone = machine_zone(path)
        assert isinstance(zone, timezone)
        assert zone.utcoffset(None) == offset
