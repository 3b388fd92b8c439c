"""Keeps what a turn raises inside the turn, and tells where a turn that will not end waits.

asyncio lets ``SystemExit`` and ``KeyboardInterrupt`` out of any task (``Task.__step``
re-raises them) and so out of ``run_forever``: one tool calling ``sys.exit`` inside a task of
its own (``asyncio.gather`` makes one per tool call) would end the AgentRuntime's loop thread,
and every later turn would wait forever. ``contain_exits`` installs a task factory on the
runtime's loop that catches the two at each task's edge and raises ``ContainedExitError`` (an
ordinary ``Exception``) instead, which the awaiting turn handles like any other error. A signal
never raises ``KeyboardInterrupt`` here: Python delivers signals to the main thread only, so
one seen on this loop was raised by code on purpose. Plain callbacks (``call_soon``) are not
tasks and stay outside this guard.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Coroutine, Generator
from typing import Any, Final, TypeVar

T = TypeVar("T")

AWAIT_CHAIN_FRAMES: Final = 6
"""The innermost frames shown for a stuck turn: where it waits, and what called that."""


class ContainedExitError(Exception):
    """A ``SystemExit`` or ``KeyboardInterrupt`` raised in a task, caught at the task's edge."""

    def __init__(self, original: SystemExit | KeyboardInterrupt) -> None:
        """Wrap ``original`` (also kept as ``__cause__`` by the guard)."""
        super().__init__(f"{type(original).__name__} raised in a task: {original!r}")
        self.original = original


def contain_exits(loop: asyncio.AbstractEventLoop) -> None:
    """Make every task later created on ``loop`` turn a process exit into ``ContainedExitError``."""
    loop.set_task_factory(_contained_task)


def awaiting_at(task: asyncio.Task[Any]) -> str:
    """Where ``task`` is suspended: its innermost coroutine frames, outermost first."""
    frames: list[str] = []
    awaitable: object = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            frames.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return " -> ".join(frames[-AWAIT_CHAIN_FRAMES:]) or "(not suspended in a coroutine)"


def _contained_task(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
    *,
    context: contextvars.Context | None = None,
) -> asyncio.Task[T]:
    if not isinstance(coro, Coroutine):  # a legacy generator: nothing to wrap
        return asyncio.Task(coro, loop=loop, context=context)
    task = asyncio.Task(_contained(coro), loop=loop, context=context)
    # A task cancelled before its first step never starts the wrapper, so the wrapped
    # coroutine would be collected unstarted ("never awaited"); closing it is then a
    # no-op for every coroutine that did run.
    task.add_done_callback(functools.partial(_close, coro))
    return task


async def _contained(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as error:
        raise ContainedExitError(error) from error


def _close(coro: Coroutine[Any, Any, object], task: asyncio.Task[Any]) -> None:
    del task
    coro.close()
