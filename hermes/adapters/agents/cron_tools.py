"""The ``cronjob`` tool: the agent schedules, lists and manages jobs for the chat it is in.

One tool with an ``action`` (create, list, update, pause, resume, remove, run), as the
original's. Every call goes through the turn's ``CronHandle``, which is bound to the chat and
user of the turn: jobs made here are delivered here by default, and the model can only see and
change the jobs its user made in this chat. Whatever goes wrong comes back to the model as
text, never as an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from hermes.adapters.agents.tool_arguments import (
    BadCallError,
    function_tool,
    parse_arguments,
    required,
)
from hermes.messages.cron import CronError, CronHandle, CronJob, JobAction, JobDraft, JobEdit

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionToolParam

logger = logging.getLogger(__name__)

TOOL_NAME: Final = "cronjob"
ACTIONS: Final = ("create", "list", "update", "pause", "resume", "remove", "run")
MAX_ARGUMENT_CHARS: Final = 10_000
DESCRIPTION: Final = (
    "Schedule work for later or on a repeat, and manage the jobs you scheduled in this chat. "
    "A job runs on its own, in a fresh conversation with no memory of this one, so its prompt "
    "must say everything needed; its final answer is delivered automatically (by default to "
    "this chat), so do not ask it to send messages. A job cannot schedule other jobs. "
    "Schedules: '30m' or '2h' (once, from now), 'every 2h', a cron expression "
    "'0 9 * * 1-5' (minute hour day month weekday, in the gateway's local time), or an ISO "
    "time '2026-12-24T18:00'. Actions: create (prompt, schedule; optional name, deliver), "
    "list, update (job_id and the fields to change), pause, resume, remove, run (now, once)."
)
_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "action": {"type": "string", "enum": list(ACTIONS), "description": "What to do."},
    "job_id": {"type": "string", "description": "The job (update, pause, resume, remove, run)."},
    "prompt": {"type": "string", "description": "What the job does when it runs."},
    "schedule": {"type": "string", "description": "When it runs (see the forms above)."},
    "name": {"type": "string", "description": "A short name for the job."},
    "deliver": {
        "type": "string",
        "description": "Where the answer goes: origin (this chat, the default), local "
        "(saved only), telegram or discord (their home channel), or platform:chat_id.",
    },
}


@dataclass(frozen=True, slots=True)
class CronTools:
    """The ``cronjob`` tool, bound to one turn's ``CronHandle`` (a ``ToolGroup``)."""

    cron: CronHandle

    def definitions(self) -> list[ChatCompletionToolParam]:
        """The one tool, in the OpenAI ``tools`` format (a fresh list on every call)."""
        return [function_tool(TOOL_NAME, DESCRIPTION, _FIELDS, ("action",))]

    def offers(self, name: str) -> bool:
        """True for ``cronjob``."""
        return name == TOOL_NAME

    async def run(self, name: str, arguments: str) -> str:
        """Run one ``cronjob`` call; the result (or ``Error: ...``) for the model."""
        del name
        try:
            return await self._dispatch(_arguments(arguments))
        except BadCallError as error:
            logger.info("the model made a bad cronjob call: %s", error)
            return f"Error: {error}"
        except CronError as error:
            return f"Error: {error}"

    async def _dispatch(self, args: dict[str, str]) -> str:
        action = args.get("action", "")
        if action not in ACTIONS:
            raise BadCallError(f"'action' must be one of {', '.join(ACTIONS)}")
        if action == "create":
            draft = JobDraft(
                prompt=required(args, "prompt"),
                schedule=required(args, "schedule"),
                name=args.get("name"),
                deliver=args.get("deliver"),
            )
            return "Scheduled. " + describe(await self.cron.create(draft))
        if action == "list":
            jobs = await self.cron.list_jobs()
            return "\n".join(describe(job) for job in jobs) or "No jobs are scheduled here."
        job_id = required(args, "job_id")
        if action == "update":
            edit = JobEdit(
                prompt=args.get("prompt"),
                schedule=args.get("schedule"),
                name=args.get("name"),
                deliver=args.get("deliver"),
            )
            if edit == JobEdit():
                raise BadCallError("update needs at least one of prompt, schedule, name, deliver")
            return "Updated. " + describe(await self.cron.update(job_id, edit))
        job_action = JobAction(action)
        job = await self.cron.act(job_id, job_action)
        return f"{_DONE[job_action]} {describe(job)}"


_DONE: Final = {
    JobAction.PAUSE: "Paused.",
    JobAction.RESUME: "Resumed.",
    JobAction.REMOVE: "Removed.",
    JobAction.RUN: "Started; its answer will be delivered when it finishes.",
}


def describe(job: CronJob) -> str:
    """One job in one line, for the model."""
    parts = [
        f"Job {job.job_id} '{job.name}': {job.schedule.display}, {job.state.value}",
        f"delivers to {job.deliver}",
    ]
    if job.next_run_at is not None:
        parts.append(f"next run {_time(job.next_run_at)}")
    if job.last_status is not None:
        error = f" ({job.last_error})" if job.last_error else ""
        parts.append(f"last run {_time(job.last_run_at)}: {job.last_status.value}{error}")
    return "; ".join(parts) + "."


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="minutes")


def _arguments(arguments: str) -> dict[str, str]:
    if not arguments.strip():
        raise BadCallError("the arguments are missing: at least 'action' is needed")
    return parse_arguments(arguments, _FIELDS, max_chars=MAX_ARGUMENT_CHARS)
