"""Pooled actors: pykka actors whose mailboxes a few shared threads run, not a thread each.

A ``pykka.ThreadingActor`` owns an OS thread that sleeps on its inbox. For the Router, the
Store or Delivery that is right: one each. For sessions it is not: a message to a session wakes
that session's thread, and waking one of a thousand threads costs far more than the handler
itself (bare pykka with a thread per session: 180 µs of CPU per message; the same actors on
this pool: 21 µs; see bench/README.md). Here an actor's mailbox is a deque; the first message
into an idle mailbox puts the actor in the pool's ready line, and a worker runs up to ``SLICE``
of its messages before it goes to the back of the line (so a busy session cannot starve the
others). An idle actor costs a few objects and no thread.

Kept from ``pykka.ThreadingActor``: one message at a time per actor, in arrival order;
``on_start`` before the first message; ``stop``/``ask``/``tell`` through the same
``pykka.ActorRef``; an exception no one waits for logs, unregisters the actor and calls
``on_failure``; an ``ask`` gets its exception; whatever is left in the mailbox once the actor
stopped is answered with ``ActorDeadError`` (asks) or dropped (tells), also when it arrives
later. The one new rule: a handler must not block, because it holds one of only a few
workers (SessionActor's handlers only ``tell``). Where one must wait (a session draining its
memory writes as it ends), it says so with ``blocking()``: the pool starts a spare worker for
as long as the wait lasts, so the other actors keep moving.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import pykka
from pykka import ActorDeadError, ActorRegistry  # noqa: TID251  (stop_all, as pykka's loop)
from pykka.messages import _ActorStop

if TYPE_CHECKING:
    from pykka._envelope import Envelope

logger = logging.getLogger(__name__)

SLICE: Final = 32
"""Messages of one actor a worker runs before the actor goes to the back of the line."""
DEFAULT_WORKERS: Final = 2
"""Workers of a pool. The GIL runs one at a time; a second keeps the line moving while the
first is descheduled (or, by a bug, stuck in a handler)."""


_RETIRE: Final = object()
"""Put in the ready line when a blocking section ends: the worker that takes it ends."""
_local = threading.local()


@contextmanager
def blocking() -> Iterator[None]:
    """Mark a wait inside a pooled actor's handler; elsewhere it does nothing.

    On a pool worker, a spare worker runs the other actors until the wait is over.
    """
    pool: ActorPool | None = getattr(_local, "pool", None)
    if pool is None:
        yield
        return
    pool.add_worker()
    try:
        yield
    finally:
        pool.retire_worker()


class ActorPool:
    """A few worker threads that run the mailboxes of ``PooledActor``s."""

    def __init__(self, name: str, workers: int = DEFAULT_WORKERS, *, daemon: bool = False) -> None:
        """Name the workers ``<name>-<n>``; nothing runs until ``start``.

        Daemon workers do not keep the process alive (tests share one such pool); the
        gateway's are not, so its sessions' ``on_stop`` always completes.
        """
        if workers < 1:
            raise ValueError("an actor pool needs at least one worker")
        self._name = name
        self._daemon = daemon
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._spares = 0
        self._workers = workers
        self._stopping = False

    def start(self) -> ActorPool:
        """Start the workers; this pool, for chaining."""
        for index in range(1, self._workers + 1):
            self._start_thread(f"{self._name}-{index}")
        return self

    def add_worker(self) -> None:
        """Start a spare worker (a blocking section began)."""
        with self._lock:
            self._spares += 1
            number = self._spares
        self._start_thread(f"{self._name}-spare-{number}")

    def retire_worker(self) -> None:
        """End one worker once it is free (a blocking section ended)."""
        self._ready.put(_RETIRE)

    def _start_thread(self, name: str) -> None:
        thread = threading.Thread(target=self._work, name=name, daemon=self._daemon)
        with self._lock:  # started inside: a thread not yet started is not alive, not pruned
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float) -> None:
        """Let the workers finish the actors already in line, then end them (bounded wait).

        Stop the pooled actors first: a message sent to one afterwards is never run.
        """
        self._stopping = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._ready.put(None)
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout)
            if thread.is_alive():
                logger.warning("actor pool worker %s did not end in %.1f s", thread.name, timeout)

    def submit(self, actor: PooledActor) -> None:
        """Put ``actor`` in the ready line (its mailbox has work)."""
        if self._stopping:
            logger.warning("%s has messages after its pool stopped; they are not run", actor)
        self._ready.put(actor)

    def _work(self) -> None:
        _local.pool = self
        while isinstance(actor := self._ready.get(), PooledActor):  # else None or _RETIRE
            try:
                actor.run_slice()
            except BaseException:  # a worker must outlive any actor's bug
                logger.exception("actor pool: %s failed outside its handlers", actor)


class _Mailbox:
    """A pooled actor's inbox (pykka's ``ActorInbox``): a deque and a scheduled flag."""

    def __init__(self) -> None:
        self._items: deque[Envelope[Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = True  # held until the actor starts
        self._closed = False
        self._actor: PooledActor | None = None

    def attach(self, actor: PooledActor) -> None:
        self._actor = actor

    def put(self, envelope: Envelope[Any], /) -> None:
        with self._lock:
            if not self._closed:
                self._items.append(envelope)
                if self._scheduled:
                    return
                self._scheduled = True
                actor = self._actor
            else:
                actor = None
        if actor is None:
            _refuse(envelope, "stopped before handling the message")
        else:
            actor.schedule()

    def take(self) -> Envelope[Any] | None:
        """The next envelope, or None (and the actor is off the ready line until a put)."""
        with self._lock:
            if self._items:
                return self._items.popleft()
            self._scheduled = False
            return None

    def close(self) -> list[Envelope[Any]]:
        """Refuse everything from now on; the envelopes still waiting."""
        with self._lock:
            self._closed = True
            left = list(self._items)
            self._items.clear()
            return left

    def get(self) -> Envelope[Any]:
        with self._lock:
            return self._items.popleft()

    def empty(self) -> bool:
        with self._lock:
            return not self._items


class PooledActor(pykka.Actor):
    """A pykka actor run by an ``ActorPool`` (see the module docstring for the rules)."""

    def __init__(self, pool: ActorPool) -> None:
        """Run on ``pool``; subclasses pass it on and keep their own arguments."""
        super().__init__()
        self._pool = pool
        self._set_up = False
        self._mailbox: _Mailbox = self.actor_inbox  # type: ignore[assignment]
        self._mailbox.attach(self)

    @staticmethod
    def _create_actor_inbox() -> _Mailbox:
        return _Mailbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.schedule()  # the first slice runs on_start, then what is waiting

    def schedule(self) -> None:
        """Put this actor in its pool's ready line."""
        self._pool.submit(self)

    def run_slice(self) -> None:
        """Run up to ``SLICE`` messages on the calling worker; back in line if more wait."""
        if not self._set_up:
            self._set_up = True
            self._actor_loop_setup()
        for _ in range(SLICE):
            if self.actor_stopped.is_set():
                self._close()
                return
            envelope = self._mailbox.take()
            if envelope is None:
                return
            self._run(envelope)
        if self.actor_stopped.is_set():
            self._close()
        else:
            self.schedule()

    def _run(self, envelope: Envelope[Any]) -> None:
        # The body of pykka's _actor_loop_running, for one envelope.
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                logger.info("Exception returned from %s to caller:", self, exc_info=True)
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001  (pykka logs it the same way)
                    self._handle_failure(*sys.exc_info())
        except BaseException as error:  # noqa: BLE001  (pykka's rule: stop everything)
            logger.debug("%r in %s. Stopping all actors.", error, self)
            self._stop()
            ActorRegistry.stop_all(block=False)  # a worker must not wait on other actors

    def _close(self) -> None:
        for envelope in self._mailbox.close():
            _refuse(envelope, f"{self.actor_ref} stopped before handling the message")


def _refuse(envelope: Envelope[Any], why: str) -> None:
    """Answer an envelope the stopped actor will never run: a stop is done, an ask fails."""
    if envelope.reply_to is None:
        return
    if isinstance(envelope.message, _ActorStop):
        envelope.reply_to.set(None)
    else:
        envelope.reply_to.set_exception(exc_info=(ActorDeadError, ActorDeadError(why), None))
