"""The rows of one transaction, gathered per statement and written with one ``executemany``.

A group commit of a busy gateway holds dozens of writes, mostly the same few statements (the
journal, session entries, transcripts, settles, the outbox). Executed one by one, each is a
trip through the sqlite3 module that gives up the GIL and waits to take it back; gathered,
each statement runs once per transaction. Only statements listed in the buffer's order are
gathered, and that order must be one in which they may run: rows of one statement keep their
order, and a statement listed before another never depends on a later one's rows (a journal
row is inserted before it is settled, an outbox entry before it is deleted). Anything else is
run directly, after ``flush``, so the transaction's order is kept around it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Executor(Protocol):
    """What the write helpers need: a connection, or a ``StatementBuffer`` in front of one."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> object:
        """Run (or gather) one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        """Run (or gather) one statement for each row."""
        ...


class StatementBuffer:
    """Gathers the rows of the statements in ``order``; ``flush`` writes them in that order."""

    def __init__(self, connection: sqlite3.Connection, order: Sequence[str]) -> None:
        """Gather for ``connection`` the rows of the statements ``order`` lists."""
        self._connection = connection
        self._order = tuple(order)
        self._rows: dict[str, list[Sequence[Any]]] = {sql: [] for sql in self._order}

    def execute(self, sql: str, parameters: Sequence[Any], /) -> None:
        """Gather one row of ``sql``.

        Raises:
            KeyError: ``sql`` is not one of the gathered statements (a caller bug).
        """
        self._rows[sql].append(parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        """Gather rows of ``sql``."""
        self._rows[sql].extend(parameters)

    def flush(self) -> None:
        """Write every gathered row: one ``executemany`` per statement, in order."""
        for sql in self._order:
            rows = self._rows[sql]
            if rows:
                self._connection.executemany(sql, rows)
                rows.clear()
