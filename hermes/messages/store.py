"""The Store actor's protocol: loading a session, and the writes it batches into transactions.

Writes are plain facts (``SaveSession``, ``RecordTurn``, ``RecordInbound``, ``Settle``); the
Store groups the writes that arrive together into one transaction (group commit) and, once it
is committed, tells what the writes ask to be told (receipts, replies to send). Reads go through
the same mailbox, so a reader always sees every write sent before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hermes.messages.address import Address
from hermes.messages.cron import CronJob
from hermes.messages.delivery import DeliverMessage
from hermes.messages.intake import InboundReceipt, InboundRef
from hermes.messages.pairing import PairingChange
from hermes.messages.router import ExpireSessions
from hermes.messages.values import (
    ChatAddress,
    ChatMessage,
    HomeChannel,
    InboundMessage,
    Platform,
    Sender,
    SessionKey,
    TokenUsage,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """The durable entry of one session_key: its current session_id and bookkeeping."""

    session_key: SessionKey
    session_id: str
    created_at: datetime
    updated_at: datetime
    origin: ChatAddress | None = None
    """Where the session's last message came from (for status and, later, delivery)."""
    usage: TokenUsage = field(default_factory=TokenUsage)
    """Tokens used by the current session_id."""
    last_sender: Sender | None = None
    """Who spoke in the session's last turn (the user a flush turn saves memories about)."""
    memory_flushed: bool = True
    """False while the session_id has turns its ending has not yet flushed to memory: the
    periodic expiry check looks only at those, and a finished flush is never run again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSnapshot:
    """What the Store knows of a session when it is activated."""

    record: SessionRecord | None
    history: tuple[ChatMessage, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveSession:
    """Write: the session's entry changed (activation, reset, usage)."""

    record: SessionRecord
    ended_session_id: str | None = None
    """A session_id this write retires (a reset), kept with ``end_reason``."""
    end_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settle:
    """Write: the outcome of journaled inbound messages (reference: a transactional outbox).

    ``inputs`` are marked settled (never routed again at start) and ``reply``, if any, is
    saved in the outbox, in the same transaction; after the commit the Store tells ``reply``
    to ``delivery``, which removes it from the outbox (``OutboxDone``) once the platform
    confirmed it. A reply never confirmed is sent again at the next start.
    """

    inputs: tuple[InboundRef, ...]
    reply: DeliverMessage | None = None
    delivery: Address[DeliverMessage] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordTurn:
    """Write: a completed turn's messages, and the entry they update, in one transaction.

    With ``settle``, the turn's inputs are settled and its answer queued in the same
    transaction (a chat's turn); without, the answer goes straight out (an HTTP request).
    """

    record: SessionRecord
    messages: tuple[ChatMessage, ...]
    settle: Settle | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordInbound:
    """Write: an inbound message was accepted (the journal behind re-delivery dedupe).

    With ``message`` the journal keeps it whole, unsettled until a ``Settle`` names it, so it
    can be routed again after a crash. ``receipt`` is told ``InboundJournaled`` after the
    commit. Writing a message already journaled changes nothing (and still answers the
    receipt).
    """

    platform: Platform
    message_id: str
    session_key: SessionKey
    received_at: datetime
    message: InboundMessage | None = None
    receipt: InboundReceipt | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxDone:
    """Write: Delivery is done with these outbox entries (confirmed, or given up)."""

    delivery_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveHomeChannel:
    """Write: a platform's home channel was chosen (``/sethome``)."""

    home: HomeChannel
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCronJob:
    """Write, from the Scheduler: a cron job was created or changed (state, next or last run)."""

    job: CronJob


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteCronJob:
    """Write, from the Scheduler: a cron job was removed."""

    job_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPairing:
    """Write, from the PairingActor: pairing facts, applied in order (codes only hashed)."""

    changes: tuple[PairingChange, ...]


StoreWrite = (
    SaveSession
    | RecordTurn
    | RecordInbound
    | Settle
    | OutboxDone
    | SaveHomeChannel
    | SaveCronJob
    | DeleteCronJob
    | RecordPairing
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionLoaded:
    """Sent by the Store to a SessionActor in answer to ``LoadSession``."""

    session_key: SessionKey
    snapshot: SessionSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSession:
    """Sent by a SessionActor as it activates: read my entry and recent transcript."""

    session_key: SessionKey
    session_id: str | None
    """A client-pinned session_id whose transcript to read, instead of the entry's."""
    history_limit: int
    reply_to: Address[SessionLoaded]


@dataclass(frozen=True, slots=True, kw_only=True)
class FindExpiredSessions:
    """Sent by the Router's expiry check: sessions with unflushed turns, long inactive.

    Those last active before ``updated_before``; answered with ``ExpireSessions`` (at most
    ``limit`` keys).
    """

    updated_before: datetime
    limit: int
    reply_to: Address[ExpireSessions]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSessions:
    """Query (ask only): session entries, most recently active first."""

    active_since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetSessionRecord:
    """Query (ask only): one session entry, or None."""

    session_key: SessionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class GetStoreStatus:
    """Query (ask only): the Store's counters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatus:
    """Reply to ``GetStoreStatus``."""

    path: str
    commits: int
    writes: int
    pending_writes: int


StoreCommand = (
    SaveSession
    | RecordTurn
    | RecordInbound
    | Settle
    | OutboxDone
    | SaveHomeChannel
    | SaveCronJob
    | DeleteCronJob
    | RecordPairing
    | LoadSession
    | FindExpiredSessions
    | ListSessions
    | GetSessionRecord
    | GetStoreStatus
)
