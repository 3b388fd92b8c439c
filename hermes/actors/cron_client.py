"""Asking the Scheduler about jobs from the edges: the agent's cron tools and the admin.

A job request carries a one-shot reply address that completes a future, so a tool awaits the
answer on its own event loop without blocking it, and the admin waits for it with a timeout.
``SchedulerCronService`` is what sessions hand their turns: a ``CronHandle`` bound to the chat
and user of the turn, which sees and changes only that user's jobs in that chat.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hermes.actors.future_reply import FutureReply
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.cron import (
    ChangeJob,
    CreateJob,
    CronError,
    CronHandle,
    CronJob,
    JobAction,
    JobDraft,
    JobEdit,
    JobOwner,
    JobRequest,
    JobsAnswer,
    ListJobs,
)
from hermes.messages.scheduler import SchedulerCommand
from hermes.messages.values import ChatAddress, Sender

ANSWER_TIMEOUT: Final = 10.0
"""Seconds the Scheduler has to answer a job request."""

BuildRequest = Callable[[Address[JobsAnswer]], JobRequest]


@dataclass(frozen=True, slots=True)
class CronClient:
    """Sends job requests to the Scheduler; thread-safe, holds no state."""

    scheduler: Address[SchedulerCommand]
    timeout: float = ANSWER_TIMEOUT

    def submit(self, build: BuildRequest) -> concurrent.futures.Future[JobsAnswer]:
        """Send the request ``build`` makes; its answer completes the returned future."""
        reply: FutureReply[JobsAnswer] = FutureReply()
        try:
            self.scheduler.tell(build(reply))
        except AddressClosedError:
            reply.tell(JobsAnswer(error="the scheduler has stopped"))
        return reply.future

    def ask(self, build: BuildRequest) -> tuple[CronJob, ...]:
        """Send a request and wait for its answer (edges only, never on an event loop).

        Raises:
            CronError: the Scheduler refused it.
            TimeoutError: no answer within ``timeout``.
        """
        return _jobs(self.submit(build).result(self.timeout))

    async def ask_async(self, build: BuildRequest) -> tuple[CronJob, ...]:
        """``ask`` for coroutines: awaits the answer without blocking the loop.

        Raises:
            CronError: the Scheduler refused it, or did not answer in time.
        """
        try:
            async with asyncio.timeout(self.timeout):
                answer = await asyncio.wrap_future(self.submit(build))
        except TimeoutError:
            raise CronError(f"the scheduler did not answer within {self.timeout:.0f} s") from None
        return _jobs(answer)


def _jobs(answer: JobsAnswer) -> tuple[CronJob, ...]:
    if answer.error is not None:
        raise CronError(answer.error)
    return answer.jobs


def _one(jobs: tuple[CronJob, ...]) -> CronJob:
    if len(jobs) != 1:
        raise CronError("the scheduler gave an unexpected answer")
    return jobs[0]


@dataclass(frozen=True, slots=True)
class BoundCronHandle:
    """The cron tools of one turn (implements ``CronHandle``): one chat, one user."""

    client: CronClient
    owner: JobOwner

    async def create(self, draft: JobDraft) -> CronJob:
        """Schedule a new job made in this chat by this user."""
        owner = self.owner
        return _one(
            await self.client.ask_async(
                lambda reply: CreateJob(draft=draft, owner=owner, reply_to=reply)
            )
        )

    async def list_jobs(self) -> tuple[CronJob, ...]:
        """This user's jobs in this chat."""
        owner = self.owner
        return await self.client.ask_async(lambda reply: ListJobs(owner=owner, reply_to=reply))

    async def update(self, job_id: str, edit: JobEdit) -> CronJob:
        """Change one of this user's jobs."""
        return await self._change(job_id, edit)

    async def act(self, job_id: str, action: JobAction) -> CronJob:
        """Pause, resume, remove or run one of this user's jobs."""
        return await self._change(job_id, action)

    async def _change(self, job_id: str, change: JobEdit | JobAction) -> CronJob:
        owner = self.owner
        return _one(
            await self.client.ask_async(
                lambda reply: ChangeJob(job_id=job_id, change=change, owner=owner, reply_to=reply)
            )
        )


@dataclass(frozen=True, slots=True)
class SchedulerCronService:
    """Hands each turn its ``CronHandle`` (implements ``CronService``)."""

    client: CronClient

    def handle_for(self, origin: ChatAddress, creator: Sender) -> CronHandle:
        """The cron tools of a turn in ``origin`` answering ``creator``."""
        return BoundCronHandle(self.client, JobOwner(origin=origin, creator=creator))
