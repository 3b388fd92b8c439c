"""StoreActor: the one writer of durable state, committing each tick's writes together.

Owns the ``StateStorage`` (the SQLite connection). Accepts ``StoreCommand``. Writes that arrive
together are applied in one transaction (group commit): the first write of a batch queues a
private ``_Commit`` behind everything already in the mailbox. Once a batch is committed, it
tells what its writes asked to be told: journal receipts to platform adapters, settled replies
to Delivery (the outbox). Reads commit first, so a reader sees every write sent before its
request. It never blocks on another actor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Final, TypeVar, assert_never

import pykka

from hermes.actors.address import ActorAddress
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.intake import InboundJournaled, InboundReceipt
from hermes.messages.ports import StateStorage, StorageError
from hermes.messages.router import ExpireSessions
from hermes.messages.store import (
    DeleteCronJob,
    FindExpiredSessions,
    GetSessionRecord,
    GetStoreStatus,
    ListSessions,
    LoadSession,
    OutboxDone,
    RecordInbound,
    RecordPairing,
    RecordTurn,
    SaveCronJob,
    SaveHomeChannel,
    SaveSession,
    SessionLoaded,
    SessionSnapshot,
    Settle,
    StoreCommand,
    StoreStatus,
    StoreWrite,
)

logger = logging.getLogger(__name__)

M = TypeVar("M")

COMMIT_ATTEMPTS: Final = 3
"""Attempts at one batch before its writes are reported lost (transient locks and I/O)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Commit:
    """Private: apply the writes gathered so far."""


class StoreActor(pykka.ThreadingActor):
    """The single writer of the state database.

    Accepts: ``StoreCommand`` (writes, ``LoadSession``, queries) and the private ``_Commit``.
    Emits: ``SessionLoaded`` to the session that asked; after a commit, ``InboundJournaled``
        to receipts and settled replies (``DeliverMessage``) to Delivery.
    Owns: the storage connection, the batch of writes not yet committed, counters.
    Lifecycle: started first by the System and stopped last; ``on_stop`` commits and closes.
    """

    def __init__(self, storage: StateStorage) -> None:
        """Take ownership of ``storage``."""
        super().__init__()
        self._storage = storage
        self._batch: list[StoreWrite] = []
        self._commit_queued = False
        self._commits = 0
        self._writes = 0
        self._salvaged: list[StoreWrite] = []
        """Marks kept from a lost batch, applied before the next batch (``_salvage``)."""
        self._salvage_failures = 0
        self._self: ActorAddress[StoreCommand | _Commit] = ActorAddress(self.actor_ref)

    def on_stop(self) -> None:
        """Commit what is pending and close the database."""
        self._commit()
        self._apply_salvaged()
        self._storage.close()

    def on_receive(self, message: StoreCommand | _Commit) -> object:
        """Dispatch one message of the Store's protocol."""
        match message:
            case (
                SaveSession() | RecordTurn() | RecordInbound() | SaveHomeChannel() | RecordPairing()
            ):
                self._on_write(message)
            case SaveCronJob() | DeleteCronJob() | Settle() | OutboxDone():
                self._on_write(message)
            case _Commit():
                self._commit_queued = False
                self._commit()
            case LoadSession():
                self._on_load_session(message)
            case FindExpiredSessions():
                self._on_find_expired_sessions(message)
            case ListSessions():
                self._commit()
                return self._storage.list_sessions(message.active_since)
            case GetSessionRecord():
                self._commit()
                return self._storage.get_session(message.session_key)
            case GetStoreStatus():
                return self._on_get_store_status()
            case _:
                assert_never(message)
        return None

    def _on_write(self, write: StoreWrite) -> None:
        self._batch.append(write)
        if not self._commit_queued:
            self._commit_queued = True
            self._self.tell(_Commit())

    def _on_load_session(self, message: LoadSession) -> None:
        self._commit()
        try:
            snapshot = self._storage.load_session(
                message.session_key, message.session_id, message.history_limit
            )
        except StorageError:
            logger.exception("could not load session %s; it starts empty", message.session_key)
            snapshot = SessionSnapshot(record=None, history=())
        message.reply_to.tell(SessionLoaded(session_key=message.session_key, snapshot=snapshot))

    def _on_find_expired_sessions(self, message: FindExpiredSessions) -> None:
        self._commit()
        try:
            keys = self._storage.expired_candidates(message.updated_before, message.limit)
        except StorageError:
            logger.exception("could not look for expired sessions")
            return
        message.reply_to.tell(ExpireSessions(session_keys=keys))

    def _on_get_store_status(self) -> StoreStatus:
        return StoreStatus(
            path=self._storage.location,
            commits=self._commits,
            writes=self._writes,
            pending_writes=len(self._batch),
        )

    def _commit(self) -> None:
        if not self._batch:
            return
        self._apply_salvaged()
        batch, self._batch = self._batch, []
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                self._storage.apply(batch)
            except StorageError:
                logger.exception("commit of %d writes failed (attempt %d)", len(batch), attempt)
                continue
            self._commits += 1
            self._writes += len(batch)
            _after_commit(batch, committed=True)
            return
        logger.error("%d writes were lost: %s", len(batch), _describe(batch))
        _after_commit(batch, committed=False)
        self._salvaged += _salvage(batch)

    def _apply_salvaged(self) -> None:
        """Apply the marks kept from lost batches, on their own (so they can spoil no batch).

        After ``COMMIT_ATTEMPTS`` failed commits they are given up too.
        """
        if not self._salvaged:
            return
        try:
            self._storage.apply(self._salvaged)
        except StorageError:
            self._salvage_failures += 1
            if self._salvage_failures < COMMIT_ATTEMPTS:
                return
            logger.exception("%d marks of lost writes were lost too", len(self._salvaged))
        else:
            logger.info("%d marks of lost writes were kept", len(self._salvaged))
            _after_commit(self._salvaged, committed=True)  # receipts; no reply is in them
        self._salvaged, self._salvage_failures = [], 0


def _after_commit(batch: list[StoreWrite], *, committed: bool) -> None:
    """Tell what the batch's writes asked to be told once they are durable.

    Receipts only when committed (an unconfirmed message comes again from its platform);
    replies in any case, so an answer is never withheld for want of a disk (it is then not
    in the outbox, and Delivery must not report it done there).
    """
    for write in batch:
        match write:
            case RecordInbound(receipt=InboundReceipt() as receipt) if committed:
                _tell(receipt.reply_to, InboundJournaled(token=receipt.token))
            case RecordTurn(settle=Settle() as settle) | (Settle() as settle):
                if settle.reply is not None and settle.delivery is not None:
                    reply = settle.reply if committed else replace(settle.reply, durable=False)
                    _tell(settle.delivery, reply)
            case _:
                pass


def _salvage(batch: list[StoreWrite]) -> list[StoreWrite]:
    """What of a lost batch is worth writing later: the idempotent journal and outbox marks.

    Which messages were received (their receipts are answered once that is written, so the
    platform may forget them), which were answered (else a restart answers them again; a
    settle that comes first leaves a settled row a later journal write does not change) and
    which outbox entries are done. The transcript, the outbox entry and the rest stay lost
    (logged).
    """
    kept: list[StoreWrite] = []
    for write in batch:
        match write:
            case RecordTurn(settle=Settle(inputs=inputs)) | Settle(inputs=inputs) if inputs:
                kept.append(Settle(inputs=inputs))
            case RecordInbound() | OutboxDone():
                kept.append(write)
            case _:
                pass
    return kept


def _tell(to: Address[M], message: M) -> None:
    try:
        to.tell(message)
    except AddressClosedError:
        logger.debug("%s not told: its recipient has stopped", type(message).__name__)


def _describe(batch: list[StoreWrite]) -> str:
    kinds: dict[str, int] = {}
    for write in batch:
        kinds[type(write).__name__] = kinds.get(type(write).__name__, 0) + 1
    return ", ".join(f"{count} {name}" for name, count in sorted(kinds.items()))
