"""SchedulerActor: keyed timers for the other actors, and cron jobs, on an event loop of its own.

Owns the armed timers and the cron jobs. Accepts ``SchedulerCommand``; emits ``TimerFired`` to
a timer's ``reply_to``. Arming a key again replaces its timer; a cancelled or replaced timer
never fires. Timers run on the loop's monotonic clock, so wall-clock jumps do not fire or delay
them. Jobs start once the System hands over what they need (``start_jobs``): the actor then
wakes for the next due job (at least every ``CHECK_SECONDS``), runs due jobs concurrently (a
``JobRunner``) and answers job requests with ``JobsAnswer``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Final, assert_never

from hermes.actors.cron_book import JobBook
from hermes.actors.cron_runs import JobRunner, RunnerDeps
from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import AgentRuntimeCommand, TurnCompleted, TurnEvent, TurnFailed
from hermes.messages.cron import (
    ChangeJob,
    CheckDueJobs,
    CreateJob,
    CronJob,
    JobAction,
    JobEdit,
    JobRequest,
    JobsAnswer,
    ListJobs,
)
from hermes.messages.delivery import (
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    MessageDelivered,
)
from hermes.messages.ports import Clock
from hermes.messages.scheduler import (
    ArmTimer,
    CancelTimer,
    SchedulerCommand,
    SchedulerStatus,
    TimerFired,
)
from hermes.messages.store import StoreCommand
from hermes.policies.cron import JobError
from hermes.policies.schedules import ScheduleError

logger = logging.getLogger(__name__)

CHECK_SECONDS: Final = 60.0
"""The longest the Scheduler sleeps between two looks for due jobs (wall-clock jumps)."""
MIN_WAKE_SECONDS: Final = 0.05
"""The shortest wake-up delay: a job already due is looked at soon, never in a busy loop."""
NOT_RUNNING: Final = "scheduled jobs are not running (the gateway is starting or stopping)"

_Inbox = SchedulerCommand | TurnEvent | DeliveryEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class CronDeps:
    """What the Scheduler needs to run jobs; handed over once the runtime and Delivery run."""

    jobs: tuple[CronJob, ...]
    """The jobs loaded from the Store at start."""
    runtime: Address[AgentRuntimeCommand]
    delivery: Address[DeliveryCommand]
    store: Address[StoreCommand]
    clock: Clock
    zone: tzinfo
    """The gateway's zone: cron expressions and naive timestamps are read in it."""
    output_dir: Path
    """``$HERMES_HOME/cron/output``."""


@dataclass(slots=True, kw_only=True)
class _Cron:
    deps: CronDeps
    book: JobBook
    runner: JobRunner
    stopping: bool = False


class SchedulerActor:
    """The owner of keyed timers and cron jobs.

    Accepts: ``ArmTimer``, ``CancelTimer``, the job requests (``CreateJob``, ``ListJobs``,
        ``ChangeJob``), ``CheckDueJobs``; the outcomes of its runs (``TurnCompleted``,
        ``TurnFailed``, ``MessageDelivered``, ``DeliveryFailed``); ``status()`` from the edges.
    Emits: ``TimerFired`` to each timer's ``reply_to``; ``JobsAnswer`` to each job request's;
        ``StartTurn`` to the AgentRuntime, ``DeliverToTarget`` to Delivery, ``SaveCronJob`` /
        ``DeleteCronJob`` to the Store.
    Owns: key -> armed timer handle, the job book, the runs in flight; all touched only on its
        loop thread.
    Lifecycle: started by the System before the Router; ``start_jobs`` once the platforms run,
        ``stop_jobs`` when the System begins to stop; stopped after the Router.
    """

    def __init__(self) -> None:
        """Prepare the loop; nothing runs until ``start``."""
        self._loop_thread = LoopThread("scheduler")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._cron: _Cron | None = None
        self._wake: asyncio.TimerHandle | None = None
        self._inbox: LoopAddress[_Inbox] = LoopAddress(self._loop_thread, self._on_receive)
        self.address: Address[SchedulerCommand] = self._inbox

    def start(self) -> None:
        """Start the loop thread."""
        self._loop_thread.start()

    def start_jobs(self, deps: CronDeps) -> None:
        """Take the jobs and their collaborators, and begin running jobs that come due."""
        self._loop_thread.call(self._start_jobs, deps)

    def stop_jobs(self) -> None:
        """Start no more runs (the gateway is stopping); runs in flight still report."""
        try:
            self._loop_thread.call(self._stop_jobs)
        except AddressClosedError:
            return

    def stop(self, timeout: float) -> None:
        """Cancel every timer and stop the loop thread."""
        try:
            self._loop_thread.call(self._cancel_all)
        except AddressClosedError:
            return
        self._loop_thread.stop(timeout)

    def status(self, timeout: float) -> SchedulerStatus:
        """How many timers are armed and jobs kept (edge use: admin, tests)."""
        return self._loop_thread.run(self._status(), timeout)

    def _on_receive(self, message: _Inbox) -> None:
        match message:
            case ArmTimer():
                self._on_arm_timer(message)
            case CancelTimer():
                self._cancel(self._timers.pop(message.key, None))
            case CreateJob() | ListJobs() | ChangeJob():
                self._on_job_request(message)
            case CheckDueJobs():
                self._check_due()
            case TurnCompleted() | TurnFailed():
                if self._cron is not None:
                    self._cron.runner.on_turn(message)
            case MessageDelivered() | DeliveryFailed():
                if self._cron is not None:
                    self._cron.runner.on_delivery(message)
            case _:
                assert_never(message)

    def _on_arm_timer(self, message: ArmTimer) -> None:
        self._cancel(self._timers.pop(message.key, None))
        self._timers[message.key] = self._loop_thread.loop.call_later(
            message.delay_seconds, self._fire, message
        )

    def _fire(self, timer: ArmTimer) -> None:
        del self._timers[timer.key]
        try:
            timer.reply_to.tell(TimerFired(key=timer.key))
        except AddressClosedError:
            logger.debug("timer %s fired for an actor that has stopped", timer.key)

    # -- cron jobs --------------------------------------------------------------------------

    def _start_jobs(self, deps: CronDeps) -> None:
        book = JobBook(deps.jobs, deps.store, deps.clock, deps.zone)
        runner_deps = RunnerDeps(
            runtime=deps.runtime,
            delivery=deps.delivery,
            inbox=self._inbox,
            output_dir=deps.output_dir,
            loop=self._loop_thread.loop,
        )
        self._cron = _Cron(deps=deps, book=book, runner=JobRunner(runner_deps, book.finished))
        logger.info("cron: %d jobs; times are read in %s", len(book), deps.zone)
        self._check_due()

    def _stop_jobs(self) -> None:
        if self._cron is not None:
            self._cron.stopping = True
        self._cancel(self._wake)
        self._wake = None

    def _on_job_request(self, request: JobRequest) -> None:
        cron = self._cron
        if cron is None or cron.stopping:
            answer = JobsAnswer(error=NOT_RUNNING)
        else:
            try:
                answer = JobsAnswer(jobs=self._carry_out(cron, request))
            except (JobError, ScheduleError) as error:
                answer = JobsAnswer(error=str(error))
        try:
            request.reply_to.tell(answer)
        except AddressClosedError:
            logger.debug("the requester of a job request has gone")
        self._arm_wake()

    def _carry_out(self, cron: _Cron, request: JobRequest) -> tuple[CronJob, ...]:
        match request:
            case CreateJob(draft=draft, owner=owner):
                return (cron.book.create(draft, owner),)
            case ListJobs(owner=owner):
                return cron.book.visible(owner)
            case ChangeJob():
                return (self._change(cron, request),)
            case _:
                assert_never(request)

    def _change(self, cron: _Cron, request: ChangeJob) -> CronJob:
        book = cron.book
        job = book.find(request.job_id, request.owner)
        change = request.change
        match change:
            case JobEdit():
                return book.edit(job, change)
            case JobAction.RUN:
                if cron.runner.running(job.job_id):
                    raise JobError(f"job {job.job_id} is running already")
                now = cron.deps.clock.now()
                cron.runner.start(job, now)
                return book.started(job, now, None)
            case JobAction.PAUSE | JobAction.RESUME | JobAction.REMOVE:
                return book.act(job, change)
            case _:
                assert_never(change)

    def _check_due(self) -> None:
        cron = self._cron
        if cron is None or cron.stopping:
            return
        now = cron.deps.clock.now()
        for job, plan in cron.book.due(now):
            if plan.run and not cron.runner.running(job.job_id):
                cron.runner.start(job, now)
                cron.book.started(job, now, plan)
            else:
                cron.book.passed_over(job, plan, now)
        self._arm_wake()

    def _arm_wake(self) -> None:
        cron = self._cron
        self._cancel(self._wake)
        self._wake = None
        if cron is None or cron.stopping:
            return
        delay = CHECK_SECONDS
        due = cron.book.next_due()
        if due is not None:
            until = (due - cron.deps.clock.now()).total_seconds()
            delay = min(CHECK_SECONDS, max(MIN_WAKE_SECONDS, until))
        self._wake = self._loop_thread.loop.call_later(delay, self._check_due)

    # -- housekeeping -----------------------------------------------------------------------

    def _cancel(self, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()

    def _cancel_all(self) -> None:
        for handle in self._timers.values():
            self._cancel(handle)
        self._timers.clear()
        self._stop_jobs()
        if self._cron is not None:
            self._cron.runner.close()

    async def _status(self) -> SchedulerStatus:
        cron = self._cron
        return SchedulerStatus(
            timers=len(self._timers),
            jobs=len(cron.book) if cron else 0,
            running_jobs=len(cron.runner) if cron else 0,
        )
