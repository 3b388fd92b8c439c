"""The ``send_message`` tools' way to Delivery: a ``MessagingHandle`` bound to one turn's chat.

A send is a ``DeliverToTarget`` whose outcome completes a future (``FutureReply``), awaited on
the agent's loop with a timeout; ``origin`` means the turn's chat, and a delivered text is
mirrored into the target chat's session, labelled with the platform it came from. Listing asks
Delivery for its directory the same way. Nothing here blocks a loop or holds state between
calls.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Final

from hermes.actors.future_reply import FutureReply
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import (
    DeliverToTarget,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    Directory,
    GetDirectory,
    OutboundKind,
)
from hermes.messages.messaging import KnownTarget, MessagingError
from hermes.messages.values import ChatAddress
from hermes.policies.targets import known_targets

SEND_WAIT_SECONDS: Final = 30.0
"""How long a send waits for the platform's confirmation (retries included) before it says
the message is still on its way."""
LIST_WAIT_SECONDS: Final = 10.0
MAX_MESSAGE_CHARS: Final = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryMessenger:
    """The messaging tools of one turn in ``origin`` (implements ``MessagingHandle``)."""

    delivery: Address[DeliveryCommand]
    origin: ChatAddress
    label: str
    """How deliveries are labelled in the target chat's transcript (``[Delivered from …]``)."""
    send_wait: float = SEND_WAIT_SECONDS
    list_wait: float = LIST_WAIT_SECONDS

    async def send(self, target: str, text: str) -> str:
        """Send ``text`` to ``target`` and wait (bounded) for the platform to confirm it.

        Raises:
            MessagingError: empty or oversized text, unknown target, or a final failure.
        """
        if not text.strip():
            raise MessagingError("the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise MessagingError(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
        reply: FutureReply[DeliveryEvent] = FutureReply()
        delivery_id = secrets.token_hex(8)
        self._tell(
            DeliverToTarget(
                delivery_id=delivery_id,
                target=target,
                text=text,
                kind=OutboundKind.REPLY,
                reply_to=reply,
                origin=self.origin,
                mirror_label=self.label,
            )
        )
        try:
            async with asyncio.timeout(self.send_wait):
                event = await reply.answer()
        except TimeoutError:
            return (
                f"Accepted for {target}, but the platform has not confirmed it within "
                f"{self.send_wait:.0f} s; the gateway keeps retrying it."
            )
        if isinstance(event, DeliveryFailed):
            raise MessagingError(event.reason)
        return f"Delivered to {target}."

    async def targets(self) -> tuple[KnownTarget, ...]:
        """This chat, the home channels and the group chats Delivery knows.

        Raises:
            MessagingError: Delivery did not answer in time.
        """
        reply: FutureReply[Directory] = FutureReply()
        self._tell(GetDirectory(reply_to=reply))
        try:
            async with asyncio.timeout(self.list_wait):
                directory = await reply.answer()
        except TimeoutError:
            raise MessagingError("the list of targets is not available right now") from None
        return known_targets(directory.homes, reversed(directory.chats), self.origin)

    def _tell(self, message: DeliverToTarget | GetDirectory) -> None:
        try:
            self.delivery.tell(message)
        except AddressClosedError:
            raise MessagingError("the gateway is shutting down; nothing can be sent") from None
