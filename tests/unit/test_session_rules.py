import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from hermes.messages.session import ResetReason
from hermes.policies.sessions import ResetRule, expiry_reason, new_session_id

BERLIN = ZoneInfo("Europe/Berlin")
SESSION_ID = re.compile(r"^\d{8}_\d{6}_[0-9a-f]{8}$")
NOW = datetime(2026, 3, 20, 14, 15, 2, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


IDLE = ResetRule(idle=True, daily=False, at_hour=4, idle_minutes=60)
DAILY = ResetRule(idle=False, daily=True, at_hour=4, idle_minutes=60)
BOTH = ResetRule(idle=True, daily=True, at_hour=4, idle_minutes=60)
NONE = ResetRule(idle=False, daily=False, at_hour=4, idle_minutes=60)


def test_session_id_format() -> None:
    session_id = new_session_id(NOW)

    assert SESSION_ID.match(session_id), session_id
    assert session_id.startswith("20260320_141502_")


def test_session_id_with_a_given_token() -> None:
    assert new_session_id(NOW, "3fa9c0d1") == "20260320_141502_3fa9c0d1"


def test_session_ids_minted_in_the_same_second_are_unique() -> None:
    ids = {new_session_id(NOW) for _ in range(1000)}

    assert len(ids) == 1000
    assert all(SESSION_ID.match(session_id) for session_id in ids)


def test_session_id_timestamp_is_utc_whatever_the_zone_of_now() -> None:
    same_instant_in_berlin = NOW.astimezone(BERLIN)

    assert new_session_id(same_instant_in_berlin, "00000000") == ("20260320_141502_00000000")


LAST = utc(2026, 3, 20, 10, 0)

EXPIRY_CASES = [
    # idle: expired once now > last activity + idle_minutes
    pytest.param(IDLE, LAST, LAST + timedelta(minutes=59), UTC, None, id="idle-well-before"),
    pytest.param(
        IDLE,
        LAST,
        LAST + timedelta(minutes=60, microseconds=-1),
        UTC,
        None,
        id="idle-just-before-boundary",
    ),
    pytest.param(IDLE, LAST, LAST + timedelta(minutes=60), UTC, None, id="idle-at-boundary"),
    pytest.param(
        IDLE,
        LAST,
        LAST + timedelta(minutes=60, microseconds=1),
        UTC,
        ResetReason.IDLE,
        id="idle-just-after-boundary",
    ),
    pytest.param(IDLE, LAST, LAST + timedelta(days=3), UTC, ResetReason.IDLE, id="idle-days-later"),
    pytest.param(
        IDLE,
        utc(2026, 3, 20, 3, 0),
        utc(2026, 3, 20, 3, 30),
        UTC,
        None,
        id="idle-ignores-daily-boundary",
    ),
    # daily: expired once last activity is before the latest at_hour boundary
    pytest.param(
        DAILY,
        utc(2026, 3, 20, 3, 59),
        utc(2026, 3, 20, 4, 0),
        UTC,
        ResetReason.DAILY,
        id="daily-boundary-just-passed",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 20, 3, 59),
        utc(2026, 3, 20, 3, 59) + timedelta(seconds=59),
        UTC,
        None,
        id="daily-boundary-not-yet-reached",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 20, 4, 0),
        utc(2026, 3, 20, 23, 0),
        UTC,
        None,
        id="daily-active-exactly-at-boundary",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 19, 3, 59),
        utc(2026, 3, 20, 3, 0),
        UTC,
        ResetReason.DAILY,
        id="daily-before-at-hour-uses-yesterdays-boundary",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 19, 5, 0),
        utc(2026, 3, 20, 3, 59),
        UTC,
        None,
        id="daily-before-at-hour-yesterdays-boundary-not-crossed",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 19, 5, 0),
        utc(2026, 3, 20, 4, 0),
        UTC,
        ResetReason.DAILY,
        id="daily-after-at-hour-todays-boundary-crossed",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 20, 10, 0),
        utc(2026, 3, 20, 10, 0) + timedelta(hours=17),
        UTC,
        None,
        id="daily-ignores-idle-time",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 1, 12, 0),
        utc(2026, 3, 20, 12, 0),
        UTC,
        ResetReason.DAILY,
        id="daily-weeks-later",
    ),
    # daily in Berlin: 04:00 local is 03:00 UTC in winter (CET),
    # 02:00 UTC in summer (CEST)
    pytest.param(
        DAILY,
        utc(2026, 1, 15, 2, 59),
        utc(2026, 1, 15, 3, 0),
        BERLIN,
        ResetReason.DAILY,
        id="berlin-winter-boundary-at-0300-utc",
    ),
    pytest.param(
        DAILY,
        utc(2026, 1, 15, 3, 0),
        utc(2026, 1, 15, 3, 59),
        BERLIN,
        None,
        id="berlin-winter-after-local-boundary",
    ),
    pytest.param(
        DAILY,
        utc(2026, 7, 15, 1, 59),
        utc(2026, 7, 15, 2, 0),
        BERLIN,
        ResetReason.DAILY,
        id="berlin-summer-boundary-at-0200-utc",
    ),
    pytest.param(
        DAILY,
        utc(2026, 7, 15, 1, 0),
        utc(2026, 7, 15, 1, 59),
        BERLIN,
        None,
        id="berlin-summer-before-local-boundary",
    ),
    # Berlin DST starts 2026-03-29 (02:00 CET -> 03:00 CEST)
    # and ends 2026-10-25 (03:00 CEST -> 02:00 CET)
    pytest.param(
        DAILY,
        utc(2026, 3, 29, 1, 59),
        utc(2026, 3, 29, 2, 0),
        BERLIN,
        ResetReason.DAILY,
        id="berlin-spring-forward-day-boundary-at-0200-utc",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 28, 3, 30),
        utc(2026, 3, 29, 1, 30),
        BERLIN,
        None,
        id="berlin-spring-forward-yesterdays-boundary-in-cet",
    ),
    pytest.param(
        DAILY,
        utc(2026, 3, 28, 2, 30),
        utc(2026, 3, 29, 1, 30),
        BERLIN,
        ResetReason.DAILY,
        id="berlin-spring-forward-active-before-yesterdays-boundary",
    ),
    pytest.param(
        DAILY,
        utc(2026, 10, 25, 2, 59),
        utc(2026, 10, 25, 3, 0),
        BERLIN,
        ResetReason.DAILY,
        id="berlin-fall-back-day-boundary-at-0300-utc",
    ),
    pytest.param(
        DAILY,
        utc(2026, 10, 24, 2, 0),
        utc(2026, 10, 25, 2, 59),
        BERLIN,
        None,
        id="berlin-fall-back-yesterdays-boundary-in-cest",
    ),
    # both: either rule fires; idle is reported when both do
    pytest.param(
        BOTH,
        utc(2026, 3, 20, 10, 0),
        utc(2026, 3, 20, 11, 1),
        UTC,
        ResetReason.IDLE,
        id="both-only-idle-fires",
    ),
    pytest.param(
        BOTH,
        utc(2026, 3, 20, 3, 59),
        utc(2026, 3, 20, 4, 1),
        UTC,
        ResetReason.DAILY,
        id="both-only-daily-fires",
    ),
    pytest.param(
        BOTH,
        utc(2026, 3, 19, 10, 0),
        utc(2026, 3, 20, 10, 0),
        UTC,
        ResetReason.IDLE,
        id="both-both-fire-idle-wins",
    ),
    pytest.param(
        BOTH, utc(2026, 3, 20, 10, 0), utc(2026, 3, 20, 10, 30), UTC, None, id="both-neither-fires"
    ),
    # the none policy never expires a session
    pytest.param(
        NONE, utc(2020, 1, 1, 0, 0), utc(2026, 3, 20, 12, 0), UTC, None, id="none-years-later"
    ),
    pytest.param(
        NONE,
        utc(2026, 3, 20, 3, 59),
        utc(2026, 3, 20, 4, 1),
        BERLIN,
        None,
        id="none-across-daily-boundary",
    ),
]


@pytest.mark.parametrize(("rule", "last_activity", "now", "zone", "expected"), EXPIRY_CASES)
def test_expiry_reason(
    rule: ResetRule,
    last_activity: datetime,
    now: datetime,
    zone: tzinfo,
    expected: ResetReason | None,
) -> None:
    assert expiry_reason(rule, last_activity, now, zone) is expected


@pytest.mark.parametrize("at_hour", [0, 4, 12, 23])
def test_daily_boundary_follows_at_hour(at_hour: int) -> None:
    rule = ResetRule(idle=False, daily=True, at_hour=at_hour, idle_minutes=60)
    boundary = utc(2026, 3, 20, at_hour, 0)
    before = boundary - timedelta(seconds=1)

    assert expiry_reason(rule, before, boundary, UTC) is ResetReason.DAILY
    assert expiry_reason(rule, before, before, UTC) is None
    assert expiry_reason(rule, boundary, boundary + timedelta(hours=23), UTC) is None
