"""Delivery's outbox: what is in flight, how far it got, and when a failure is retried.

The delivery_id is the idempotency key: a delivery is tried until the platform confirms every
chunk, and a retry sends only the chunks not yet confirmed, so nothing the platform accepted is
sent twice. Retryable failures (rate limits, time-outs, network) wait with exponential backoff,
or as long as the platform asked (``retry_after``), for a bounded number of attempts.

Each chat is a lane: a delivery goes to its platform only when the one before it to the same
chat is finished (confirmed, or given up), so a retry never lets a later reply overtake an
earlier one.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from typing import Final

from hermes.messages.address import Address
from hermes.messages.delivery import DeliverMessage, DeliveryEvent, OutboundFailed, SendOutbound
from hermes.messages.values import ChatAddress, Platform

logger = logging.getLogger("hermes.actors.delivery")

RETRY_BACKOFF: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0)
"""Seconds before the 2nd to 10th attempt (about 2.5 minutes in all); then the failure is final.
A platform's rate limits and 5xx bursts outlast 15 s often enough that five attempts lost
replies (the fault soak with 20% refused sends); the outbox keeps them across restarts anyway."""
MAX_RETRY_AFTER: Final = 60.0
"""A platform asking for a longer wait than this is not waited for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Mirror:
    """Where a delivered text is to be recorded, once delivered."""

    address: ChatAddress
    label: str


@dataclass(slots=True, kw_only=True)
class Pending:
    """One delivery in flight (mutable; owned by the Delivery actor)."""

    send: SendOutbound
    """The whole delivery, every chunk."""
    platform: Platform
    reply_to: Address[DeliveryEvent] | None
    report_success: bool = False
    mirror: Mirror | None = None
    durable: bool = False
    """In the Store's outbox: ``OutboxDone`` goes there when Delivery is done with it."""
    confirmed: int = 0
    """Chunks the platform accepted so far."""
    attempts: int = 1

    def remaining(self) -> SendOutbound:
        """The delivery as it must be sent now: the chunks not yet confirmed."""
        if self.confirmed == 0:  # the first attempt, or nothing confirmed yet: all of it
            return self.send
        return replace(
            self.send, chunks=self.send.chunks[self.confirmed :], first_chunk=self.confirmed
        )

    def retry_delay(self, failure: OutboundFailed) -> float | None:
        """Seconds to wait before the next attempt, or None when the failure is final."""
        self.confirmed += failure.chunks_sent
        if not failure.retryable or self.attempts > len(RETRY_BACKOFF):
            return None
        delay = RETRY_BACKOFF[self.attempts - 1]
        if failure.retry_after is not None:
            if failure.retry_after > MAX_RETRY_AFTER:
                return None
            delay = max(delay, failure.retry_after)
        self.attempts += 1
        return delay


class Outbox:
    """The deliveries in flight, by id, in one lane per chat (first come, first sent)."""

    def __init__(self) -> None:
        """Start empty."""
        self._pending: dict[str, Pending] = {}
        self._lanes: dict[tuple[Platform, str], deque[str]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._pending

    def get(self, delivery_id: str) -> Pending | None:
        """The delivery ``delivery_id`` if it is in flight."""
        return self._pending.get(delivery_id)

    def add(self, pending: Pending) -> bool:
        """Queue ``pending`` in its chat's lane; True when it is first, to be sent now."""
        delivery_id = pending.send.delivery_id
        self._pending[delivery_id] = pending
        lane = self._lanes.setdefault(_lane_of(pending), deque())
        lane.append(delivery_id)
        return len(lane) == 1

    def finish(self, delivery_id: str) -> tuple[Pending | None, str | None]:
        """Forget ``delivery_id``: (what it was, the next delivery of its lane to send now)."""
        pending = self._pending.pop(delivery_id, None)
        if pending is None:
            return None, None
        key = _lane_of(pending)
        lane = self._lanes[key]
        was_head = lane[0] == delivery_id
        lane.remove(delivery_id)
        if not lane:
            del self._lanes[key]
            return pending, None
        return pending, lane[0] if was_head else None


def _lane_of(pending: Pending) -> tuple[Platform, str]:
    target = pending.send.message.target
    return pending.platform, target.chat_id


def log_resend(entry: DeliverMessage) -> None:
    """Log (WARNING) that ``entry``, unconfirmed when the gateway last stopped, is sent again.

    The fault-injection suite counts these lines: the one way a chat may see a reply twice.
    """
    logger.warning(
        "delivery resend: id=%s chat=%s in_reply_to=%s (unconfirmed when the gateway last "
        "stopped; the chat may see it twice)",
        entry.delivery_id,
        entry.message.target.chat_id,
        entry.message.in_reply_to,
    )


def timer_key(delivery_id: str) -> str:
    """The Scheduler key of a delivery's retry timer."""
    return f"delivery-retry:{delivery_id}"


def delivery_of(key: str) -> str | None:
    """The delivery_id of a retry timer key, or None for another key."""
    prefix = "delivery-retry:"
    return key.removeprefix(prefix) if key.startswith(prefix) else None
