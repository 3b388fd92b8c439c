"""PooledActor on an ActorPool keeps pykka's actor rules without a thread per actor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import pykka
import pytest

from hermes.actors.actor_pool import SLICE, ActorPool, PooledActor, blocking
from tests.fakes.waiting import wait_until

TIMEOUT = 5.0


@pytest.fixture
def pool() -> Iterator[ActorPool]:
    pool = ActorPool("TestPool").start()
    try:
        yield pool
    finally:
        pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
        pool.stop(TIMEOUT)


class Log:
    """What every actor did, in the order it happened, across workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, object]] = []
        self.busy: dict[str, int] = {}
        self.overlaps = 0
        self.changed = threading.Condition(self.lock)

    def enter(self, name: str, what: object) -> None:
        with self.lock:
            self.busy[name] = self.busy.get(name, 0) + 1
            if self.busy[name] > 1:
                self.overlaps += 1
            self.events.append((name, what))
            self.changed.notify_all()

    def leave(self, name: str) -> None:
        with self.lock:
            self.busy[name] -= 1

    def wait_for(self, count: int) -> list[tuple[str, object]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.events) >= count, TIMEOUT), self.events
            return list(self.events)


class Recorder(PooledActor):
    def __init__(self, pool: ActorPool, name: str, log: Log) -> None:
        super().__init__(pool)
        self.name = name
        self.log = log
        self.failures: list[BaseException | None] = []

    def on_start(self) -> None:
        self.log.enter(self.name, "start")
        self.log.leave(self.name)

    def on_receive(self, message: Any) -> Any:
        self.log.enter(self.name, message)
        try:
            if message == "boom":
                raise ValueError("boom")
            return f"{self.name}:{message}"
        finally:
            self.log.leave(self.name)

    def on_stop(self) -> None:
        self.log.enter(self.name, "stop")
        self.log.leave(self.name)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        del exception_type, traceback
        self.log.enter(self.name, f"failure:{exception_value}")
        self.log.leave(self.name)


def test_each_actor_runs_its_messages_in_order_one_at_a_time(pool: ActorPool) -> None:
    log = Log()
    refs = [Recorder.start(pool, f"a{index}", log) for index in range(50)]
    for number in range(40):
        for ref in refs:
            ref.tell(number)
    events = log.wait_for(50 * 41)
    for index in range(50):
        mine = [what for name, what in events if name == f"a{index}"]
        assert mine == ["start", *range(40)]
    assert log.overlaps == 0


def test_many_actors_share_the_pool_threads(pool: ActorPool) -> None:
    log = Log()
    before = threading.active_count()
    refs = [Recorder.start(pool, f"a{index}", log) for index in range(500)]
    assert [ref.ask("hi", timeout=TIMEOUT) for ref in refs[:3]] == ["a0:hi", "a1:hi", "a2:hi"]
    assert threading.active_count() == before


class Gate(PooledActor):
    """Holds its worker until the test opens it (a test may block a worker; the gateway not)."""

    def __init__(self, pool: ActorPool, opened: threading.Event, holding: threading.Event) -> None:
        super().__init__(pool)
        self.opened = opened
        self.holding = holding

    def on_receive(self, message: Any) -> None:
        del message
        self.holding.set()
        assert self.opened.wait(TIMEOUT)


def test_a_busy_actor_does_not_starve_another() -> None:
    log = Log()
    opened, holding = threading.Event(), threading.Event()
    single = ActorPool("SinglePool", workers=1).start()  # the ready line alone decides the order
    try:
        busy = Recorder.start(single, "busy", log)
        quiet = Recorder.start(single, "quiet", log)
        log.wait_for(2)
        Gate.start(single, opened, holding).tell("hold")
        assert holding.wait(TIMEOUT)
        for number in range(10 * SLICE):
            busy.tell(number)
        quiet.tell("hello")
        opened.set()
        events = log.wait_for(2 + 10 * SLICE + 1)
        assert events.index(("quiet", "hello")) == 2 + SLICE  # right after one slice of busy
    finally:
        opened.set()
        pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
        single.stop(TIMEOUT)


def test_ask_gets_the_answer_or_the_exception(pool: ActorPool) -> None:
    ref = Recorder.start(pool, "a", Log())
    assert ref.ask("x", timeout=TIMEOUT) == "a:x"
    with pytest.raises(ValueError, match="boom"):
        ref.ask("boom", timeout=TIMEOUT)
    assert ref.is_alive()  # an ask's failure is the caller's, as in pykka


def test_a_failure_nobody_waits_for_stops_the_actor_and_calls_on_failure(pool: ActorPool) -> None:
    log = Log()
    ref = Recorder.start(pool, "a", log)
    ref.tell("boom")
    ref.tell("after")
    events = log.wait_for(3)
    assert events[-1] == ("a", "failure:boom")
    assert not ref.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("again", timeout=TIMEOUT)
    assert ("a", "after") not in log.events


def test_stop_runs_on_stop_and_refuses_what_comes_after(pool: ActorPool) -> None:
    log = Log()
    ref = Recorder.start(pool, "a", log)
    ref.tell("one")
    assert ref.stop(block=True, timeout=TIMEOUT) is True
    assert log.wait_for(3) == [("a", "start"), ("a", "one"), ("a", "stop")]
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")
    assert ref.stop(block=True, timeout=TIMEOUT) is False


def test_messages_queued_behind_a_stop_are_answered_dead(pool: ActorPool) -> None:
    log = Log()
    single = ActorPool("SinglePool", workers=1).start()
    try:
        ref = Recorder.start(single, "a", log)
        log.wait_for(1)
        stopped = ref.ask(pykka.messages._ActorStop(), block=False)
        waiting = ref.ask("too late", block=False)
        assert stopped.get(timeout=TIMEOUT) is None
        with pytest.raises(pykka.ActorDeadError):
            waiting.get(timeout=TIMEOUT)
    finally:
        single.stop(TIMEOUT)


class Waiter(Gate):
    """Waits inside ``blocking()``, as a session draining its memory writes does."""

    def on_receive(self, message: Any) -> None:
        with blocking():
            super().on_receive(message)


def workers(name: str) -> int:
    return sum(t.name.startswith(f"{name}-") for t in threading.enumerate())


def test_a_blocking_section_gets_a_spare_worker_for_the_others() -> None:
    opened, holding = threading.Event(), threading.Event()
    single = ActorPool("SpareTest", workers=1).start()
    try:
        Waiter.start(single, opened, holding).tell("wait")
        assert holding.wait(TIMEOUT)  # the only worker now waits
        other = Recorder.start(single, "other", Log())
        assert other.ask("still served", timeout=TIMEOUT) == "other:still served"
        assert workers("SpareTest") == 2
        opened.set()
        wait_until(lambda: workers("SpareTest") == 1, TIMEOUT, "back to one worker")
    finally:
        opened.set()
        pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
        single.stop(TIMEOUT)


def test_blocking_outside_a_pool_does_nothing() -> None:
    before = threading.active_count()
    with blocking():
        assert threading.active_count() == before


def test_stopping_the_pool_ends_its_workers() -> None:
    pool = ActorPool("EndingPool", workers=3).start()
    names = {thread.name for thread in threading.enumerate()}
    assert {"EndingPool-1", "EndingPool-2", "EndingPool-3"} <= names
    pool.stop(TIMEOUT)
    assert not any(t.name.startswith("EndingPool-") for t in threading.enumerate())


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        ActorPool("Empty", workers=0)
