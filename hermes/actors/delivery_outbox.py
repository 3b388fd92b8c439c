"""Delivery's outbox: what is in flight, how far it got, and when a failure is retried.

The delivery_id is the idempotency key: a delivery is tried until the platform confirms every
chunk, and a retry sends only the chunks not yet confirmed, so nothing the platform accepted is
sent twice. Retryable failures (rate limits, time-outs, network) wait with exponential backoff,
or as long as the platform asked (``retry_after``), for a bounded number of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from hermes.messages.address import Address
from hermes.messages.delivery import DeliveryEvent, OutboundFailed, SendOutbound
from hermes.messages.values import ChatAddress, Platform

RETRY_BACKOFF: Final = (1.0, 2.0, 4.0, 8.0)
"""Seconds before the 2nd, 3rd, 4th and 5th attempt; then the failure is final."""
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
        return replace(self.send, chunks=self.send.chunks[self.confirmed :])

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


def timer_key(delivery_id: str) -> str:
    """The Scheduler key of a delivery's retry timer."""
    return f"delivery-retry:{delivery_id}"


def delivery_of(key: str) -> str | None:
    """The delivery_id of a retry timer key, or None for another key."""
    prefix = "delivery-retry:"
    return key.removeprefix(prefix) if key.startswith(prefix) else None
