"""DM pairing state in the real SQLite file: every fact written, and read back after a reopen."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.pairing import (
    ApprovedUser,
    CodeIssued,
    CodeWithdrawn,
    GuardChanged,
    PairingGuard,
    PairingState,
    PendingCode,
    RequestMark,
    RequestsForgotten,
    UserApproved,
    UserRevoked,
)
from hermes.messages.store import RecordPairing
from hermes.messages.values import ChatAddress, ChatType, Platform

T0 = datetime(2026, 11, 22, 12, 0, 0, 250000, tzinfo=UTC)
TG = Platform.TELEGRAM
DC = Platform.DISCORD


def pending(user_id: str, platform: Platform = TG, at: datetime = T0, code_hash: str = "ab12"):
    return PendingCode(
        platform=platform,
        user_id=user_id,
        user_name=f"name-{user_id}",
        chat=ChatAddress(platform=platform, chat_id=f"dm-{user_id}", chat_type=ChatType.DM),
        code_hash=code_hash,
        salt="00ff",
        iterations=1000,
        created_at=at,
    )


def approved(user_id: str, platform: Platform = TG, chat: bool = True):
    address = ChatAddress(platform=platform, chat_id=f"dm-{user_id}") if chat else None
    return ApprovedUser(
        platform=platform, user_id=user_id, user_name=None, chat=address, approved_at=T0
    )


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state.db"


def reopened(db_path) -> PairingState:
    storage = SqliteStorage.open(db_path)
    try:
        return storage.pairing_state()
    finally:
        storage.close()


def test_a_fresh_database_has_no_pairing_state(db_path):
    assert reopened(db_path) == PairingState()


def test_every_fact_is_written_and_read_back(db_path):
    storage = SqliteStorage.open(db_path)
    later = T0 + timedelta(minutes=1)
    storage.apply(
        [
            RecordPairing(
                changes=(
                    CodeIssued(pending=pending("u1")),
                    CodeIssued(pending=pending("u2")),
                    CodeIssued(pending=pending("d1", DC)),
                    CodeIssued(pending=pending("u1", at=later, code_hash="cd34")),
                    CodeWithdrawn(platform=TG, user_id="u2"),
                    UserApproved(user=approved("u2")),
                    UserApproved(user=approved("u3", chat=False)),
                    UserApproved(user=approved("u9")),
                    UserRevoked(platform=TG, user_id="u9"),
                    RequestsForgotten(platform=TG, user_ids=("u2",)),
                    GuardChanged(guard=PairingGuard(platform=TG, failures=3)),
                    GuardChanged(guard=PairingGuard(platform=DC, locked_until=later)),
                )
            )
        ]
    )
    storage.close()

    state = reopened(db_path)

    assert state.pending == (pending("d1", DC), pending("u1", at=later, code_hash="cd34"))
    assert state.approved == (approved("u2"), approved("u3", chat=False))
    assert state.requests == (
        RequestMark(platform=DC, user_id="d1", requested_at=T0),
        RequestMark(platform=TG, user_id="u1", requested_at=later),
    )
    assert set(state.guards) == {
        PairingGuard(platform=TG, failures=3),
        PairingGuard(platform=DC, locked_until=later),
    }


def test_a_reset_guard_leaves_no_row(db_path):
    storage = SqliteStorage.open(db_path)
    storage.apply(
        [RecordPairing(changes=(GuardChanged(guard=PairingGuard(platform=TG, failures=2)),))]
    )
    storage.apply([RecordPairing(changes=(GuardChanged(guard=PairingGuard(platform=TG)),))])
    storage.close()
    assert reopened(db_path).guards == ()
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM pairing_guards").fetchone() == (0,)


def test_codes_are_stored_as_given_hashes_only(db_path):
    storage = SqliteStorage.open(db_path)
    storage.apply([RecordPairing(changes=(CodeIssued(pending=pending("u1", code_hash="f00d")),))])
    storage.close()
    with closing(sqlite3.connect(db_path)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(pairing_pending)")]
        (row,) = conn.execute("SELECT code_hash, salt, iterations FROM pairing_pending")
    assert "code" not in columns
    assert row == ("f00d", "00ff", 1000)
