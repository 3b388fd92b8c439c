"""Rules of cron jobs: checking a new job, when a due job runs, and the texts of a run.

Pure decisions for the Scheduler: which target a job delivers to, whether a due job runs now,
is skipped (a recurring job the gateway was down for) or was missed (a one-shot), the isolated
session id of a run, the instructions a run starts with, the failure notice, the ``[SILENT]``
rule, and the output document each run leaves in ``$HERMES_HOME/cron/output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final

from hermes.messages.cron import CronJob, OnceSchedule
from hermes.messages.values import ChatAddress, Platform
from hermes.policies.schedules import GRACE, ScheduleError, following_run
from hermes.policies.targets import PUSH_PLATFORMS

MAX_PROMPT_CHARS: Final = 8000
MAX_NAME_CHARS: Final = 100
DEFAULT_NAME_CHARS: Final = 50
"""A job without a name is called by the first characters of its prompt (as the original)."""
SILENT_MARKER: Final = "[SILENT]"
ORIGIN: Final = "origin"
LOCAL: Final = "local"


class JobError(ValueError):
    """A job request that cannot be carried out; the text says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DuePlan:
    """What to do with a job whose time has come."""

    run: bool
    """Start a run now."""
    next_run_at: datetime | None
    missed: bool = False
    """A one-shot more than ``GRACE`` late: recorded as missed, never run."""


def check_prompt(prompt: str) -> str:
    """``prompt`` stripped, if it is usable.

    Raises:
        JobError: empty or too long.
    """
    text = prompt.strip()
    if not text:
        raise JobError("a job needs a prompt: what the agent should do when it runs")
    if len(text) > MAX_PROMPT_CHARS:
        raise JobError(
            f"the prompt is too long ({len(text)} characters; at most {MAX_PROMPT_CHARS})"
        )
    return text


def job_name(name: str | None, prompt: str) -> str:
    """The name given (one line, at most ``MAX_NAME_CHARS``), else the prompt's beginning."""
    text = " ".join((name or "").split())
    if not text:
        text = " ".join(prompt.split())[:DEFAULT_NAME_CHARS]
    if len(text) > MAX_NAME_CHARS:
        raise JobError(f"the name is too long (at most {MAX_NAME_CHARS} characters)")
    return text


def check_deliver(spec: str | None, origin: ChatAddress | None) -> str:
    """The delivery target ``spec`` names, normalised; None picks the default.

    The default is ``origin`` for a job made in a chat that can receive messages, else
    ``local``. Whether a home channel or chat exists is Delivery's to say, at each run.

    Raises:
        JobError: not a target, or ``origin`` without a chat that can receive messages.
    """
    if spec is None or not spec.strip():
        return ORIGIN if origin is not None and origin.platform in PUSH_PLATFORMS else LOCAL
    text = spec.strip()
    name, colon, rest = text.partition(":")
    if not colon and name.casefold() == LOCAL:
        return LOCAL
    if not colon and name.casefold() == ORIGIN:
        if origin is None:
            raise JobError("'origin' means the chat a job was made in, and this one has none")
        if origin.platform not in PUSH_PLATFORMS:
            raise JobError(f"{origin.platform.value} cannot receive scheduled messages")
        return ORIGIN
    try:
        platform = Platform(name.casefold())
    except ValueError:
        raise JobError(
            f"unknown delivery target {text!r}: use origin, local, a platform "
            "(telegram, discord) for its home channel, or platform:chat_id[:thread_id]"
        ) from None
    chat, _, thread = rest.partition(":")
    if colon and (not chat.strip() or ":" in thread):
        raise JobError(f"malformed delivery target {text!r}: use platform:chat_id[:thread_id]")
    return platform.value + (f":{rest}" if colon else "")


def origin_target(origin: ChatAddress) -> str:
    """The chat ``origin`` as a delivery target, ``platform:chat_id[:thread_id]``."""
    thread = f":{origin.thread_id}" if origin.thread_id else ""
    return f"{origin.platform.value}:{origin.chat_id}{thread}"


def plan_due(job: CronJob, now: datetime, zone: tzinfo) -> DuePlan | None:
    """What to do with ``job`` at ``now``; None while it is not due (or paused, or done)."""
    due = job.next_run_at
    if not job.enabled or due is None or due > now:
        return None
    on_time = now - due <= GRACE
    if isinstance(job.schedule, OnceSchedule):
        return DuePlan(run=on_time, next_run_at=None, missed=not on_time)
    try:
        following = following_run(job.schedule, due, now, zone)
    except ScheduleError:
        following = None
    return DuePlan(run=on_time, next_run_at=following)


def run_stamp(at: datetime) -> str:
    """``YYYYMMDD_HHMMSS`` in UTC: the time part of a run's session id and output file."""
    return at.astimezone(UTC).strftime("%Y%m%d_%H%M%S")


def cron_session_id(job_id: str, at: datetime) -> str:
    """The isolated session of one run: ``cron_<job_id>_<YYYYMMDD_HHMMSS>``."""
    return f"cron_{job_id}_{run_stamp(at)}"


def is_silent(text: str) -> bool:
    """True for an answer that begins with ``[SILENT]`` (saved, never delivered)."""
    return text.lstrip().upper().startswith(SILENT_MARKER)


def failure_notice(name: str, detail: str) -> str:
    """What the target hears when a run fails."""
    return f"⚠️ Cron job '{name}' failed: {detail or 'no answer'}"


def run_instructions(job: CronJob) -> str:
    """The extra system instructions a run starts with."""
    where = {LOCAL: "saved to a file", ORIGIN: "sent to the chat this job was created in"}.get(
        job.deliver, f"sent to {job.deliver}"
    )
    return (
        f"You are running the scheduled job '{job.name}' on your own: nobody is in this "
        "conversation and it has no earlier messages, so do not ask questions. Do what the "
        f"next message asks and answer with the result; your answer will be {where}. If there "
        f"is nothing new worth reporting, answer exactly {SILENT_MARKER} and nothing else."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One finished run, as its output document shows it."""

    job: CronJob
    started_at: datetime
    session_id: str
    text: str
    failed: bool


def render_output(run: RunRecord) -> str:
    """The Markdown document a run leaves in the job's output directory."""
    job = run.job
    heading = "Error" if run.failed else "Response"
    return "\n".join(
        (
            f"# Cron job: {job.name}",
            "",
            f"- Job: {job.job_id}",
            f"- Run at: {run.started_at.astimezone(UTC).isoformat(timespec='seconds')}",
            f"- Schedule: {job.schedule.display}",
            f"- Deliver: {job.deliver}",
            f"- Session: {run.session_id}",
            "",
            "## Prompt",
            "",
            job.prompt,
            "",
            f"## {heading}",
            "",
            run.text,
            "",
        )
    )
