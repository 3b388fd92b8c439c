"""The ``cronjob`` tool: each action reaches the turn's CronHandle; mistakes come back as text."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from hermes.adapters.agents.cron_tools import TOOL_NAME, CronTools
from hermes.adapters.agents.toolbox import toolbox_for
from hermes.messages.agent import TurnContext, TurnPurpose
from hermes.messages.cron import (
    CronError,
    CronJob,
    IntervalSchedule,
    JobAction,
    JobDraft,
    JobEdit,
    RunStatus,
)
from hermes.messages.values import ChatAddress, Platform, SessionKey

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
JOB = CronJob(
    job_id="0123456789ab",
    name="digest",
    prompt="news",
    schedule=IntervalSchedule(every_seconds=3600, display="every 1h"),
    deliver="origin",
    enabled=True,
    next_run_at=T0,
    created_at=T0,
)


class RecordingCron:
    """A CronHandle that records each call and answers with JOB (or fails with ``error``)."""

    def __init__(self, error: str | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.error = error

    async def create(self, draft: JobDraft) -> CronJob:
        return self._record("create", draft)

    async def list_jobs(self) -> tuple[CronJob, ...]:
        self._record("list", None)
        return (JOB, replace(JOB, job_id="ba5eba5eba5e", name="other", last_status=RunStatus.OK))

    async def update(self, job_id: str, edit: JobEdit) -> CronJob:
        return self._record("update", (job_id, edit))

    async def act(self, job_id: str, action: JobAction) -> CronJob:
        return self._record("act", (job_id, action))

    def _record(self, name: str, argument: object) -> CronJob:
        self.calls.append((name, argument))
        if self.error is not None:
            raise CronError(self.error)
        return JOB


def call(tools: CronTools, arguments: object) -> str:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return asyncio.run(tools.run(TOOL_NAME, text))


def test_the_tool_is_described_with_its_actions():
    (definition,) = CronTools(RecordingCron()).definitions()

    function = definition["function"]
    assert function["name"] == "cronjob"
    parameters: dict[str, Any] = dict(function.get("parameters", {}))
    assert parameters["required"] == ["action"]
    assert parameters["properties"]["action"]["enum"] == [
        "create", "list", "update", "pause", "resume", "remove", "run",
    ]  # fmt: skip
    assert "fresh conversation" in function.get("description", "")


def test_create_sends_a_draft_and_reports_the_job():
    cron = RecordingCron()

    text = call(
        CronTools(cron),
        {"action": "create", "prompt": "news", "schedule": "every 1h", "name": "digest"},
    )

    assert cron.calls == [
        ("create", JobDraft(prompt="news", schedule="every 1h", name="digest", deliver=None))
    ]
    assert text.startswith("Scheduled. Job 0123456789ab 'digest': every 1h, scheduled")
    assert "delivers to origin" in text
    assert "next run 2026-11-22T12:00+00:00" in text


def test_list_shows_each_job_on_a_line():
    text = call(CronTools(RecordingCron()), {"action": "list"})

    lines = text.splitlines()
    assert len(lines) == 2
    assert "ba5eba5eba5e 'other'" in lines[1]
    assert ": ok" in lines[1]


@pytest.mark.parametrize(
    ("action", "expected", "prefix"),
    [
        ("pause", JobAction.PAUSE, "Paused."),
        ("resume", JobAction.RESUME, "Resumed."),
        ("remove", JobAction.REMOVE, "Removed."),
        ("run", JobAction.RUN, "Started;"),
    ],
)
def test_the_job_actions_reach_the_handle(action, expected, prefix):
    cron = RecordingCron()

    text = call(CronTools(cron), {"action": action, "job_id": "0123456789ab"})

    assert cron.calls == [("act", ("0123456789ab", expected))]
    assert text.startswith(prefix)


def test_update_sends_only_the_fields_given():
    cron = RecordingCron()

    call(CronTools(cron), {"action": "update", "job_id": "0123456789ab", "schedule": "every 2h"})

    assert cron.calls == [("update", ("0123456789ab", JobEdit(schedule="every 2h")))]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ("", "at least 'action'"),
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({"action": "explode"}, "'action' must be one of"),
        ({"action": "create", "schedule": "1h"}, "'prompt' is required"),
        ({"action": "pause"}, "'job_id' is required"),
        ({"action": "update", "job_id": "0123456789ab"}, "at least one of"),
        ({"action": "list", "color": "red"}, "unknown argument 'color'"),
        ({"action": "create", "prompt": 5, "schedule": "1h"}, "must be a string"),
    ],
)
def test_bad_calls_come_back_as_errors_for_the_model(arguments, fragment):
    cron = RecordingCron()

    text = call(CronTools(cron), arguments)

    assert text.startswith("Error: ")
    assert fragment in text
    assert cron.calls == []


def test_a_refusal_of_the_scheduler_comes_back_as_text():
    text = call(CronTools(RecordingCron(error="too often")), {"action": "run", "job_id": "x"})

    assert text == "Error: too often"


def context(cron=None, purpose=TurnPurpose.REPLY) -> TurnContext:
    return TurnContext(
        turn_id="t",
        session_key=SessionKey(value="k"),
        session_id="s",
        memory_scope="k",
        origin=ChatAddress(platform=Platform.TELEGRAM, chat_id="1"),
        history=(),
        inputs=("hi",),
        cron=cron,
        purpose=purpose,
    )


def test_the_toolbox_offers_cronjob_to_reply_turns_with_a_handle_only():
    cron = RecordingCron()

    toolbox = toolbox_for(context(cron))
    assert toolbox is not None
    assert [d["function"]["name"] for d in toolbox.definitions()] == ["cronjob"]
    assert toolbox_for(context(None)) is None
    assert toolbox_for(context(cron, TurnPurpose.FLUSH)) is None
    assert "Removed." in asyncio.run(
        toolbox.run("cronjob", '{"action": "remove", "job_id": "0123456789ab"}')
    )
