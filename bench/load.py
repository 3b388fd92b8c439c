"""Message patterns, the same for every contender: closed loop, paced (open loop), one by one.

A ``Tracker`` matches each reply to its message by id and keeps the latency (reply time minus
send time, or minus the time the message was *due* for paced load, so a pacer that falls behind
does not hide the delay). Replies arrive on one thread per contender, so the tracker needs no
lock on its hot path.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.pipeline import Pipeline

TEXT = "hello"


@dataclass(slots=True)
class Tracker:
    """Send times of messages in flight, and the latency of each one answered."""

    on_answer: Callable[[str], None] | None = None
    """Called with the chat id after each reply is recorded (closed loop: send the next)."""
    sent_at: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[str, float]] = field(default_factory=list)
    answered: int = 0
    failed: int = 0
    unexpected: int = 0
    _want: float = math.inf
    _want_idle: bool = False
    _condition: threading.Condition = field(default_factory=threading.Condition)

    def expect(self, message_id: str, at: float) -> None:
        """Note that ``message_id`` is sent (or due) at ``at`` (``time.perf_counter``)."""
        self.sent_at[message_id] = at

    def on_reply(self, chat_id: str, message_id: str, ok: bool) -> None:
        """The contender's sink: record the reply."""
        now = time.perf_counter()
        at = self.sent_at.pop(message_id, None)
        if at is None:
            self.unexpected += 1
            return
        self.samples.append((chat_id, now - at))
        if not ok:
            self.failed += 1
        self.answered += 1
        if self.on_answer is not None:
            self.on_answer(chat_id)  # before the idle check: it may send the next message
        if self.answered >= self._want or (self._want_idle and not self.sent_at):
            with self._condition:
                self._condition.notify_all()

    @property
    def ok(self) -> int:
        """Messages answered with a reply (not an error or a rejection)."""
        return self.answered - self.failed

    def wait_answered(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` messages were answered in all; False on timeout."""
        with self._condition:
            self._want = count
            return self._condition.wait_for(lambda: self.answered >= count, timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no message is in flight; False on timeout."""
        with self._condition:
            self._want_idle = True
            return self._condition.wait_for(lambda: not self.sent_at, timeout)

    def latencies(self, keep: Callable[[str], bool] | None = None) -> list[float]:
        """Latencies in seconds, of the chats ``keep`` accepts (all by default)."""
        return [seconds for chat, seconds in self.samples if keep is None or keep(chat)]


class Switchboard:
    """The sink given to a pipeline at start: forwards each reply to the current tracker.

    Chats named ``side_prefix*`` (background load, such as the slow sessions) go to
    ``side`` instead, so a phase can measure its own chats while others run.
    """

    def __init__(self) -> None:
        self.tracker = Tracker()
        self.side = Tracker()
        self.side_prefix: str | None = None

    def sink(self, chat_id: str, message_id: str, ok: bool) -> None:
        """Forward one reply."""
        prefix = self.side_prefix
        if prefix is not None and chat_id.startswith(prefix):
            self.side.on_reply(chat_id, message_id, ok)
        else:
            self.tracker.on_reply(chat_id, message_id, ok)

    def phase(self) -> Tracker:
        """Start a new phase with a fresh tracker (the previous one must be complete)."""
        self.tracker = Tracker()
        return self.tracker


class RepliesMissingError(Exception):
    """Replies did not all arrive in time."""


class ClosedLoop:
    """Each chat sends its next message as soon as its previous one is answered."""

    def __init__(
        self,
        pipeline: Pipeline,
        tracker: Tracker,
        chats: Sequence[str],
        per_chat: int,
        text: str = TEXT,
    ) -> None:
        self._pipeline = pipeline
        self._text = text
        self._tracker = tracker
        self._chats = chats
        self._per_chat = per_chat
        self._left = dict.fromkeys(chats, per_chat)
        self._prefix = f"c{time.perf_counter_ns()}"
        self._stopped = False
        tracker.on_answer = self.send_next

    def start(self) -> None:
        """Send every chat's first message."""
        for chat in self._chats:
            self.send_next(chat)

    def stop(self) -> None:
        """Send nothing more (messages in flight still get their replies)."""
        self._stopped = True

    @property
    def sent(self) -> int:
        """Messages sent so far."""
        return self._per_chat * len(self._left) - sum(self._left.values())

    def send_next(self, chat: str) -> None:
        """Send ``chat``'s next message, if it has one left."""
        remaining = self._left.get(chat, 0)
        if remaining == 0 or self._stopped:
            return
        self._left[chat] = remaining - 1
        message_id = f"{self._prefix}:{chat}:{remaining}"
        self._tracker.expect(message_id, time.perf_counter())
        self._pipeline.send(chat, message_id, self._text)


def closed_loop(
    pipeline: Pipeline,
    board: Switchboard,
    chats: Sequence[str],
    per_chat: int,
    timeout: float,
    *,
    text: str = TEXT,
) -> Tracker:
    """Run a ``ClosedLoop`` of ``per_chat`` messages per chat to the end."""
    tracker = board.phase()
    ClosedLoop(pipeline, tracker, chats, per_chat, text).start()
    _wait(tracker, len(chats) * per_chat, timeout)
    return tracker


@dataclass(frozen=True, slots=True)
class Pacing:
    """Paced load: ``count`` messages at ``rate`` per second, round robin over the chats."""

    rate: float
    count: int


@dataclass(slots=True)
class PacedRun:
    """What a paced run did: its tracker and how well the pacer kept time."""

    tracker: Tracker
    offered_rate: float
    max_pacer_lag_s: float


def paced(
    pipeline: Pipeline, board: Switchboard, chats: Sequence[str], pacing: Pacing, timeout: float
) -> PacedRun:
    """Send at a steady rate whatever the replies do (open loop); wait for every reply."""
    tracker = board.phase()
    prefix = f"p{time.perf_counter_ns()}"
    start = time.perf_counter() + 0.002
    worst = 0.0
    for index in range(pacing.count):
        due = start + index / pacing.rate
        ahead = due - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        else:
            worst = max(worst, -ahead)
        chat = chats[index % len(chats)]
        message_id = f"{prefix}:{index}"
        tracker.expect(message_id, due)
        pipeline.send(chat, message_id, TEXT)
    elapsed = time.perf_counter() - start
    _wait(tracker, pacing.count, timeout)
    offered = pacing.count / elapsed if elapsed > 0 else math.nan
    return PacedRun(tracker=tracker, offered_rate=offered, max_pacer_lag_s=worst)


def one_by_one(
    pipeline: Pipeline, board: Switchboard, chats: Sequence[str], timeout: float
) -> list[float]:
    """Send one message to each chat in turn, each after the previous reply; the latencies."""
    tracker = board.phase()
    prefix = f"s{time.perf_counter_ns()}"
    for index, chat in enumerate(chats):
        message_id = f"{prefix}:{index}"
        tracker.expect(message_id, time.perf_counter())
        pipeline.send(chat, message_id, TEXT)
        _wait(tracker, index + 1, timeout)
    return tracker.latencies()


def _wait(tracker: Tracker, count: int, timeout: float) -> None:
    if not tracker.wait_answered(count, timeout):
        raise RepliesMissingError(f"{tracker.answered} of {count} replies within {timeout} s")
