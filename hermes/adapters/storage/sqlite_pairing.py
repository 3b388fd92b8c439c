"""DM pairing in the SQLite state database: pending codes (hashed), approvals, limits.

``apply_pairing`` writes ``PairingChange`` facts inside the caller's transaction;
``load_pairing`` reads the whole state back at start. A code is only ever stored as its salted
hash, with its salt and PBKDF2 rounds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final, assert_never

from hermes.adapters.storage.sqlite_codec import (
    address_from_json,
    address_to_json,
    from_text,
    to_text,
)
from hermes.messages.pairing import (
    ApprovedUser,
    CodeIssued,
    CodeWithdrawn,
    GuardChanged,
    PairingChange,
    PairingGuard,
    PairingState,
    PendingCode,
    RequestMark,
    RequestsForgotten,
    UserApproved,
    UserRevoked,
)
from hermes.messages.values import Platform

_UPSERT_PENDING: Final = """INSERT INTO pairing_pending (platform, user_id, user_name, chat,
        code_hash, salt, iterations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (platform, user_id) DO UPDATE SET user_name = excluded.user_name,
        chat = excluded.chat, code_hash = excluded.code_hash, salt = excluded.salt,
        iterations = excluded.iterations, created_at = excluded.created_at"""
_UPSERT_REQUEST: Final = """INSERT INTO pairing_requests (platform, user_id, requested_at)
    VALUES (?, ?, ?) ON CONFLICT (platform, user_id) DO UPDATE SET
        requested_at = excluded.requested_at"""
_UPSERT_APPROVED: Final = """INSERT INTO pairing_approved (platform, user_id, user_name, chat,
        approved_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (platform, user_id) DO UPDATE SET user_name = excluded.user_name,
        chat = excluded.chat, approved_at = excluded.approved_at"""
_UPSERT_GUARD: Final = """INSERT INTO pairing_guards (platform, failures, locked_until)
    VALUES (?, ?, ?) ON CONFLICT (platform) DO UPDATE SET failures = excluded.failures,
        locked_until = excluded.locked_until"""
_DELETE_PENDING: Final = "DELETE FROM pairing_pending WHERE platform = ? AND user_id = ?"
_DELETE_APPROVED: Final = "DELETE FROM pairing_approved WHERE platform = ? AND user_id = ?"
_DELETE_REQUEST: Final = "DELETE FROM pairing_requests WHERE platform = ? AND user_id = ?"
_DELETE_GUARD: Final = "DELETE FROM pairing_guards WHERE platform = ?"
_SELECT_PENDING: Final = """SELECT platform, user_id, user_name, chat, code_hash, salt,
    iterations, created_at FROM pairing_pending ORDER BY created_at"""
_SELECT_APPROVED: Final = """SELECT platform, user_id, user_name, chat, approved_at
    FROM pairing_approved ORDER BY approved_at"""
_SELECT_REQUESTS: Final = """SELECT platform, user_id, requested_at FROM pairing_requests
    ORDER BY requested_at"""
_SELECT_GUARDS: Final = "SELECT platform, failures, locked_until FROM pairing_guards"


def apply_pairing(conn: sqlite3.Connection, changes: Iterable[PairingChange]) -> None:
    """Write ``changes`` in order (the caller holds the transaction)."""
    for change in changes:
        match change:
            case CodeIssued(pending=pending):
                _save_pending(conn, pending)
            case CodeWithdrawn(platform=platform, user_id=user_id):
                conn.execute(_DELETE_PENDING, (platform.value, user_id))
            case UserApproved(user=user):
                chat = None if user.chat is None else address_to_json(user.chat)
                conn.execute(
                    _UPSERT_APPROVED,
                    (
                        user.platform.value,
                        user.user_id,
                        user.user_name,
                        chat,
                        to_text(user.approved_at),
                    ),
                )
            case UserRevoked(platform=platform, user_id=user_id):
                conn.execute(_DELETE_APPROVED, (platform.value, user_id))
            case RequestsForgotten(platform=platform, user_ids=user_ids):
                conn.executemany(_DELETE_REQUEST, ((platform.value, uid) for uid in user_ids))
            case GuardChanged(guard=guard):
                _save_guard(conn, guard)
            case _:
                assert_never(change)


def load_pairing(conn: sqlite3.Connection) -> PairingState:
    """Everything pairing stored."""
    pending = tuple(
        PendingCode(
            platform=Platform(platform),
            user_id=user_id,
            user_name=user_name,
            chat=address_from_json(chat),
            code_hash=code_hash,
            salt=salt,
            iterations=int(iterations),
            created_at=from_text(created_at),
        )
        for platform, user_id, user_name, chat, code_hash, salt, iterations, created_at in (
            conn.execute(_SELECT_PENDING)
        )
    )
    approved = tuple(
        ApprovedUser(
            platform=Platform(platform),
            user_id=user_id,
            user_name=user_name,
            chat=None if chat is None else address_from_json(chat),
            approved_at=from_text(approved_at),
        )
        for platform, user_id, user_name, chat, approved_at in conn.execute(_SELECT_APPROVED)
    )
    requests = tuple(
        RequestMark(platform=Platform(platform), user_id=user_id, requested_at=from_text(at))
        for platform, user_id, at in conn.execute(_SELECT_REQUESTS)
    )
    guards = tuple(
        PairingGuard(
            platform=Platform(platform),
            failures=int(failures),
            locked_until=None if until is None else from_text(until),
        )
        for platform, failures, until in conn.execute(_SELECT_GUARDS)
    )
    return PairingState(pending=pending, approved=approved, requests=requests, guards=guards)


def _save_pending(conn: sqlite3.Connection, pending: PendingCode) -> None:
    created_at = to_text(pending.created_at)
    conn.execute(
        _UPSERT_PENDING,
        (
            pending.platform.value,
            pending.user_id,
            pending.user_name,
            address_to_json(pending.chat),
            pending.code_hash,
            pending.salt,
            pending.iterations,
            created_at,
        ),
    )
    conn.execute(_UPSERT_REQUEST, (pending.platform.value, pending.user_id, created_at))


def _save_guard(conn: sqlite3.Connection, guard: PairingGuard) -> None:
    if guard == PairingGuard(platform=guard.platform):
        conn.execute(_DELETE_GUARD, (guard.platform.value,))
        return
    until = None if guard.locked_until is None else to_text(guard.locked_until)
    conn.execute(_UPSERT_GUARD, (guard.platform.value, guard.failures, until))
