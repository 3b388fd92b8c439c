"""Schedules of cron jobs: every form, every error, and next runs across DST and month ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hermes.messages.cron import CronSchedule, IntervalSchedule, OnceSchedule
from hermes.policies.schedules import (
    GRACE,
    ScheduleError,
    cron_after,
    first_run,
    following_run,
    parse_duration,
    parse_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


# -- durations and one-shots ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("90 minutes", 5400),
        ("2 HRS", 7200),
        ("1 day", 86400),
        ("45sec", 45),
    ],
)
def test_a_duration_is_a_one_shot_from_now(text, seconds):
    schedule = parse_schedule(text, NOW, BERLIN)

    assert isinstance(schedule, OnceSchedule)
    assert schedule.run_at == NOW + timedelta(seconds=seconds)
    assert schedule.run_at.tzinfo is UTC
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_naive_timestamp_is_read_in_the_gateway_zone():
    schedule = parse_schedule("2026-12-24T18:00", NOW, BERLIN)

    assert schedule == OnceSchedule(
        run_at=datetime(2026, 12, 24, 17, 0, tzinfo=UTC), display="2026-12-24T18:00"
    )


def test_an_aware_timestamp_keeps_its_offset():
    schedule = parse_schedule("2026-12-24T18:00:30+05:00", NOW, BERLIN)

    assert isinstance(schedule, OnceSchedule)
    assert schedule.run_at == datetime(2026, 12, 24, 13, 0, 30, tzinfo=UTC)


def test_a_date_with_a_space_and_a_z_suffix_are_timestamps():
    spaced = parse_schedule("2026-12-24 18:00", NOW, UTC)
    zulu = parse_schedule("2026-12-24T18:00Z", NOW, BERLIN)

    assert isinstance(spaced, OnceSchedule)
    assert isinstance(zulu, OnceSchedule)
    assert spaced.run_at == zulu.run_at == datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


def test_a_timestamp_just_past_is_still_accepted_within_the_grace():
    just_past = (NOW - GRACE + timedelta(seconds=1)).isoformat()

    schedule = parse_schedule(just_past, NOW, BERLIN)

    assert isinstance(schedule, OnceSchedule)
    assert first_run(schedule, NOW, BERLIN) == schedule.run_at


def test_a_naive_time_in_the_spring_gap_runs_an_hour_later():
    # 2026-03-29 02:30 does not exist in Berlin; RFC 5545 reads it with the winter offset.
    schedule = parse_schedule("2026-03-29T02:30", datetime(2026, 3, 1, tzinfo=UTC), BERLIN)

    assert isinstance(schedule, OnceSchedule)
    assert schedule.run_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


# -- intervals and cron expressions -------------------------------------------------------------


def test_every_duration_is_an_interval():
    schedule = parse_schedule("  Every   2H ", NOW, BERLIN)

    assert schedule == IntervalSchedule(every_seconds=7200, display="every 2h")
    assert first_run(schedule, NOW, BERLIN) == NOW + timedelta(hours=2)


def test_a_five_field_expression_is_a_cron_schedule():
    schedule = parse_schedule("0 9 * * mon-fri", NOW, BERLIN)

    assert schedule == CronSchedule(expression="0 9 * * mon-fri", display="0 9 * * mon-fri")
    # Sunday noon UTC -> Monday 09:00 Berlin (CET, UTC+1)
    assert first_run(schedule, NOW, BERLIN) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "a schedule is needed"),
        ("   ", "a schedule is needed"),
        ("tomorrow", "cannot read the schedule 'tomorrow'"),
        ("30", "cannot read the schedule"),
        ("30x", "is not a duration"),
        ("30 weeks", "is not a duration"),
        ("0m", "longer than zero"),
        ("99999d", "too long"),
        ("every", "'every' needs a duration"),
        ("every day", "is not a duration"),
        ("every 30s", "too often"),
        ("every 0h", "longer than zero"),
        ("61 * * * *", "not a valid cron expression"),
        ("* * * * * * *", "cannot read the schedule"),
        ("a b c d e", "not a valid cron expression"),
        ("*/0 * * * *", "not a valid cron expression"),
        ("0 0 30 2 *", "never comes due"),
        ("2026-13-01T10:00", "not an ISO timestamp"),
        ("2026-11-22T11:00", "is in the past"),
        ("2020-01-01", "is in the past"),
    ],
)
def test_bad_schedules_are_rejected_with_a_clear_message(text, fragment):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(text, NOW, UTC)

    assert fragment in str(raised.value)


def test_an_unreadable_schedule_lists_the_forms():
    with pytest.raises(ScheduleError) as raised:
        parse_schedule("whenever", NOW, UTC)

    message = str(raised.value)
    for form in ("'30m'", "'every 2h'", "cron expression", "ISO timestamp"):
        assert form in message


# -- next runs across DST ------------------------------------------------------------------------


def test_a_daily_cron_keeps_its_wall_clock_time_across_spring_forward():
    after = berlin(2026, 3, 28, 9, 0)  # Saturday 09:00 CET

    following = cron_after("0 9 * * *", after, BERLIN)

    assert following == berlin(2026, 3, 29, 9, 0).astimezone(UTC)  # 09:00 CEST
    assert following - after == timedelta(hours=23)


def test_a_daily_cron_keeps_its_wall_clock_time_across_fall_back():
    after = berlin(2026, 10, 24, 9, 0)

    following = cron_after("0 9 * * *", after, BERLIN)

    assert following == berlin(2026, 10, 25, 9, 0).astimezone(UTC)
    assert following - after == timedelta(hours=25)


def test_a_time_in_the_spring_gap_runs_once_that_day_an_hour_late():
    first = cron_after("30 2 * * *", berlin(2026, 3, 28, 12, 0), BERLIN)
    second = cron_after("30 2 * * *", first, BERLIN)

    assert first == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert second == berlin(2026, 3, 30, 2, 30).astimezone(UTC)


def test_a_time_in_the_autumn_fold_runs_once_at_its_first_occurrence():
    first = cron_after("30 2 * * *", berlin(2026, 10, 24, 12, 0), BERLIN)
    second = cron_after("30 2 * * *", first, BERLIN)

    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first time
    assert second == berlin(2026, 10, 26, 2, 30).astimezone(UTC)


def test_from_inside_the_fold_the_repeated_hour_is_not_run_again():
    inside_second_pass = berlin(2026, 10, 25, 2, 10, fold=1)  # 02:10 CET

    following = cron_after("*/15 * * * *", inside_second_pass, BERLIN)

    assert following == berlin(2026, 10, 25, 3, 0).astimezone(UTC)


def test_an_interval_counts_elapsed_time_across_dst():
    schedule = IntervalSchedule(every_seconds=86400, display="every 1d")
    due = berlin(2026, 3, 28, 9, 0).astimezone(UTC)

    following = following_run(schedule, due, due, BERLIN)

    assert following == due + timedelta(days=1)
    assert following is not None
    assert following.astimezone(BERLIN).hour == 10  # 24 h later is 10:00 summer time


# -- next runs across month ends -----------------------------------------------------------------


def test_the_31st_skips_the_months_without_one():
    times = []
    after = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    for _ in range(3):
        after = cron_after("0 0 31 * *", after, UTC)
        times.append(after)

    assert times == [datetime(2026, m, 31, tzinfo=UTC) for m in (3, 5, 7)]


def test_the_last_day_of_february_in_common_and_leap_years():
    common = cron_after("0 12 L * *", datetime(2026, 2, 1, tzinfo=UTC), UTC)
    leap = cron_after("0 12 L * *", datetime(2028, 2, 1, tzinfo=UTC), UTC)

    assert common == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert leap == datetime(2028, 2, 29, 12, tzinfo=UTC)


def test_month_end_at_midnight_crosses_into_the_next_year_in_the_zone():
    after = berlin(2026, 12, 31, 23, 30)

    following = cron_after("0 0 1 * *", after, BERLIN)

    assert following == berlin(2027, 1, 1, 0, 0).astimezone(UTC)


def test_an_interval_keeps_its_phase_when_run_late():
    schedule = IntervalSchedule(every_seconds=3600, display="every 1h")
    due = NOW

    assert following_run(schedule, due, due + timedelta(seconds=90), UTC) == NOW + timedelta(
        hours=1
    )
    assert following_run(schedule, due, due + timedelta(hours=3, minutes=1), UTC) == (
        NOW + timedelta(hours=4)
    )


def test_a_one_shot_has_no_following_run_and_no_first_run_once_long_past():
    schedule = OnceSchedule(run_at=NOW, display="x")

    assert following_run(schedule, NOW, NOW, UTC) is None
    assert first_run(schedule, NOW + GRACE, UTC) == NOW
    assert first_run(schedule, NOW + GRACE + timedelta(seconds=1), UTC) is None
