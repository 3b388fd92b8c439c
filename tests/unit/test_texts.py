from datetime import UTC, datetime, timedelta

import pytest

from hermes.messages.session import ResetReason, SessionStatus
from hermes.messages.values import SessionKey, TokenUsage
from hermes.policies import texts

NOW = datetime(2026, 3, 20, 14, 15, 2, tzinfo=UTC)
KEY = SessionKey(value="agent:main:telegram:dm:42")


def report(
    *,
    session_id: str | None = "20260320_141502_3fa9c0d1",
    running_since: datetime | None = None,
    pending_inputs: int = 0,
) -> SessionStatus:
    return SessionStatus(
        session_key=KEY,
        session_id=session_id,
        created_at=NOW - timedelta(hours=2),
        updated_at=NOW - timedelta(minutes=5),
        usage=TokenUsage(input_tokens=1200, output_tokens=345),
        transcript_length=6,
        running_turn_id="turn-1" if running_since else None,
        running_since=running_since,
        pending_inputs=pending_inputs,
    )


def test_status_shows_the_session_and_its_tokens() -> None:
    text = texts.status(report(), NOW)

    assert "20260320_141502_3fa9c0d1" in text
    assert "agent:main:telegram:dm:42" in text
    assert "1545" in text
    assert "1200 in" in text
    assert "345 out" in text
    assert "Messages: 6" in text
    assert "Created: 2 h 0 min ago" in text
    assert "Last activity: 5 min ago" in text


def test_status_of_an_idle_session() -> None:
    text = texts.status(report(), NOW)

    assert "Agent running: no" in text
    assert "Waiting" not in text


def test_status_of_a_busy_session_with_waiting_messages() -> None:
    text = texts.status(report(running_since=NOW - timedelta(seconds=45), pending_inputs=3), NOW)

    assert "Agent running: yes" in text
    assert "45 s" in text
    assert "Waiting messages: 3" in text


def test_status_before_the_session_has_loaded() -> None:
    text = texts.status(report(session_id=None), NOW)

    assert "(not started)" in text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0, "0 s", id="zero"),
        pytest.param(45, "45 s", id="seconds"),
        pytest.param(59.9, "59 s", id="just-under-a-minute"),
        pytest.param(60, "1 min", id="one-minute"),
        pytest.param(1800, "30 min", id="minutes"),
        pytest.param(3599, "59 min", id="just-under-an-hour"),
        pytest.param(3600, "1 h 0 min", id="one-hour"),
        pytest.param(7500, "2 h 5 min", id="hours-and-minutes"),
        pytest.param(90000, "25 h 0 min", id="more-than-a-day"),
    ],
)
def test_turn_timed_out_duration(seconds: float, expected: str) -> None:
    text = texts.turn_timed_out(seconds)

    assert f"longer than {expected} " in text
    assert "/reset" in text


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param(ResetReason.IDLE, "no activity for 1440 minutes", id="idle"),
        pytest.param(ResetReason.DAILY, "daily reset at 04:00", id="daily"),
    ],
)
def test_auto_reset_mentions_the_reason(reason: ResetReason, expected: str) -> None:
    text = texts.auto_reset(reason, idle_minutes=1440, at_hour=4)

    assert expected in text
    assert "automatically reset" in text


@pytest.mark.parametrize(
    ("dropped", "expected"),
    [
        pytest.param(1, "1 unanswered message dropped", id="singular"),
        pytest.param(2, "2 unanswered messages dropped", id="plural"),
        pytest.param(32, "32 unanswered messages dropped", id="many"),
    ],
)
def test_reset_with_dropped(dropped: int, expected: str) -> None:
    text = texts.reset_with_dropped(dropped)

    assert text.startswith(texts.RESET_DONE)
    assert expected in text


def test_queue_full_names_the_limit() -> None:
    assert "32 messages are already waiting" in texts.queue_full(32)


def test_reference_wordings_are_kept() -> None:
    assert texts.RESET_DONE == (
        "✨ Session reset! I've started fresh with no memory of our previous conversation."
    )
    assert texts.NEW_SESSION == "✨ New session started!"
    assert texts.NOTHING_TO_STOP == "No active task to stop."
    assert texts.QUEUED == "Queued for the next turn."
