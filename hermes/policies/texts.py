"""What the gateway itself says to people: command replies and notices.

Wording follows the original gateway where its users know it (reference §1.6, §5, §6.7).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from hermes.messages.session import ResetReason, SessionStatus

RESET_DONE: Final = (
    "✨ Session reset! I've started fresh with no memory of our previous conversation."
)
NEW_SESSION: Final = "✨ New session started!"
STOPPING: Final = "⚡ Stopping the current task..."
STOPPED: Final = "⚡ Stopped."
NOTHING_TO_STOP: Final = "No active task to stop."
QUEUED: Final = "Queued for the next turn."
QUEUED_BUSY: Final = "⏳ I'm still answering your previous message; I'll get to this one next."
QUEUE_USAGE: Final = (
    "Usage: /queue TEXT (answered after the current answer, without interrupting it)"
)
PINNED_RESET: Final = (
    "This conversation's id is chosen by your client (X-Hermes-Session-Id), so it cannot be "
    "reset here: start a new conversation with a new id."
)
CRASHED: Final = (
    "⚠️ Something went wrong on my side while handling your message. Please send it again."
)
SHUTTING_DOWN: Final = (
    "⚠️ The gateway is restarting, so this message was not answered. "
    "Please send it again in a minute."
)
"""To a sender waiting on its HTTP connection: it must ask again."""
RESTARTING: Final = "⏳ The gateway is restarting; I will answer as soon as it is back."
"""To a chat whose messages were cut by a stop: they are kept and answered after the restart."""
RESET_BEFORE_ANSWER: Final = "The session was reset before this message was answered."
FLUSH_PROMPT: Final = (
    "[System: this conversation is ending and its context will be cleared. Look back over it "
    "and save what will matter later (facts about the user, preferences, decisions, open "
    "threads) with the memory tools. Do not answer the user; when you are done, stop.]"
)
NO_HOME_HERE: Final = (
    "The HTTP API has no home channel: send /sethome in the Telegram or Discord chat that "
    "should receive deliveries."
)


def home_set(name: str) -> str:
    """The /sethome reply."""
    return f"✅ Home channel set to {name}. Deliveries to this platform now come here."


def queue_full(limit: int) -> str:
    """Notice for a message refused because ``limit`` messages already wait."""
    return (
        f"⚠️ {limit} messages are already waiting, so this one was not queued. "
        "Send it again after the current answer."
    )


def reset_with_dropped(dropped: int) -> str:
    """The /new reply when unanswered messages were dropped."""
    noun = "message" if dropped == 1 else "messages"
    return f"{RESET_DONE} ({dropped} unanswered {noun} dropped.)"


def auto_reset(reason: ResetReason, idle_minutes: int, at_hour: int) -> str:
    """Notice that the reset policy started a fresh session before this message."""
    why = (
        f"no activity for {idle_minutes} minutes"
        if reason is ResetReason.IDLE
        else f"daily reset at {at_hour:02d}:00"
    )
    return f"◐ Session automatically reset ({why}). I've started fresh."


def turn_timed_out(timeout_seconds: float) -> str:
    """Notice for a turn stopped by ``turn_timeout``."""
    return (
        f"⏱️ The answer took longer than {_duration(timeout_seconds)} and was stopped. "
        "Try again, or use /reset to start a fresh session."
    )


def status(report: SessionStatus, now: datetime) -> str:
    """The reply to /status."""
    session_id = report.session_id or "(not started)"
    lines = [f"Session: {session_id}", f"Key: {report.session_key}"]
    if report.created_at is not None:
        lines.append(f"Created: {_ago(report.created_at, now)}")
    if report.updated_at is not None:
        lines.append(f"Last activity: {_ago(report.updated_at, now)}")
    lines.append(f"Messages: {report.transcript_length}")
    lines.append(
        f"Tokens: {report.usage.total_tokens} "
        f"({report.usage.input_tokens} in, {report.usage.output_tokens} out)"
    )
    if report.running_since is not None:
        lines.append(f"Agent running: yes ⚡ (for {_ago(report.running_since, now, suffix='')})")
    else:
        lines.append("Agent running: no")
    if report.pending_inputs:
        lines.append(f"Waiting messages: {report.pending_inputs}")
    return "\n".join(lines)


def _ago(moment: datetime, now: datetime, suffix: str = " ago") -> str:
    return _duration(max(0.0, (now - moment).total_seconds())) + suffix


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:  # noqa: PLR2004  (seconds in a minute)
        return f"{whole} s"
    if whole < 3600:  # noqa: PLR2004  (seconds in an hour)
        return f"{whole // 60} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min"
