"""What the last run left undone, read at start and picked up again.

Messages journaled but never settled are routed again (before any platform starts, so they
come first and in order, as ``resumed``: not journaled twice, not dropped as re-deliveries).
Replies committed to the outbox but never confirmed are sent again once the platforms run
(at-least-once: a platform that accepted one just before a crash shows it twice, and each such
resend is logged as ``delivery resend:``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from hermes.messages.address import Address
from hermes.messages.delivery import DeliverMessage
from hermes.messages.ports import StateStorage
from hermes.messages.router import RouteInbound
from hermes.messages.values import InboundMessage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unfinished:
    """What the last run left undone: messages never answered, replies never confirmed."""

    inbound: tuple[InboundMessage, ...] = ()
    outbox: tuple[DeliverMessage, ...] = ()

    @classmethod
    def read(cls, storage: StateStorage, since: datetime) -> Unfinished:
        """Read it from ``storage``: messages since ``since`` (older ones are given up)."""
        return cls(inbound=storage.unsettled_inbound(since), outbox=storage.pending_outbox())

    def resume(self, router: Address[RouteInbound]) -> None:
        """Route the unanswered messages again, oldest first."""
        if self.inbound:
            logger.info("resuming %d message(s) the last run did not answer", len(self.inbound))
        for message in self.inbound:
            router.tell(RouteInbound(message=message, resumed=True))
