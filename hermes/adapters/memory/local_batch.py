"""Local memory's group commit: the exchanges every session records, written together.

Sessions record exchanges from their own threads. ``ExchangeBatch.add`` gathers them and, for
the first one of a batch, queues one flush on the provider's worker loop; the flush writes every
exchange gathered by then in one SQLite transaction. A busy gateway so pays one commit, one FTS5
segment and one loop wake-up per batch instead of per exchange. Order within a scope is kept:
exchanges are written in the order they were added, and one whose scope still has writes
waiting on its own queue (a retry) joins that queue behind them. When a batch's transaction
fails, each of its exchanges goes to its own scope's queue, where it is retried and, if it keeps
failing, dropped and logged with its scope, exactly like a write that was never batched.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from hermes.adapters.memory.local_store import LocalMemoryStore, StoredMessage
from hermes.adapters.memory.writer import MemoryWorker, WriteQueue

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One recorded exchange of one scope, waiting to be written."""

    queue: WriteQueue
    """Its scope's own queue: where it goes when it cannot be written with the batch."""
    scope: str
    session_id: str
    messages: tuple[StoredMessage, ...]
    at: datetime


class ExchangeBatch:
    """The exchanges gathered since the last flush (module docstring); shared by all managers."""

    def __init__(self, store: LocalMemoryStore, worker: MemoryWorker) -> None:
        """Write to ``store`` on ``worker``'s loop."""
        self._store = store
        self._worker = worker
        self._lock = threading.Lock()
        self._gathered: list[Exchange] = []
        self.queue = WriteQueue("local memory batch")
        """Where flushes run; draining it waits for every exchange added before."""

    def add(self, exchange: Exchange) -> None:
        """Gather ``exchange``; returns at once, never raises (any thread)."""
        if self._worker.closed:  # refused and logged with its scope
            self._worker.enqueue(exchange.queue, "record", _single(self._store, exchange))
            return
        with self._lock:
            self._gathered.append(exchange)
            first = len(self._gathered) == 1
        if first:  # later ones ride on this flush: it takes whatever is gathered when it runs
            self._worker.enqueue(self.queue, "record", self._flush)

    def _flush(self) -> None:
        """Write what was gathered in one transaction (on the worker's loop)."""
        with self._lock:
            gathered, self._gathered = self._gathered, []
        batch: list[Exchange] = []
        for exchange in gathered:
            if exchange.queue.running or exchange.queue.jobs:
                self._alone(exchange)  # behind its scope's earlier writes, never before them
            else:
                batch.append(exchange)
        if not batch:
            return
        try:
            self._store.append_many(
                [(item.scope, item.session_id, item.messages, item.at) for item in batch]
            )
        # Whatever failed, each exchange gets its own retries and its own log line.
        except Exception as error:  # noqa: BLE001
            logger.warning(
                "local memory: a batch of %d exchange(s) was not written (%s); each is "
                "written on its own",
                len(batch),
                self._worker.describe(error),
            )
            for exchange in batch:
                self._alone(exchange)

    def _alone(self, exchange: Exchange) -> None:
        self._worker.enqueue_here(exchange.queue, "record", _single(self._store, exchange))


def _single(store: LocalMemoryStore, exchange: Exchange) -> partial[None]:
    return partial(
        store.append, exchange.scope, exchange.session_id, exchange.messages, exchange.at
    )
