"""The agents the benchmarks run: one whose latency is a parameter, and a loop-lag probe.

Both implement ``hermes.messages.ports.Agent``. The same classes serve the gateway and the two
baselines, so every contender waits for its "model" in exactly the same way: an
``asyncio.sleep`` on the event loop that runs the turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

from hermes.messages.agent import TurnContext, TurnResult
from hermes.messages.ports import Agent, DeltaSink


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """How long a turn takes: ``seconds``, or ``slow_seconds`` in chats named ``slow_prefix*``."""

    seconds: float = 0.0
    slow_prefix: str | None = None
    slow_seconds: float = 0.0

    def for_chat(self, chat_id: str) -> float:
        """The latency of a turn in ``chat_id``."""
        if self.slow_prefix is not None and chat_id.startswith(self.slow_prefix):
            return self.slow_seconds
        return self.seconds


class LatencyAgent:
    """Answers every turn after its ``Latency``, with a short text; counts turns in flight."""

    def __init__(self, latency: Latency) -> None:
        self._latency = latency
        self._waiting = 0
        self._condition = threading.Condition()

    @property
    def description(self) -> str:
        """What this agent is."""
        return f"bench latency agent ({self._latency})"

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        """Sleep for the chat's latency (if any), then answer."""
        delay = self._latency.for_chat(context.origin.chat_id)
        if delay > 0:
            self._count(1)
            try:
                await asyncio.sleep(delay)
            finally:
                self._count(-1)
        text = f"re: {context.inputs[-1]}"
        if on_delta is not None:
            on_delta(text)
        return TurnResult(text=text)

    async def aclose(self) -> None:
        """Nothing to release."""

    def wait_waiting(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` turns are sleeping at once (from any thread)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._waiting >= count, timeout)

    def _count(self, step: int) -> None:
        with self._condition:
            self._waiting += step
            self._condition.notify_all()


class LoopLagProbe:
    """Measures how late the event loop it runs on wakes a sleeping coroutine.

    A ticker sleeps ``interval`` seconds again and again; each time, how much later than asked
    it woke is one sample (the loop was busy running something else for that long).
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        """(monotonic time of the wake-up, lag in seconds)."""
        self._task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        """Start ticking on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        """Stop ticking (on the loop it runs on)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def lags_between(self, start: float, end: float) -> list[float]:
        """The lag samples taken between two ``time.monotonic()`` readings."""
        return [lag for at, lag in self.samples if start <= at <= end]

    async def _tick(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.samples.append((now, max(0.0, now - before - self.interval)))


WARM_UP = "warm-up"
"""A message with this text is answered at once by a ``ProbingAgent`` (activates a session)."""


class ProbingAgent:
    """Wraps an agent: runs a ``LoopLagProbe`` on its loop; answers probes at once.

    Probes are messages in ``probe*`` chats and messages reading ``WARM_UP``.

    The probe starts with the first turn, on the loop that runs the turns, which is the loop
    whose lag we want (the gateway's AgentRuntime loop, or a baseline's).
    """

    def __init__(self, inner: Agent, probe: LoopLagProbe) -> None:
        self._inner = inner
        self.probe = probe

    @property
    def description(self) -> str:
        """The wrapped agent, probed."""
        return f"{self._inner.description} (loop-lag probe)"

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        """Answer probes at once; give every other turn to the wrapped agent."""
        self.probe.ensure_started()
        if context.origin.chat_id.startswith("probe") or context.inputs[-1] == WARM_UP:
            return TurnResult(text="pong")
        return await self._inner.run_turn(context, on_delta)

    async def aclose(self) -> None:
        """Stop the probe and close the wrapped agent."""
        await self.probe.stop()
        await self._inner.aclose()
