"""The rules of cron jobs: targets, due decisions, run texts, and the job values themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hermes.messages.cron import (
    CronJob,
    CronSchedule,
    IntervalSchedule,
    JobOwner,
    JobState,
    OnceSchedule,
    RunStatus,
    is_job_id,
)
from hermes.messages.values import ChatAddress, Platform, Sender
from hermes.policies.cron import (
    DuePlan,
    JobError,
    RunRecord,
    check_deliver,
    check_prompt,
    cron_session_id,
    failure_notice,
    is_silent,
    job_name,
    origin_target,
    plan_due,
    render_output,
)
from hermes.policies.schedules import GRACE

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CHAT = ChatAddress(platform=Platform.TELEGRAM, chat_id="-100", thread_id="7")
ALICE = Sender(user_id="1001", user_name="alice")


def job(**fields) -> CronJob:
    base = CronJob(
        job_id="0123456789ab",
        name="digest",
        prompt="summarise the news",
        schedule=IntervalSchedule(every_seconds=3600, display="every 1h"),
        deliver="origin",
        enabled=True,
        next_run_at=NOW,
        created_at=NOW - timedelta(days=1),
        origin=CHAT,
        creator=ALICE,
    )
    return replace(base, **fields)


# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "origin", "expected"),
    [
        (None, CHAT, "origin"),
        ("", CHAT, "origin"),
        (None, None, "local"),
        (None, ChatAddress(platform=Platform.API_SERVER, chat_id="x"), "local"),
        ("ORIGIN", CHAT, "origin"),
        ("Local", None, "local"),
        ("Telegram", None, "telegram"),
        ("discord:123456", None, "discord:123456"),
        ("telegram:-100AbC:7", None, "telegram:-100AbC:7"),
        ("embedded:chat1", None, "embedded:chat1"),
    ],
)
def test_delivery_targets_are_checked_and_normalised(spec, origin, expected):
    assert check_deliver(spec, origin) == expected


@pytest.mark.parametrize(
    ("spec", "origin", "fragment"),
    [
        ("origin", None, "has none"),
        ("origin", ChatAddress(platform=Platform.API_SERVER, chat_id="x"), "cannot receive"),
        ("slack", None, "unknown delivery target 'slack'"),
        ("telegram:", None, "malformed"),
        ("telegram:1:2:3", None, "malformed"),
    ],
)
def test_bad_delivery_targets_are_refused(spec, origin, fragment):
    with pytest.raises(JobError) as raised:
        check_deliver(spec, origin)

    assert fragment in str(raised.value)


def test_an_origin_becomes_a_platform_chat_thread_target():
    assert origin_target(CHAT) == "telegram:-100:7"
    assert origin_target(ChatAddress(platform=Platform.DISCORD, chat_id="42")) == "discord:42"


# -- when a due job runs ---------------------------------------------------------------------------


def test_a_job_not_yet_due_paused_or_done_has_no_plan():
    assert plan_due(job(next_run_at=NOW + timedelta(seconds=1)), NOW, UTC) is None
    assert plan_due(job(enabled=False), NOW, UTC) is None
    assert plan_due(job(next_run_at=None), NOW, UTC) is None


def test_a_recurring_job_on_time_runs_and_moves_on_by_its_interval():
    assert plan_due(job(), NOW + timedelta(seconds=30), UTC) == DuePlan(
        run=True, next_run_at=NOW + timedelta(hours=1)
    )


def test_a_recurring_job_missed_while_down_is_skipped_to_the_next_future_run():
    late = NOW + timedelta(hours=5, minutes=10)

    plan = plan_due(job(), late, UTC)

    assert plan == DuePlan(run=False, next_run_at=NOW + timedelta(hours=6))


def test_a_cron_job_missed_while_down_is_skipped_to_its_next_time_from_now():
    cron = job(schedule=CronSchedule(expression="0 * * * *", display="0 * * * *"))

    plan = plan_due(cron, NOW + timedelta(days=2, minutes=30), UTC)

    assert plan == DuePlan(run=False, next_run_at=NOW + timedelta(days=2, hours=1))


def test_a_one_shot_runs_within_the_grace_and_is_missed_after_it():
    once = job(schedule=OnceSchedule(run_at=NOW, display="in 1h"))

    assert plan_due(once, NOW + GRACE, UTC) == DuePlan(run=True, next_run_at=None)
    assert plan_due(once, NOW + GRACE + timedelta(seconds=1), UTC) == DuePlan(
        run=False, next_run_at=None, missed=True
    )


# -- texts of a run --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "silent"),
    [
        ("[SILENT]", True),
        ("  [silent] nothing new", True),
        ("\n[SILENT]\n", True),
        ("Nothing new. [SILENT]", False),
        ("[SILENCE]", False),
        ("", False),
    ],
)
def test_only_an_answer_beginning_with_silent_is_silent(text, silent):
    assert is_silent(text) is silent


def test_the_session_of_a_run_is_named_after_the_job_and_the_utc_time():
    at = datetime(2026, 3, 29, 3, 4, 5, tzinfo=UTC)

    assert cron_session_id("0123456789ab", at) == "cron_0123456789ab_20260329_030405"


def test_names_default_to_the_prompts_beginning():
    prompt = "Check the weather in Berlin and tell me whether I need an umbrella today, please"

    assert job_name(None, prompt) == prompt[:50]
    assert job_name("  weather \n check ", prompt) == "weather check"
    with pytest.raises(JobError):
        job_name("x" * 101, prompt)


def test_prompts_must_say_something_and_not_too_much():
    assert check_prompt("  do it  ") == "do it"
    for bad in ("", "   ", "x" * 8001):
        with pytest.raises(JobError):
            check_prompt(bad)


def test_the_failure_notice_names_the_job_and_the_reason():
    assert failure_notice("digest", "the model is down") == (
        "⚠️ Cron job 'digest' failed: the model is down"
    )


def test_the_output_document_holds_the_run():
    record = RunRecord(
        job=job(),
        started_at=NOW,
        session_id="cron_0123456789ab_20261122_120000",
        text="all quiet",
        failed=False,
    )

    text = render_output(record)

    assert text.startswith("# Cron job: digest\n")
    for part in (
        "- Job: 0123456789ab",
        "- Run at: 2026-11-22T12:00:00+00:00",
        "- Schedule: every 1h",
        "## Prompt\n\nsummarise the news",
        "## Response\n\nall quiet",
    ):
        assert part in text
    assert "## Error" in render_output(replace(record, failed=True))


# -- the job values ------------------------------------------------------------


@pytest.mark.parametrize(
    "job_id", ["", "0123456789a", "0123456789abc", "../../etc/xx", "0123456789AB"]
)
def test_job_ids_that_are_not_ours_are_refused(job_id):
    assert not is_job_id(job_id)
    with pytest.raises(ValueError, match="invalid job id"):
        job(job_id=job_id)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        job(next_run_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        OnceSchedule(run_at=datetime(2026, 1, 1), display="x")  # noqa: DTZ001


def test_a_job_is_completed_once_a_one_shot_has_a_status():
    once = job(schedule=OnceSchedule(run_at=NOW, display="x"))

    assert once.state is JobState.SCHEDULED
    assert job(enabled=False).state is JobState.PAUSED
    assert replace(once, enabled=False, last_status=RunStatus.OK).state is JobState.COMPLETED


def test_an_owner_is_the_same_user_in_the_same_chat_and_thread():
    owner = JobOwner(origin=replace(CHAT, chat_name="Team"), creator=Sender(user_id="1001"))

    assert owner.owns(job())
    assert not owner.owns(job(creator=Sender(user_id="2002")))
    assert not owner.owns(job(origin=replace(CHAT, thread_id="8")))
    assert not owner.owns(job(origin=None, creator=None))
