"""SchedulerActor: keyed timers for the other actors, on an event loop of its own.

Owns the armed timers. Accepts ``SchedulerCommand``; emits ``TimerFired`` to a timer's
``reply_to``. Arming a key again replaces its timer; a cancelled or replaced timer never fires.
Timers run on the loop's monotonic clock, so wall-clock jumps do not fire or delay them.
(Cron jobs join this actor with the scheduling issue.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import assert_never

from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.scheduler import (
    ArmTimer,
    CancelTimer,
    SchedulerCommand,
    SchedulerStatus,
    TimerFired,
)

logger = logging.getLogger(__name__)


class SchedulerActor:
    """The owner of keyed timers.

    Accepts: ``ArmTimer``, ``CancelTimer``; ``status()`` answers queries from the edges.
    Emits: ``TimerFired`` to each timer's ``reply_to``.
    Owns: key -> armed timer handle, all touched only on its loop thread.
    Lifecycle: started by the System before the Router; stopped after it.
    """

    def __init__(self) -> None:
        """Prepare the loop; nothing runs until ``start``."""
        self._loop_thread = LoopThread("scheduler")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.address: Address[SchedulerCommand] = LoopAddress(self._loop_thread, self._on_receive)

    def start(self) -> None:
        """Start the loop thread."""
        self._loop_thread.start()

    def stop(self, timeout: float) -> None:
        """Cancel every timer and stop the loop thread."""
        try:
            self._loop_thread.call(self._cancel_all)
        except AddressClosedError:
            return
        self._loop_thread.stop(timeout)

    def status(self, timeout: float) -> SchedulerStatus:
        """How many timers are armed (edge use: admin, tests)."""
        return self._loop_thread.run(self._status(), timeout)

    def _on_receive(self, message: SchedulerCommand) -> None:
        match message:
            case ArmTimer():
                self._on_arm_timer(message)
            case CancelTimer():
                handle = self._timers.pop(message.key, None)
                if handle is not None:
                    handle.cancel()
            case _:
                assert_never(message)

    def _on_arm_timer(self, message: ArmTimer) -> None:
        previous = self._timers.pop(message.key, None)
        if previous is not None:
            previous.cancel()
        self._timers[message.key] = self._loop_thread.loop.call_later(
            message.delay_seconds, self._fire, message
        )

    def _fire(self, timer: ArmTimer) -> None:
        del self._timers[timer.key]
        try:
            timer.reply_to.tell(TimerFired(key=timer.key))
        except AddressClosedError:
            logger.debug("timer %s fired for an actor that has stopped", timer.key)

    def _cancel_all(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    async def _status(self) -> SchedulerStatus:
        return SchedulerStatus(timers=len(self._timers))
