"""DeliveryActor: routes everything the gateway says to the platform that reaches the chat.

Owns the outbox (deliveries in flight, their retries), the platform links, the home channels
and the channel directory. Splits text at the target platform's limit (never inside a code
fence), hands the chunks to the adapter as one ``SendOutbound`` (so they go out in order),
retries what is retryable without re-sending confirmed chunks (``delivery_outbox``), and reports
the outcome to whoever asked. Text delivered into a chat that has a session is mirrored there
through the Router. Streaming deltas and typing indicators pass through to the adapters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final, assert_never

import pykka

from hermes.actors.address import ActorAddress
from hermes.actors.delivery_directory import ChatDirectory, write_local
from hermes.actors.delivery_outbox import (
    Mirror,
    Outbox,
    Pending,
    delivery_of,
    log_resend,
    timer_key,
)
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import (
    ChatSeen,
    ConnectRouter,
    DeliverDelta,
    DeliverMessage,
    DeliverToTarget,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryFailed,
    DeliveryStatus,
    Directory,
    GetDeliveryStatus,
    GetDirectory,
    GetHomeChannels,
    HomesChanged,
    MessageDelivered,
    MirrorDelivery,
    OutboundFailed,
    OutboundMessage,
    OutboundSent,
    PlatformCommand,
    ResendOutbox,
    RouterFeed,
    SendDelta,
    SendOutbound,
    SetHomeChannel,
    SetTyping,
)
from hermes.messages.ports import Clock
from hermes.messages.scheduler import ArmTimer, SchedulerCommand, TimerFired
from hermes.messages.store import OutboxDone, SaveHomeChannel, StoreCommand
from hermes.messages.values import ChatAddress, HomeChannel, Platform
from hermes.policies.chunking import split_message
from hermes.policies.targets import LocalTarget, TargetError, resolve_target

logger = logging.getLogger(__name__)

EMPTY_REPLY: Final = "(No response generated)"


@dataclass(frozen=True, slots=True, kw_only=True)
class _FlushDone:
    """Private: tell the Store the outbox entries finished so far."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformLink:
    """How Delivery reaches one platform."""

    platform: Platform
    address: Address[PlatformCommand]
    max_message_length: int | None
    streams: bool = False
    """True when the platform shows partial replies (``SendDelta``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDeps:
    """Everything Delivery is started with."""

    links: tuple[PlatformLink, ...]
    homes: tuple[HomeChannel, ...]
    """The home channels at start: configured ones, overridden by those chosen with /sethome."""
    store: Address[StoreCommand]
    scheduler: Address[SchedulerCommand]
    clock: Clock
    local_dir: Path
    """Where ``local`` deliveries are written."""
    directory: tuple[ChatAddress, ...] = ()
    """Chats known at start (from the Store's session origins)."""
    resend: tuple[DeliverMessage, ...] = ()
    """Outbox entries the last run never saw confirmed; sent on ``ResendOutbox``."""


class DeliveryActor(pykka.ThreadingActor):
    """The owner of outbound routing.

    Accepts: ``DeliveryCommand``: messages to send (to an address or a target named in text),
        streamed deltas, typing indicators, ``/sethome``, chats seen, the adapters' outcomes,
        retry timers, queries.
    Emits: ``SendOutbound``/``SendDelta``/``SetTyping`` to platform adapters; ``DeliveryFailed``/
        ``MessageDelivered`` to requesters; ``SaveHomeChannel`` to the Store; ``ArmTimer`` to the
        Scheduler; ``MirrorDelivery`` to the Router.
    Owns: the outbox, the platform links, the home channels, the directory, counters.
    Lifecycle: started before the Router, stopped after it (so the last replies still go out).
    """

    def __init__(self, deps: DeliveryDeps) -> None:
        """Keep the platform links, home channels and directory."""
        super().__init__()
        self._deps = deps
        self._links = {link.platform: link for link in deps.links}
        self._book = ChatDirectory(deps.homes, deps.directory)
        self._outbox = Outbox()
        self._router: Address[RouterFeed] | None = None
        self._sent = 0
        self._failed = 0
        self._resent = 0
        self._done: list[str] = []
        self._self: ActorAddress[DeliveryCommand | _FlushDone] = ActorAddress(self.actor_ref)

    def on_stop(self) -> None:
        """Forget in the outbox what was finished (the rest is sent again at the next start)."""
        self._flush_done()

    def on_receive(self, message: DeliveryCommand | _FlushDone) -> object:
        """Dispatch one message of Delivery's protocol."""
        match message:
            case DeliverMessage():
                self._deliver(
                    message.delivery_id, message.message, message.reply_to, durable=message.durable
                )
            case DeliverToTarget():
                self._on_deliver_to_target(message)
            case DeliverDelta():
                self._on_deliver_delta(message)
            case SetTyping():
                self._pass_on(message.target.platform, message)
            case SetHomeChannel() | ChatSeen() | ConnectRouter() | ResendOutbox():
                self._learn(message)
            case OutboundSent() | OutboundFailed():
                self._on_outcome(message)
            case TimerFired() | _FlushDone():
                self._on_timer_or_flush(message)
            case GetDirectory() if message.reply_to is not None:
                self._report_directory(message.reply_to)
            case GetDeliveryStatus() | GetHomeChannels() | GetDirectory():
                return self._on_query(message)
            case _:
                assert_never(message)
        return None

    # -- sending ----------------------------------------------------------------------------

    def _deliver(
        self,
        delivery_id: str,
        outbound: OutboundMessage,
        reply_to: Address[DeliveryEvent] | None,
        mirror: Mirror | None = None,
        *,
        durable: bool = False,
    ) -> None:
        link = self._links.get(outbound.target.platform)
        if link is None:
            self._fail(delivery_id, reply_to, f"{outbound.target.platform} is not connected")
            self._done_with(delivery_id, durable=durable)
            return
        text = outbound.text or EMPTY_REPLY
        limit = link.max_message_length
        chunks = (split_message(text, limit) if limit is not None else (text,)) or (EMPTY_REPLY,)
        if delivery_id in self._outbox:
            logger.warning("delivery %s is already in flight; not sent twice", delivery_id)
            return
        send = SendOutbound(
            delivery_id=delivery_id, message=outbound, chunks=chunks, reply_to=self._self
        )
        pending = Pending(
            send=send, platform=link.platform, reply_to=reply_to, mirror=mirror, durable=durable
        )
        if self._outbox.add(pending):
            self._send(delivery_id)

    def _send(self, delivery_id: str | None) -> None:
        """Hand ``delivery_id`` (the head of its chat's lane) to its platform."""
        while delivery_id is not None:
            pending = self._outbox.get(delivery_id)
            if pending is None:
                return
            try:
                self._links[pending.platform].address.tell(pending.remaining())
            except AddressClosedError:
                # Left in the Store's outbox (if it is there): the next start sends it.
                _, following = self._outbox.finish(delivery_id)
                self._fail(delivery_id, pending.reply_to, f"{pending.platform} has stopped")
                delivery_id = following
            else:
                return

    def _finish(self, delivery_id: str) -> None:
        """``delivery_id`` is done: the next delivery to its chat goes now."""
        _, following = self._outbox.finish(delivery_id)
        self._send(following)

    def _on_deliver_to_target(self, message: DeliverToTarget) -> None:
        try:
            resolved = resolve_target(message.target, self._book.targets(message.origin))
        except TargetError as error:
            self._fail(message.delivery_id, message.reply_to, str(error))
            return
        if isinstance(resolved, LocalTarget):
            self._write_local(message)
            return
        outbound = OutboundMessage(target=resolved, text=message.text, kind=message.kind)
        mirror = None
        if message.mirror_label is not None:
            mirror = Mirror(address=resolved, label=message.mirror_label)
        self._deliver(message.delivery_id, outbound, message.reply_to, mirror)
        pending = self._outbox.get(message.delivery_id)
        if pending is not None:
            pending.report_success = True  # operators and jobs hear of success too

    def _write_local(self, message: DeliverToTarget) -> None:
        now, directory = self._deps.clock.now(), self._deps.local_dir
        try:
            write_local(directory, now, message.delivery_id, message.text)
        except OSError as error:
            reason = f"cannot write in {directory}: {error}"
            self._fail(message.delivery_id, message.reply_to, reason)
            return
        self._sent += 1
        if message.reply_to is not None:
            self._report(message.reply_to, MessageDelivered(delivery_id=message.delivery_id))

    def _on_deliver_delta(self, message: DeliverDelta) -> None:
        link = self._links.get(message.target.platform)
        if link is None or not link.streams:
            return
        self._pass_on(
            link.platform,
            SendDelta(
                target=message.target,
                in_reply_to=message.in_reply_to,
                session_id=message.session_id,
                text=message.text,
            ),
        )

    def _pass_on(self, platform: Platform, command: PlatformCommand) -> None:
        link = self._links.get(platform)
        if link is None:
            return
        try:
            link.address.tell(command)
        except AddressClosedError:
            logger.debug("%s dropped: %s has stopped", type(command).__name__, platform)

    # -- outcomes ---------------------------------------------------------------------------

    def _on_outcome(self, message: OutboundSent | OutboundFailed) -> None:
        pending = self._outbox.get(message.delivery_id)
        if pending is None:
            return
        if isinstance(message, OutboundSent):
            self._finish(message.delivery_id)
            self._sent += 1
            self._done_with(message.delivery_id, durable=pending.durable)
            self._succeeded(pending)
            return
        delay = pending.retry_delay(message)
        if delay is None:
            self._finish(message.delivery_id)
            self._fail(message.delivery_id, pending.reply_to, message.reason)
            self._done_with(message.delivery_id, durable=pending.durable)
            return
        logger.info(
            "delivery %s failed (%s); attempt %d in %.1f s",
            message.delivery_id,
            message.reason,
            pending.attempts,
            delay,
        )
        self._deps.scheduler.tell(
            ArmTimer(key=timer_key(message.delivery_id), delay_seconds=delay, reply_to=self._self)
        )

    def _done_with(self, delivery_id: str, *, durable: bool) -> None:
        """A delivery from the Store's outbox is finished (sent, or given up): forget it there.

        The ids gathered while the mailbox holds more go to the Store as one write, behind
        whatever is already queued here (as the Store's own group commit).
        """
        if not durable:
            return
        self._done.append(delivery_id)
        if len(self._done) == 1:
            self._self.tell(_FlushDone())

    def _flush_done(self) -> None:
        if self._done:
            done, self._done = tuple(self._done), []
            self._deps.store.tell(OutboxDone(delivery_ids=done))

    def _resend(self) -> None:
        """Send what the last run committed but its platform never confirmed (at-least-once)."""
        for entry in self._deps.resend:
            log_resend(entry)
            self._resent += 1
            self._deliver(entry.delivery_id, entry.message, None, durable=True)

    def _on_timer_or_flush(self, message: TimerFired | _FlushDone) -> None:
        if isinstance(message, _FlushDone):
            self._flush_done()
        else:
            self._on_retry(message.key)

    def _on_retry(self, key: str) -> None:
        delivery_id = delivery_of(key)
        if delivery_id is not None and delivery_id in self._outbox:
            self._send(delivery_id)

    def _succeeded(self, pending: Pending) -> None:
        if pending.report_success and pending.reply_to is not None:
            self._report(pending.reply_to, MessageDelivered(delivery_id=pending.send.delivery_id))
        if pending.mirror is not None:
            mirror, text = pending.mirror, pending.send.message.text
            self._tell_router(MirrorDelivery(address=mirror.address, text=text, label=mirror.label))

    def _tell_router(self, message: RouterFeed) -> None:
        if self._router is None:
            return
        try:
            self._router.tell(message)
        except AddressClosedError:
            logger.debug("router gone; %s not told", type(message).__name__)

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

    # -- what Delivery knows ----------------------------------------------------------------

    def _on_query(
        self, query: GetDeliveryStatus | GetHomeChannels | GetDirectory
    ) -> DeliveryStatus | tuple[HomeChannel, ...] | Directory:
        match query:
            case GetDeliveryStatus():
                return DeliveryStatus(
                    in_flight=len(self._outbox),
                    sent=self._sent,
                    failed=self._failed,
                    resent=self._resent,
                )
            case GetHomeChannels():
                return self._book.homes
            case GetDirectory():
                return self._book.snapshot()

    def _report_directory(self, reply_to: Address[Directory]) -> None:
        try:
            reply_to.tell(self._book.snapshot())
        except AddressClosedError:
            logger.debug("asker of the directory has stopped")

    def _learn(self, message: SetHomeChannel | ChatSeen | ConnectRouter | ResendOutbox) -> None:
        match message:
            case ResendOutbox():
                self._resend()
            case SetHomeChannel():
                self._on_set_home_channel(message)
            case ChatSeen():
                self._book.seen(message.address)
            case ConnectRouter():
                self._router = message.router
                self._tell_router(HomesChanged(homes=self._book.homes))

    def _on_set_home_channel(self, message: SetHomeChannel) -> None:
        home = message.home
        self._book.set_home(home)
        self._deps.store.tell(SaveHomeChannel(home=home, at=self._deps.clock.now()))
        self._tell_router(HomesChanged(homes=self._book.homes))
        logger.info("home channel of %s: %s (%s)", home.platform, home.address.chat_id, home.name)
