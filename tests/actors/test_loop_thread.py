"""A ``LoopThread`` runs what it is told in order, in batches, and survives what a callback raises.

``call`` wakes the loop only for the first message of a batch; these tests check that batching
keeps every caller's order, loses nothing when a callback raises (an ``Exception`` is logged, a
``SystemExit`` ends only that callback), and that a stopped loop refuses new calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from hermes.eventloop import LoopThread
from hermes.messages.address import AddressClosedError

WAIT = 5.0


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread("test-loop")
    thread.start()
    yield thread
    thread.stop(WAIT)


def test_calls_from_many_threads_all_run_each_threads_in_order(loop_thread):
    seen: dict[int, list[int]] = {sender: [] for sender in range(4)}
    done = threading.Event()
    expected = 4 * 2000

    def record(sender: int, n: int) -> None:
        seen[sender].append(n)
        if sum(len(values) for values in seen.values()) == expected:
            done.set()

    def send(sender: int) -> None:
        for n in range(2000):
            loop_thread.call(record, sender, n)

    senders = [threading.Thread(target=send, args=(sender,)) for sender in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(WAIT)

    assert done.wait(WAIT)
    assert all(values == list(range(2000)) for values in seen.values())


def test_a_callback_that_raises_is_logged_and_the_next_ones_run(loop_thread, caplog):
    caplog.set_level(logging.ERROR, logger="hermes.eventloop")
    ran: list[str] = []
    done = threading.Event()

    def fail() -> None:
        raise ValueError("boom")

    loop_thread.call(ran.append, "before")
    loop_thread.call(fail)
    loop_thread.call(ran.append, "after")
    loop_thread.call(done.set)

    assert done.wait(WAIT)
    assert ran == ["before", "after"]
    assert any("boom" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_a_callback_raising_system_exit_ends_only_itself(loop_thread, caplog):
    caplog.set_level(logging.CRITICAL, logger="hermes.eventloop")
    ran: list[str] = []
    done = threading.Event()

    def leave() -> None:
        raise SystemExit(3)

    gate = threading.Event()
    loop_thread.call(gate.wait, WAIT)  # hold the loop so the next calls form one batch
    loop_thread.call(ran.append, "first")
    loop_thread.call(leave)
    loop_thread.call(ran.append, "second")
    loop_thread.call(done.set)
    gate.set()

    assert done.wait(WAIT)
    assert ran == ["first", "second"]
    assert loop_thread.is_alive()
    assert any("SystemExit" in record.getMessage() for record in caplog.records)


def test_a_stopped_loop_refuses_calls():
    thread = LoopThread("test-stopped")
    thread.start()
    thread.stop(WAIT)

    with pytest.raises(AddressClosedError):
        thread.call(print)
