"""``StatementBuffer`` gathers rows per statement and writes them in the order it was given."""

from __future__ import annotations

import sqlite3

import pytest

from hermes.adapters.storage.sqlite_batch import StatementBuffer

INSERT = "INSERT INTO log (n, what) VALUES (?, ?)"
MARK = "UPDATE log SET done = 1 WHERE n = ?"


@pytest.fixture
def connection():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE log (n INTEGER PRIMARY KEY, what TEXT, done INTEGER DEFAULT 0)")
    yield conn
    conn.close()


def test_rows_are_written_per_statement_in_the_given_order(connection):
    rows = StatementBuffer(connection, (INSERT, MARK))
    rows.execute(MARK, (1,))  # told before its row exists: still runs after the inserts
    rows.execute(INSERT, (1, "one"))
    rows.executemany(INSERT, [(2, "two"), (3, "three")])
    assert connection.execute("SELECT count(*) FROM log").fetchone() == (0,)

    rows.flush()

    assert connection.execute("SELECT n, what, done FROM log ORDER BY n").fetchall() == [
        (1, "one", 1),
        (2, "two", 0),
        (3, "three", 0),
    ]
    rows.flush()  # nothing left: writes nothing twice
    assert connection.execute("SELECT count(*) FROM log").fetchone() == (3,)


def test_a_statement_outside_the_order_is_refused(connection):
    rows = StatementBuffer(connection, (INSERT,))

    with pytest.raises(KeyError):
        rows.execute("DELETE FROM log", ())
