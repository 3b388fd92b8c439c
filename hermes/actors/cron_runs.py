"""The runs of cron jobs: each a fresh turn in an isolated session, then its file and delivery.

Used only on the Scheduler's loop thread. A run tells the AgentRuntime ``StartTurn`` with a
``TurnContext`` of its own (session ``cron_<job_id>_<YYYYMMDD_HHMMSS>``, no history, no memory,
no cron tools: a job never schedules jobs), so it is bounded by the runtime's ``turn_timeout``
and a hung run holds up nothing else. Its outcome is written to
``<output_dir>/<job_id>/<YYYYMMDD_HHMMSS>.md``, then delivered (``[SILENT]`` answers and
``local`` jobs are not), and the run's status goes to ``on_finished``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import (
    AgentRuntimeCommand,
    StartTurn,
    TurnCompleted,
    TurnContext,
    TurnEvent,
    TurnFailed,
    TurnFailure,
)
from hermes.messages.cron import CronJob, RunStatus, is_job_id
from hermes.messages.delivery import (
    DeliverToTarget,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    MessageDelivered,
    OutboundKind,
)
from hermes.messages.values import ChatAddress, Platform, SessionKey
from hermes.policies.cron import (
    LOCAL,
    ORIGIN,
    RunRecord,
    cron_session_id,
    failure_notice,
    is_silent,
    render_output,
    run_instructions,
    run_stamp,
)

logger = logging.getLogger(__name__)

DELIVERY_WAIT_SECONDS: Final = 600.0
"""A delivery not confirmed within this long is recorded as undelivered."""
OPERATOR_ORIGIN: Final = ChatAddress(platform=Platform.CONSOLE, chat_id="cron", chat_name="cron")
"""The ``origin`` of a run of a job an operator made (it came from no chat)."""

Finished = Callable[[str, RunStatus, str | None], None]
"""Told (job_id, status, error) when a run has ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerDeps:
    """What the runner sends to, and where it writes."""

    runtime: Address[AgentRuntimeCommand]
    delivery: Address[DeliveryCommand]
    inbox: Address[TurnEvent | DeliveryEvent]
    """The Scheduler's own address: turn and delivery outcomes come back through it."""
    output_dir: Path
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True, kw_only=True)
class _Run:
    job: CronJob
    """The job as it was when the run started."""
    started_at: datetime
    session_id: str
    turn_id: str
    failed: bool = False
    error: str | None = None
    delivery_id: str | None = None
    timeout: asyncio.TimerHandle | None = None


class JobRunner:
    """The runs in flight: by turn while the agent works, by delivery while it is sent."""

    def __init__(self, deps: RunnerDeps, on_finished: Finished) -> None:
        """Run turns through ``deps``; report every ended run to ``on_finished``."""
        self._deps = deps
        self._on_finished = on_finished
        self._by_turn: dict[str, _Run] = {}
        self._by_delivery: dict[str, _Run] = {}

    def __len__(self) -> int:
        """How many runs are in flight."""
        return len(self._by_turn) + len(self._by_delivery)

    def running(self, job_id: str) -> bool:
        """True while a run of ``job_id`` is in flight."""
        runs = (*self._by_turn.values(), *self._by_delivery.values())
        return any(run.job.job_id == job_id for run in runs)

    def start(self, job: CronJob, at: datetime) -> None:
        """Start a run of ``job`` as of ``at``."""
        run = _Run(
            job=job,
            started_at=at,
            session_id=cron_session_id(job.job_id, at),
            turn_id=secrets.token_hex(8),
        )
        context = TurnContext(
            turn_id=run.turn_id,
            session_key=SessionKey(value=f"cron:{job.job_id}"),
            session_id=run.session_id,
            memory_scope=f"cron:{job.job_id}",
            origin=job.origin or OPERATOR_ORIGIN,
            history=(),
            inputs=(job.prompt,),
            system_prompt=run_instructions(job),
        )
        self._by_turn[run.turn_id] = run
        logger.info("cron job %s (%s) runs as %s", job.job_id, job.name, run.session_id)
        try:
            self._deps.runtime.tell(StartTurn(context=context, reply_to=self._deps.inbox))
        except AddressClosedError:
            del self._by_turn[run.turn_id]
            self._on_finished(job.job_id, RunStatus.FAILED, "the agent runtime has stopped")

    def on_turn(self, event: TurnEvent) -> None:
        """A run's turn ended: save its outcome, then deliver it (or not)."""
        run = self._by_turn.pop(event.turn_id, None)
        if run is None:
            return
        if isinstance(event, TurnCompleted):
            text = event.result.text
        else:
            run.failed, run.error = True, event.detail or event.failure.value
            text = run.error
        self._save_output(run, text)
        if isinstance(event, TurnFailed) and event.failure is TurnFailure.CANCELLED:
            self._finish(run, RunStatus.FAILED, "cancelled (the gateway was stopping)")
        elif not run.failed and is_silent(text):
            self._finish(run, RunStatus.SILENT, None)
        elif run.job.deliver == LOCAL:
            self._finish(run, RunStatus.FAILED if run.failed else RunStatus.OK, run.error)
        else:
            notice = failure_notice(run.job.name, text) if run.failed else text
            self._deliver(run, notice)

    def on_delivery(self, event: DeliveryEvent) -> None:
        """A run's delivery was confirmed or failed."""
        run = self._by_delivery.pop(event.delivery_id, None)
        if run is None:
            return
        if run.timeout is not None:
            run.timeout.cancel()
        if isinstance(event, MessageDelivered):
            self._finish(run, RunStatus.FAILED if run.failed else RunStatus.OK, run.error)
        else:
            self._undelivered(run, event.reason)

    def close(self) -> None:
        """Forget the delivery timeouts (the loop is stopping)."""
        for run in self._by_delivery.values():
            if run.timeout is not None:
                run.timeout.cancel()

    def _deliver(self, run: _Run, text: str) -> None:
        job = run.job
        if job.deliver == ORIGIN and job.origin is None:
            self._undelivered(run, "the job has no chat of origin")
            return
        run.delivery_id = secrets.token_hex(8)
        kind = OutboundKind.ERROR if run.failed else OutboundKind.REPLY
        request = DeliverToTarget(
            delivery_id=run.delivery_id,
            target=job.deliver,
            text=text,
            kind=kind,
            reply_to=self._deps.inbox,
            origin=job.origin,  # what ``origin`` means, as an address (chat ids may hold ":")
        )
        self._by_delivery[run.delivery_id] = run
        run.timeout = self._deps.loop.call_later(
            DELIVERY_WAIT_SECONDS, self._delivery_timed_out, run.delivery_id
        )
        try:
            self._deps.delivery.tell(request)
        except AddressClosedError:
            self.on_delivery(DeliveryFailed(delivery_id=run.delivery_id, reason="delivery stopped"))

    def _delivery_timed_out(self, delivery_id: str) -> None:
        run = self._by_delivery.pop(delivery_id, None)
        if run is not None:
            self._undelivered(run, f"not confirmed within {DELIVERY_WAIT_SECONDS:.0f} s")

    def _undelivered(self, run: _Run, reason: str) -> None:
        logger.warning(
            "cron job %s: delivery to %s failed: %s", run.job.job_id, run.job.deliver, reason
        )
        if run.failed:
            self._finish(
                run, RunStatus.FAILED, f"{run.error}; the notice was not delivered: {reason}"
            )
        else:
            self._finish(run, RunStatus.UNDELIVERED, reason)

    def _finish(self, run: _Run, status: RunStatus, error: str | None) -> None:
        logger.info("cron job %s (%s) finished: %s", run.job.job_id, run.job.name, status.value)
        self._on_finished(run.job.job_id, status, error)

    def _save_output(self, run: _Run, text: str) -> None:
        # A few kilobytes to the local disk, as the Store's commits do on its thread.
        record = RunRecord(
            job=run.job,
            started_at=run.started_at,
            session_id=run.session_id,
            text=text,
            failed=run.failed,
        )
        try:
            path = write_output(self._deps.output_dir, record)
        except OSError:
            logger.exception("cron job %s: its output could not be saved", run.job.job_id)
            return
        logger.debug("cron job %s: output saved to %s", run.job.job_id, path)


def write_output(output_dir: Path, record: RunRecord) -> Path:
    """Write ``record`` as ``<output_dir>/<job_id>/<YYYYMMDD_HHMMSS>.md``; returns the path.

    A second run in the same second gets ``_2``, ``_3``...: nothing is overwritten.

    Raises:
        ValueError: the job id is not one the Scheduler made (it would not be a safe path).
        OSError: the file cannot be written.
    """
    job_id = record.job.job_id
    if not is_job_id(job_id):
        raise ValueError(f"refusing to write output for the job id {job_id!r}")
    directory = output_dir / job_id
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = run_stamp(record.started_at)
    text = render_output(record)
    for attempt in range(1, 1000):
        path = directory / (f"{stamp}.md" if attempt == 1 else f"{stamp}_{attempt}.md")
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"too many outputs of job {job_id} at {stamp}")
