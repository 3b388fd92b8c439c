"""Durable intake: how a platform learns that a message it handed over is safe.

A platform adapter that can hold back its acknowledgement (Telegram: the getUpdates offset)
routes each message with an ``InboundReceipt``. Once the message is journaled (the Store
committed it) or needs no keeping (a re-delivery of a journaled one, a refused sender), the
receipt's ``reply_to`` hears ``InboundJournaled``, and only then does the adapter confirm the
message to the platform. A crash before that makes the platform deliver it again.

A journaled message stays *unsettled* until its session records its outcome (its answer, or a
final notice) with a ``Settle`` write; at start, unsettled messages are routed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from hermes.messages.address import Address
from hermes.messages.values import Platform


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundJournaled:
    """Sent to a platform adapter: the message behind ``token`` is durable (or needs no keeping).

    The adapter may now confirm it to the platform.
    """

    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundReceipt:
    """Carried with an inbound message: whom to tell, with which token, once it is journaled."""

    token: str
    reply_to: Address[InboundJournaled]


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundRef:
    """One journaled inbound message, by its dedupe key."""

    platform: Platform
    message_id: str
