"""Schedules of cron jobs: parsing what a user wrote, and when a schedule runs next.

Four forms (reference §8.2): a duration for a one-shot (``30s``, ``30m``, ``2h``, ``1d``),
``every <duration>``, a 5-field cron expression (parsed by croniter), and an ISO timestamp (a
naive one is taken in the gateway's zone). Intervals count elapsed time; cron expressions count
wall-clock time in the gateway's zone, with RFC 5545's rules for the daylight-saving changes: a
time that does not exist (the spring gap) is read with the offset from before the gap, so it
runs that much later, and a time that occurs twice (the autumn fold) runs once, the first time.
Pure: the caller passes ``now`` and the zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, assert_never

from croniter import CroniterError, croniter

from hermes.messages.cron import CronSchedule, IntervalSchedule, OnceSchedule, Schedule

GRACE: Final = timedelta(seconds=120)
"""A run this late still runs; a later one is missed (a one-shot) or skipped (a recurring job)."""
MIN_INTERVAL: Final = timedelta(minutes=1)
MAX_DURATION: Final = timedelta(days=3660)
FORMS: Final = (
    "a duration for a one-shot ('30s', '30m', '2h', '1d'), 'every <duration>' ('every 2h'), "
    "a 5-field cron expression ('0 9 * * 1-5'), or an ISO timestamp ('2026-12-24T18:00')"
)
_CRON_CANDIDATES: Final = 1000
"""Candidate times tried for the next run past a daylight-saving change before giving up."""
_DURATION: Final = re.compile(r"(\d{1,9})\s*([a-z]+)")
_TIMESTAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}


class ScheduleError(ValueError):
    """A schedule that cannot be used; the text says why and what would work."""


def parse_schedule(text: str, now: datetime, zone: tzinfo) -> Schedule:
    """The schedule ``text`` describes, as written at ``now`` in the gateway's ``zone``.

    Raises:
        ScheduleError: empty, malformed, out of range, in the past, or never due.
    """
    raw = " ".join(text.split())
    lowered = raw.casefold()
    if not raw:
        raise ScheduleError(f"a schedule is needed: {FORMS}")
    if lowered == "every" or lowered.startswith("every "):
        return _interval(raw.partition(" ")[2])
    if _TIMESTAMP.match(raw):
        return _timestamp(raw, now, zone)
    if len(raw.split()) == 5:  # noqa: PLR2004  (a cron expression has five fields)
        return _cron(raw, now, zone)
    if _DURATION.fullmatch(lowered):
        delta = parse_duration(raw)
        return OnceSchedule(run_at=now.astimezone(UTC) + delta, display=f"in {lowered}")
    raise ScheduleError(f"cannot read the schedule {raw!r}: use {FORMS}")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``30m``, ``2h``, ``1d`` (also ``90 minutes``, ``2 hrs``) as a timedelta.

    Raises:
        ScheduleError: not a duration, zero, or longer than ten years.
    """
    match = _DURATION.fullmatch(" ".join(text.split()).casefold())
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise ScheduleError(
            f"{text!r} is not a duration: use a whole number and a unit, "
            "s (seconds), m (minutes), h (hours) or d (days), as in '30m'"
        )
    delta = timedelta(seconds=int(match.group(1)) * unit)
    if not delta:
        raise ScheduleError(f"the duration {text!r} must be longer than zero")
    if delta > MAX_DURATION:
        raise ScheduleError(f"the duration {text!r} is too long (at most ten years)")
    return delta


def first_run(schedule: Schedule, now: datetime, zone: tzinfo) -> datetime | None:
    """When a job with ``schedule``, created or resumed at ``now``, runs first (None: never)."""
    match schedule:
        case OnceSchedule(run_at=run_at):
            return run_at if run_at >= now - GRACE else None
        case IntervalSchedule(every_seconds=seconds):
            return now.astimezone(UTC) + timedelta(seconds=seconds)
        case CronSchedule(expression=expression):
            return cron_after(expression, now, zone)
        case _:
            assert_never(schedule)


def following_run(
    schedule: Schedule, due: datetime, now: datetime, zone: tzinfo
) -> datetime | None:
    """The run after the one that was due at ``due``, strictly after ``now`` (None: no more).

    An interval keeps its phase (``due`` plus whole intervals), so runs do not drift.
    """
    match schedule:
        case OnceSchedule():
            return None
        case IntervalSchedule(every_seconds=seconds):
            step = timedelta(seconds=seconds)
            behind = max(timedelta(0), now - due)
            return due + step * (behind // step + 1)
        case CronSchedule(expression=expression):
            return cron_after(expression, now, zone)
        case _:
            assert_never(schedule)


def cron_after(expression: str, after: datetime, zone: tzinfo) -> datetime:
    """The first time ``expression`` names strictly after ``after``, in UTC.

    Raises:
        ScheduleError: the expression never comes due (``0 0 30 2 *``).
    """
    wall = after.astimezone(zone).replace(tzinfo=None)
    try:
        times = croniter(expression, wall)
        for _ in range(_CRON_CANDIDATES):
            candidate: datetime = times.get_next(datetime)
            # fold=0: the offset from before a change (RFC 5545 for gaps; the first of a fold).
            instant = candidate.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if instant > after:
                return instant
    except CroniterError as error:
        raise ScheduleError(f"the cron expression {expression!r} never comes due") from error
    raise ScheduleError(f"the cron expression {expression!r} never comes due")


def _interval(text: str) -> IntervalSchedule:
    if not text:
        raise ScheduleError("'every' needs a duration, as in 'every 30m'")
    delta = parse_duration(text)
    if delta < MIN_INTERVAL:
        raise ScheduleError(f"'every {text}' is too often: at least every minute ('every 1m')")
    display = "every " + " ".join(text.split()).casefold()
    return IntervalSchedule(every_seconds=int(delta.total_seconds()), display=display)


def _cron(expression: str, now: datetime, zone: tzinfo) -> CronSchedule:
    try:
        valid = croniter.is_valid(expression)
    except (CroniterError, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise ScheduleError(
            f"{expression!r} is not a valid cron expression: five fields, minute hour "
            "day-of-month month day-of-week, as in '0 9 * * 1-5'"
        )
    cron_after(expression, now, zone)  # raises when it never comes due
    return CronSchedule(expression=expression, display=expression)


def _timestamp(text: str, now: datetime, zone: tzinfo) -> OnceSchedule:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not an ISO timestamp: use YYYY-MM-DDTHH:MM[:SS][+HH:MM], "
            "as in '2026-12-24T18:00'"
        ) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone, fold=0)
    run_at = moment.astimezone(UTC)
    if run_at < now - GRACE:
        raise ScheduleError(f"{text!r} is in the past")
    return OnceSchedule(run_at=run_at, display=text)
