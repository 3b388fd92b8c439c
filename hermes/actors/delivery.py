"""DeliveryActor: routes everything the gateway says to the platform that reaches the chat.

Owns the outbox of deliveries in flight and the platform links. Accepts ``DeliveryCommand``:
splits text at the target platform's limit (never inside a code fence), hands the chunks to
the adapter as one ``SendOutbound`` (so they go out in order), and reports a failure to whoever
asked. Streaming deltas pass through to adapters that show them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import assert_never

import pykka

from hermes.actors.address import ActorAddress
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import (
    DeliverDelta,
    DeliverMessage,
    DeliverToTarget,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryStatus,
    GetDeliveryStatus,
    GetHomeChannels,
    MessageDelivered,
    OutboundFailed,
    OutboundMessage,
    OutboundSent,
    PlatformCommand,
    SendDelta,
    SendOutbound,
    SetHomeChannel,
    SetTyping,
)
from hermes.messages.ports import Clock
from hermes.messages.store import SaveHomeChannel, StoreCommand
from hermes.messages.values import HomeChannel, Platform
from hermes.policies.chunking import split_message
from hermes.policies.targets import TargetError, resolve_target

logger = logging.getLogger(__name__)

EMPTY_REPLY = "(No response generated)"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformLink:
    """How Delivery reaches one platform."""

    platform: Platform
    address: Address[PlatformCommand]
    max_message_length: int | None
    streams: bool = False
    """True when the platform shows partial replies (``SendDelta``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _InFlight:
    platform: Platform
    reply_to: Address[DeliveryEvent] | None
    report_success: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDeps:
    """Everything Delivery is started with."""

    links: tuple[PlatformLink, ...]
    homes: tuple[HomeChannel, ...]
    """The home channels at start: configured ones, overridden by those chosen with /sethome."""
    store: Address[StoreCommand]
    clock: Clock


class DeliveryActor(pykka.ThreadingActor):
    """The owner of outbound routing.

    Accepts: ``DeliveryCommand``: messages to send (to an address or a target named in text),
        streamed deltas, typing indicators, ``/sethome``, the adapters' outcomes, queries.
    Emits: ``SendOutbound``/``SendDelta``/``SetTyping`` to platform adapters; ``DeliveryFailed``
        to the requester of a failed delivery; ``SaveHomeChannel`` to the Store.
    Owns: delivery_id -> in-flight delivery, the platform links, the home channels, counters.
    Lifecycle: started before the Router, stopped after it (so the last replies still go out).
    """

    def __init__(self, deps: DeliveryDeps) -> None:
        """Keep the platform links and home channels."""
        super().__init__()
        self._deps = deps
        self._links = {link.platform: link for link in deps.links}
        self._homes = {home.platform: home for home in deps.homes}
        self._in_flight: dict[str, _InFlight] = {}
        self._sent = 0
        self._failed = 0
        self._self: ActorAddress[DeliveryCommand] = ActorAddress(self.actor_ref)

    def on_receive(self, message: DeliveryCommand) -> object:
        """Dispatch one message of Delivery's protocol."""
        match message:
            case DeliverMessage():
                self._on_deliver_message(message)
            case DeliverToTarget():
                self._on_deliver_to_target(message)
            case SetHomeChannel():
                self._on_set_home_channel(message)
            case GetHomeChannels():
                return tuple(self._homes.values())
            case DeliverDelta():
                self._on_deliver_delta(message)
            case SetTyping():
                self._on_set_typing(message)
            case OutboundSent() | OutboundFailed():
                self._on_outcome(message)
            case GetDeliveryStatus():
                return DeliveryStatus(
                    in_flight=len(self._in_flight), sent=self._sent, failed=self._failed
                )
            case _:
                assert_never(message)
        return None

    def _on_deliver_message(self, message: DeliverMessage, *, report_success: bool = False) -> None:
        outbound = message.message
        link = self._links.get(outbound.target.platform)
        if link is None:
            self._fail(
                message.delivery_id,
                message.reply_to,
                f"{outbound.target.platform} is not connected",
            )
            return
        text = outbound.text or EMPTY_REPLY
        limit = link.max_message_length
        chunks = (split_message(text, limit) if limit is not None else (text,)) or (EMPTY_REPLY,)
        self._in_flight[message.delivery_id] = _InFlight(
            platform=link.platform, reply_to=message.reply_to, report_success=report_success
        )
        try:
            link.address.tell(
                SendOutbound(
                    delivery_id=message.delivery_id,
                    message=outbound,
                    chunks=chunks,
                    reply_to=self._self,
                )
            )
        except AddressClosedError:
            del self._in_flight[message.delivery_id]
            self._fail(message.delivery_id, message.reply_to, f"{link.platform} has stopped")

    def _on_deliver_to_target(self, message: DeliverToTarget) -> None:
        try:
            address = resolve_target(message.target, self._homes)
        except TargetError as error:
            self._fail(message.delivery_id, message.reply_to, str(error))
            return
        outbound = OutboundMessage(target=address, text=message.text, kind=message.kind)
        self._on_deliver_message(
            DeliverMessage(
                delivery_id=message.delivery_id, message=outbound, reply_to=message.reply_to
            ),
            report_success=True,
        )

    def _on_set_home_channel(self, message: SetHomeChannel) -> None:
        home = message.home
        self._homes[home.platform] = home
        self._deps.store.tell(SaveHomeChannel(home=home, at=self._deps.clock.now()))
        logger.info(
            "home channel of %s is now %s (%s)", home.platform, home.address.chat_id, home.name
        )

    def _on_deliver_delta(self, message: DeliverDelta) -> None:
        link = self._links.get(message.target.platform)
        if link is None or not link.streams:
            return
        try:
            link.address.tell(
                SendDelta(
                    target=message.target,
                    in_reply_to=message.in_reply_to,
                    session_id=message.session_id,
                    text=message.text,
                )
            )
        except AddressClosedError:
            logger.debug("delta dropped: %s has stopped", link.platform)

    def _on_set_typing(self, message: SetTyping) -> None:
        link = self._links.get(message.target.platform)
        if link is None:
            return
        try:
            link.address.tell(message)
        except AddressClosedError:
            logger.debug("typing indicator dropped: %s has stopped", link.platform)

    def _on_outcome(self, message: OutboundSent | OutboundFailed) -> None:
        entry = self._in_flight.pop(message.delivery_id, None)
        if entry is None:
            return
        if isinstance(message, OutboundSent):
            self._sent += 1
            if entry.report_success and entry.reply_to is not None:
                self._report(entry.reply_to, MessageDelivered(delivery_id=message.delivery_id))
        else:
            self._fail(message.delivery_id, entry.reply_to, message.reason)

    def _fail(self, delivery_id: str, reply_to: Address[DeliveryEvent] | None, reason: str) -> None:
        self._failed += 1
        logger.warning("delivery %s failed: %s", delivery_id, reason)
        if reply_to is not None:
            self._report(reply_to, DeliveryFailed(delivery_id=delivery_id, reason=reason))

    def _report(self, reply_to: Address[DeliveryEvent], event: DeliveryEvent) -> None:
        try:
            reply_to.tell(event)
        except AddressClosedError:
            logger.debug("requester of delivery %s has stopped", event.delivery_id)
