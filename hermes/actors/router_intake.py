"""The Router's intake: who is served, what was seen before, and what is journaled.

Each inbound message passes the access rules (``AccessGate``), the dedupe window (platform and
message id, seeded from the journal at start, so re-deliveries across restarts are dropped
too) and is journaled whole before it is routed (``RecordInbound``). A receipt that came with
it is answered once the message is durable (by the Store, after its commit) or at once when
there is nothing to keep; a message the System routes again at start (``resumed``) is already
journaled. Owned by the Router; used only on its thread.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from hermes.actors.router_access import AccessGate
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.intake import InboundJournaled, InboundRef
from hermes.messages.router import RouteInbound
from hermes.messages.store import RecordInbound, Settle, StoreCommand
from hermes.messages.values import Platform
from hermes.policies.session_keys import SessionRoute, route_for

logger = logging.getLogger(__name__)

DEDUPE_WINDOW: Final = 100_000
"""Inbound (platform, message_id) pairs remembered to drop re-deliveries."""

DedupeKey = tuple[Platform, str]


class RouterIntake:
    """Admits, dedupes and journals inbound messages; counts what it drops."""

    def __init__(
        self,
        gate: AccessGate,
        store: Address[StoreCommand],
        recent: Iterable[DedupeKey],
        *,
        group_sessions_per_user: bool,
    ) -> None:
        """Seed the dedupe window with ``recent`` (journaled before this start)."""
        self.gate = gate
        self._store = store
        # Kept as one string per message (not a tuple): a flat string is invisible to the
        # garbage collector, which otherwise walks the whole window on every full collection.
        self._seen: OrderedDict[str, None] = OrderedDict.fromkeys(_flat(key) for key in recent)
        self._per_user = group_sessions_per_user
        self.duplicates = 0

    def accept(self, command: RouteInbound) -> SessionRoute | None:
        """The route of ``command``'s message, or None when it is not to be answered."""
        inbound = command.message
        key = (inbound.origin.platform, inbound.message_id)
        if not self.gate.admit(inbound):
            self._confirm(command)  # nothing to keep
            if command.resumed:  # refused now (a revoked pairing): never resumed again
                self._store.tell(Settle(inputs=(InboundRef(platform=key[0], message_id=key[1]),)))
            return None
        route = route_for(inbound, group_sessions_per_user=self._per_user)
        # A sender waiting on its connection retries as a new request; chat platforms
        # re-deliver the same message id, which must not be answered twice.
        if inbound.awaits_reply:
            self._confirm(command)
            return route
        if command.resumed:
            self._remember(key)
            return route
        if _flat(key) in self._seen:
            self.duplicates += 1
            logger.info("dropped re-delivered message %s from %s", key[1], key[0])
            if command.receipt is not None:  # confirmed once its first copy is durable
                self._journal(command, route, keep=False)
            return None
        self._remember(key)
        self._journal(command, route, keep=True)
        return route

    def _journal(self, command: RouteInbound, route: SessionRoute, *, keep: bool) -> None:
        inbound = command.message
        self._store.tell(
            RecordInbound(
                platform=inbound.origin.platform,
                message_id=inbound.message_id,
                session_key=route.key,
                received_at=inbound.received_at,
                message=inbound if keep else None,
                receipt=command.receipt,
            )
        )

    def _remember(self, key: DedupeKey) -> None:
        self._seen[_flat(key)] = None
        if len(self._seen) > DEDUPE_WINDOW:
            self._seen.popitem(last=False)

    @staticmethod
    def _confirm(command: RouteInbound) -> None:
        receipt = command.receipt
        if receipt is None:
            return
        try:
            receipt.reply_to.tell(InboundJournaled(token=receipt.token))
        except AddressClosedError:
            logger.debug("platform gone; receipt %s not confirmed", receipt.token)


def _flat(key: DedupeKey) -> str:
    """``key`` as one string; a platform's name never holds NUL, so no two keys collide."""
    return f"{key[0].value}\x00{key[1]}"
