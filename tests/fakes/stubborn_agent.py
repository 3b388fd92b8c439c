"""An ``Agent`` whose turns ignore cancellation, for testing the AgentRuntime's stall watchdog.

A turn whose last input starts with ``quick`` answers at once. Any other turn waits until the
test calls ``release``, swallowing every ``CancelledError`` it gets meanwhile (a turn saying
``once`` gives in at its second cancellation). After the release it streams ``late text`` and
answers ``late answer``. Tests must ``release`` before they stop the runtime: its loop waits
for every task when it stops.
"""

from __future__ import annotations

import asyncio
import threading

from hermes.messages.agent import TurnContext, TurnResult
from hermes.messages.ports import DeltaSink


class StubbornAgent:
    """Ignores cancellation until ``release`` (see the module docstring)."""

    description = "stubborn"

    def __init__(self) -> None:
        self.cancellations = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Event | None = None
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Let every waiting turn (and every later one) answer."""
        with self._lock:
            self._released = True
            loop, gate = self._loop, self._gate
        if loop is not None and gate is not None and not loop.is_closed():
            loop.call_soon_threadsafe(gate.set)

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        text = context.inputs[-1]
        if text.startswith("quick"):
            return TurnResult(text=f"answer to {text}")
        gate = self._gate_on_this_loop()
        swallowed = 0
        while True:
            try:
                await gate.wait()
            except asyncio.CancelledError:
                swallowed += 1
                with self._lock:
                    self.cancellations += 1
                if text == "once" and swallowed > 1:
                    raise
                continue
            if on_delta is not None:
                on_delta("late text")
            return TurnResult(text="late answer")

    async def aclose(self) -> None:
        pass

    def _gate_on_this_loop(self) -> asyncio.Event:
        with self._lock:
            if self._gate is None:
                self._loop = asyncio.get_running_loop()
                self._gate = asyncio.Event()
            if self._released:
                self._gate.set()
            return self._gate
