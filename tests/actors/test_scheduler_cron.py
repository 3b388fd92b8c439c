"""The Scheduler's cron jobs, with recording collaborators and a controllable clock.

The due check is driven by telling ``CheckDueJobs`` after moving the ``FakeClock``; every
sequence of tells ends with a job request, whose answer comes after everything told before it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hermes.actors.cron_client import CronClient
from hermes.actors.cron_runs import write_output
from hermes.actors.scheduler import CronDeps, SchedulerActor
from hermes.messages.agent import StartTurn, TurnCompleted, TurnFailed, TurnFailure, TurnResult
from hermes.messages.cron import (
    ChangeJob,
    CheckDueJobs,
    CreateJob,
    CronError,
    CronJob,
    IntervalSchedule,
    JobAction,
    JobDraft,
    JobEdit,
    JobOwner,
    JobState,
    ListJobs,
    OnceSchedule,
    RunStatus,
)
from hermes.messages.delivery import DeliverToTarget, DeliveryFailed, MessageDelivered, OutboundKind
from hermes.messages.scheduler import ArmTimer, TimerFired
from hermes.messages.store import DeleteCronJob, SaveCronJob
from hermes.messages.values import ChatAddress, Platform, Sender
from hermes.policies.cron import RunRecord
from tests.fakes.recording import FakeClock, RecordingAddress

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CHAT = ChatAddress(platform=Platform.TELEGRAM, chat_id="-100", thread_id="7")
ALICE = JobOwner(origin=CHAT, creator=Sender(user_id="1001"))
BOB = JobOwner(origin=CHAT, creator=Sender(user_id="2002"))


class Harness:
    def __init__(self, tmp_path, jobs: tuple[CronJob, ...] = (), clock=None) -> None:
        self.clock = clock or FakeClock(START)
        self.runtime = RecordingAddress("runtime")
        self.delivery = RecordingAddress("delivery")
        self.store = RecordingAddress("store")
        self.output = tmp_path / "cron" / "output"
        self.scheduler = SchedulerActor()
        self.scheduler.start()
        self.scheduler.start_jobs(
            CronDeps(
                jobs=jobs,
                runtime=self.runtime,
                delivery=self.delivery,
                store=self.store,
                clock=self.clock,
                zone=UTC,
                output_dir=self.output,
            )
        )
        self.client = CronClient(self.scheduler.address, timeout=5.0)

    def create(self, schedule: str, owner: JobOwner | None = ALICE, **fields) -> CronJob:
        draft = JobDraft(prompt=fields.pop("prompt", "say hi"), schedule=schedule, **fields)
        (job,) = self.client.ask(lambda r: CreateJob(draft=draft, owner=owner, reply_to=r))
        return job

    def jobs(self, owner: JobOwner | None = None) -> dict[str, CronJob]:
        jobs = self.client.ask(lambda r: ListJobs(owner=owner, reply_to=r))
        return {job.job_id: job for job in jobs}

    def change(self, job_id: str, change, owner: JobOwner | None = ALICE) -> CronJob:
        (job,) = self.client.ask(
            lambda r: ChangeJob(job_id=job_id, change=change, owner=owner, reply_to=r)
        )
        return job

    def tick(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.scheduler.address.tell(CheckDueJobs())

    def answer(self, start: StartTurn, text: str) -> None:
        start.reply_to.tell(
            TurnCompleted(turn_id=start.context.turn_id, result=TurnResult(text=text))
        )

    def outputs(self, job_id: str) -> list[str]:
        directory = self.output / job_id
        if not directory.exists():
            return []
        return [p.read_text(encoding="utf-8") for p in sorted(directory.iterdir())]

    def stop(self) -> None:
        self.scheduler.stop(2.0)


@pytest.fixture
def cron(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.stop()


def saved(harness: Harness, job_id: str) -> list[CronJob]:
    return [w.job for w in harness.store.of_type(SaveCronJob) if w.job.job_id == job_id]


# -- creating and changing -----------------------------------------------------------------------


def test_a_created_job_is_saved_and_listed_for_its_owner_only(cron):
    job = cron.create("every 1h", name="hourly")

    assert job.next_run_at == START + timedelta(hours=1)
    assert (job.origin, job.creator, job.deliver) == (CHAT, ALICE.creator, "origin")
    assert cron.store.expect(SaveCronJob).job == job
    assert list(cron.jobs(ALICE)) == [job.job_id]
    assert cron.jobs(BOB) == {}
    assert list(cron.jobs(None)) == [job.job_id]
    with pytest.raises(CronError, match="there is no job"):
        cron.change(job.job_id, JobAction.PAUSE, owner=BOB)


def test_a_bad_schedule_or_target_is_refused_with_its_reason(cron):
    with pytest.raises(CronError, match="too often"):
        cron.create("every 10s")
    with pytest.raises(CronError, match="unknown delivery target"):
        cron.create("every 1h", deliver="slack")
    with pytest.raises(CronError, match="'origin' means the chat"):
        cron.create("every 1h", owner=None, deliver="origin")
    assert cron.jobs() == {}
    assert cron.store.of_type(SaveCronJob) == []


def test_an_operators_job_delivers_locally_by_default(cron):
    job = cron.create("every 1h", owner=None)

    assert (job.deliver, job.origin, job.creator) == ("local", None, None)


def test_pause_resume_edit_and_remove(cron):
    job = cron.create("every 1h")

    paused = cron.change(job.job_id, JobAction.PAUSE)
    assert (paused.state, paused.next_run_at) == (JobState.PAUSED, None)
    cron.tick(hours=2)
    assert cron.runtime.of_type(StartTurn) == []

    resumed = cron.change(job.job_id, JobAction.RESUME)
    assert resumed.next_run_at == START + timedelta(hours=3)

    edited = cron.change(job.job_id, JobEdit(schedule="every 30m", name="renamed"))
    assert (edited.name, edited.schedule.display) == ("renamed", "every 30m")
    assert edited.next_run_at == START + timedelta(hours=2, minutes=30)

    cron.change(job.job_id, JobAction.REMOVE)
    assert cron.store.expect(DeleteCronJob).job_id == job.job_id
    assert cron.jobs() == {}


def test_a_one_shot_whose_time_passed_cannot_be_resumed(cron):
    job = cron.create("30m")
    cron.change(job.job_id, JobAction.PAUSE)
    cron.clock.advance(hours=1)

    with pytest.raises(CronError, match="has passed"):
        cron.change(job.job_id, JobAction.RESUME)


# -- runs ------------------------------------------------------------------------------------------


def test_a_due_job_runs_as_a_fresh_isolated_turn_and_is_delivered_to_its_origin(cron):
    job = cron.create("30m", prompt="check the weather")

    cron.tick(minutes=30)
    start = cron.runtime.expect(StartTurn)

    context = start.context
    assert context.session_id == f"cron_{job.job_id}_20261122_123000"
    assert (context.history, context.inputs) == ((), ("check the weather",))
    assert (context.memory, context.cron) == (None, None)
    assert "[SILENT]" in (context.system_prompt or "")
    cron.answer(start, "Sunny all day.")
    deliver = cron.delivery.expect(DeliverToTarget)
    assert (deliver.target, deliver.text, deliver.kind) == (
        "origin",
        "Sunny all day.",
        OutboundKind.REPLY,
    )
    assert deliver.origin is not None
    assert (deliver.origin.chat_id, deliver.origin.thread_id) == ("-100", "7")
    (document,) = cron.outputs(job.job_id)
    assert "## Response\n\nSunny all day." in document

    deliver.reply_to.tell(MessageDelivered(delivery_id=deliver.delivery_id))
    done = cron.jobs()[job.job_id]
    assert (done.state, done.last_status, done.next_run_at) == (
        JobState.COMPLETED,
        RunStatus.OK,
        None,
    )
    assert done.last_run_at == START + timedelta(minutes=30)
    assert saved(cron, job.job_id)[-1] == done


def test_a_silent_answer_is_saved_but_not_delivered(cron):
    job = cron.create("every 1h")
    cron.tick(hours=1)
    cron.answer(cron.runtime.expect(StartTurn), "[SILENT] nothing new")

    assert cron.jobs()[job.job_id].last_status is RunStatus.SILENT
    assert cron.delivery.of_type(DeliverToTarget) == []
    assert "[SILENT] nothing new" in cron.outputs(job.job_id)[0]


def test_a_failed_run_delivers_a_short_notice_and_records_the_error(cron):
    job = cron.create("every 1h", name="digest")
    cron.tick(hours=1)
    start = cron.runtime.expect(StartTurn)
    start.reply_to.tell(
        TurnFailed(
            turn_id=start.context.turn_id, failure=TurnFailure.ERROR, detail="the model is down"
        )
    )

    deliver = cron.delivery.expect(DeliverToTarget)
    assert deliver.text == "⚠️ Cron job 'digest' failed: the model is down"
    assert deliver.kind is OutboundKind.ERROR
    deliver.reply_to.tell(MessageDelivered(delivery_id=deliver.delivery_id))
    failed = cron.jobs()[job.job_id]
    assert (failed.last_status, failed.last_error) == (RunStatus.FAILED, "the model is down")
    assert failed.state is JobState.SCHEDULED
    assert "## Error\n\nthe model is down" in cron.outputs(job.job_id)[0]


def test_an_undeliverable_answer_is_recorded(cron):
    job = cron.create("every 1h", deliver="discord")
    cron.tick(hours=1)
    cron.answer(cron.runtime.expect(StartTurn), "hello")
    deliver = cron.delivery.expect(DeliverToTarget)
    assert deliver.target == "discord"

    deliver.reply_to.tell(
        DeliveryFailed(delivery_id=deliver.delivery_id, reason="discord has no home channel")
    )

    done = cron.jobs()[job.job_id]
    assert (done.last_status, done.last_error) == (
        RunStatus.UNDELIVERED,
        "discord has no home channel",
    )


def test_a_local_job_is_only_saved(cron):
    job = cron.create("every 1h", deliver="local")
    cron.tick(hours=1)
    cron.answer(cron.runtime.expect(StartTurn), "for the file")

    assert cron.jobs()[job.job_id].last_status is RunStatus.OK
    assert cron.delivery.of_type(DeliverToTarget) == []
    assert "for the file" in cron.outputs(job.job_id)[0]


def test_due_jobs_run_concurrently_and_a_hung_one_holds_up_none(cron):
    jobs = [cron.create("every 1h", prompt=f"job {i}") for i in range(5)]
    cron.tick(hours=1)

    cron.runtime.expect(StartTurn, count=5)
    starts = {s.context.inputs[0]: s for s in cron.runtime.of_type(StartTurn)}
    assert len(starts) == 5
    for i in range(1, 5):
        cron.answer(starts[f"job {i}"], f"answer {i}")
    cron.delivery.expect(DeliverToTarget, count=4)

    assert sorted(d.text for d in cron.delivery.of_type(DeliverToTarget)) == [
        f"answer {i}" for i in range(1, 5)
    ]
    assert cron.scheduler.status(2.0).running_jobs == 5  # 4 await delivery, 1 hangs
    for deliver in cron.delivery.of_type(DeliverToTarget):
        deliver.reply_to.tell(MessageDelivered(delivery_id=deliver.delivery_id))
    cron.tick(hours=1)  # all due again: the four start anew, the hung one not twice
    listed = cron.jobs()
    assert len(cron.runtime.of_type(StartTurn)) == 9
    assert [s.context.inputs[0] for s in cron.runtime.of_type(StartTurn)].count("job 0") == 1
    assert listed[jobs[0].job_id].next_run_at == START + timedelta(hours=3)
    assert {listed[j.job_id].last_status for j in jobs[1:]} == {RunStatus.OK}


def test_run_now_fires_once_and_not_twice_at_a_time(cron):
    job = cron.create("every 1d")
    paused = cron.change(job.job_id, JobAction.PAUSE)

    ran = cron.change(job.job_id, JobAction.RUN)

    start = cron.runtime.expect(StartTurn)
    assert start.context.session_id.startswith(f"cron_{job.job_id}_")
    assert ran.last_run_at == START
    assert ran.state is JobState.PAUSED
    assert ran.next_run_at == paused.next_run_at
    with pytest.raises(CronError, match="running already"):
        cron.change(job.job_id, JobAction.RUN)


def test_the_outcome_of_a_removed_jobs_run_is_dropped(cron):
    job = cron.create("every 1h", deliver="local")
    cron.change(job.job_id, JobAction.RUN)
    start = cron.runtime.expect(StartTurn)
    cron.change(job.job_id, JobAction.REMOVE)
    cron.answer(start, "late")

    assert cron.jobs() == {}
    assert saved(cron, job.job_id)[-1].last_status is None


def test_an_edited_finished_one_shot_is_scheduled_again(cron):
    job = cron.create("10m", deliver="local")
    cron.tick(minutes=10)
    cron.answer(cron.runtime.expect(StartTurn), "done")
    assert cron.jobs()[job.job_id].state is JobState.COMPLETED

    again = cron.change(job.job_id, JobEdit(schedule="1h"))

    assert again.state is JobState.SCHEDULED
    assert again.next_run_at == START + timedelta(minutes=70)


# -- jobs loaded at start: missed runs --------------------------------------------------


def stored(job_id: str, schedule, next_run_at: datetime) -> CronJob:
    return CronJob(
        job_id=job_id,
        name=job_id,
        prompt="p",
        schedule=schedule,
        deliver="local",
        enabled=True,
        next_run_at=next_run_at,
        created_at=START - timedelta(days=3),
    )


def test_missed_runs_are_skipped_and_a_one_shot_late_by_less_than_two_minutes_runs(tmp_path):
    hourly = IntervalSchedule(every_seconds=3600, display="every 1h")
    loaded = (
        stored("aaaaaaaaaaaa", hourly, START - timedelta(hours=5, minutes=30)),
        stored("bbbbbbbbbbbb", OnceSchedule(run_at=START - timedelta(minutes=10), display="x"),
               START - timedelta(minutes=10)),
        stored("cccccccccccc", OnceSchedule(run_at=START - timedelta(seconds=90), display="y"),
               START - timedelta(seconds=90)),
    )  # fmt: skip
    harness = Harness(tmp_path, jobs=loaded)
    try:
        jobs = harness.jobs()
        (start,) = harness.runtime.of_type(StartTurn)
        assert start.context.session_id.startswith("cron_cccccccccccc_")
        assert jobs["aaaaaaaaaaaa"].next_run_at == START + timedelta(minutes=30)
        assert jobs["aaaaaaaaaaaa"].last_run_at is None
        missed = jobs["bbbbbbbbbbbb"]
        assert (missed.state, missed.last_status) == (JobState.COMPLETED, RunStatus.MISSED)
        assert "not running" in (missed.last_error or "")
    finally:
        harness.stop()


def test_the_scheduler_wakes_by_itself_when_a_job_comes_due(tmp_path):
    class RealClock:
        def now(self) -> datetime:
            return datetime.now(UTC)

    harness = Harness(tmp_path, clock=RealClock())
    try:
        harness.create("1s", deliver="local")
        harness.runtime.expect(StartTurn, timeout=5.0)
    finally:
        harness.stop()


def test_once_stopping_no_job_starts_and_requests_are_refused(cron):
    cron.create("every 1h")
    cron.scheduler.stop_jobs()
    cron.tick(hours=2)

    with pytest.raises(CronError, match="not running"):
        cron.jobs()
    assert cron.runtime.of_type(StartTurn) == []


def test_timers_keep_working_beside_jobs(cron):
    probe = RecordingAddress("timer")
    cron.scheduler.address.tell(ArmTimer(key="idle", delay_seconds=0.01, reply_to=probe))
    cron.create("every 1h")

    assert probe.expect(TimerFired).key == "idle"
    status = cron.scheduler.status(2.0)
    assert (status.timers, status.jobs) == (0, 1)


def test_a_second_run_in_the_same_second_does_not_overwrite_the_first(tmp_path):
    job = stored("dddddddddddd", IntervalSchedule(every_seconds=60, display="every 1m"), START)
    record = RunRecord(job=job, started_at=START, session_id="s", text="one", failed=False)

    first = write_output(tmp_path, record)
    second = write_output(tmp_path, replace(record, text="two"))

    assert (first.name, second.name) == ("20261122_120000.md", "20261122_120000_2.md")
    assert "one" in first.read_text(encoding="utf-8")
    forged = replace(job)
    object.__setattr__(forged, "job_id", "../../escape")  # past CronJob's own check
    with pytest.raises(ValueError, match="refusing"):
        write_output(tmp_path, replace(record, job=forged))
    assert not (tmp_path.parent / "escape").exists()
