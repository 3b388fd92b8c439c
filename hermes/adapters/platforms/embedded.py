"""The embedded platform: a chat that lives inside the host program.

Programs that embed the gateway (and the tests and benchmarks) send messages with ``send`` and
read or wait for the answers; Delivery's ``SendOutbound`` is recorded on the caller's thread,
which is cheap and never blocks. It behaves like a chat platform: messages are journaled and
re-deliveries of a message id are dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import assert_never

from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import (
    OutboundMessage,
    OutboundSent,
    PlatformCommand,
    SendDelta,
    SendOutbound,
    SetTyping,
)
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedChat:
    """Who speaks, and in which chat, for ``EmbeddedPlatform.send``."""

    chat_id: str = "local"
    user_id: str = "user"
    chat_type: ChatType = ChatType.DM
    thread_id: str | None = None
    user_name: str | None = None


class EmbeddedPlatform:
    """An in-process platform (``embedded``)."""

    def __init__(
        self,
        max_message_length: int | None = None,
        listener: Callable[[OutboundMessage], None] | None = None,
    ) -> None:
        """Record outbound messages, or, given a ``listener``, call it with each instead.

        The listener runs on Delivery's thread; what it is given is not kept (``outbox`` and
        ``wait_for`` then see nothing), so a long-running host does not accumulate every reply.
        """
        self._limit = max_message_length
        self._listener = listener
        self._router: Address[RouteInbound] | None = None
        self._condition = threading.Condition()
        self._outbox: list[OutboundMessage] = []
        self._ids = itertools.count(1)
        self._instance = secrets.token_hex(6)  # ids stay unique across restarts (dedupe)
        self._state = PlatformState.STOPPED

    @property
    def platform(self) -> Platform:
        """Always ``embedded``."""
        return Platform.EMBEDDED

    @property
    def max_message_length(self) -> int | None:
        """The split limit given at construction (None: no splitting)."""
        return self._limit

    @property
    def address(self) -> Address[PlatformCommand]:
        """This object: its ``tell`` records what Delivery sends."""
        return self

    def start(self, router: Address[RouteInbound]) -> None:
        """Begin intake."""
        self._router = router
        self._state = PlatformState.RUNNING

    def stop_intake(self) -> None:
        """Refuse ``send`` from now on."""
        self._state = PlatformState.DRAINING

    def close(self, timeout: float) -> None:
        """Nothing to release."""
        del timeout
        self._state = PlatformState.STOPPED

    def health(self) -> PlatformHealth:
        """The adapter's state."""
        return PlatformHealth(platform=Platform.EMBEDDED, state=self._state)

    def send(
        self, text: str, chat: EmbeddedChat | None = None, message_id: str | None = None
    ) -> InboundMessage:
        """Send ``text`` as a person in ``chat`` would; returns the message told to the Router.

        Raises:
            AddressClosedError: the gateway is not taking messages.
        """
        chat = chat or EmbeddedChat()
        message = InboundMessage(
            message_id=message_id or f"embedded-{self._instance}-{next(self._ids)}",
            origin=ChatAddress(
                platform=Platform.EMBEDDED,
                chat_id=chat.chat_id,
                chat_type=chat.chat_type,
                thread_id=chat.thread_id,
            ),
            sender=Sender(user_id=chat.user_id, user_name=chat.user_name),
            text=text,
            received_at=datetime.now(UTC),
        )
        self.inject(message)
        return message

    def inject(self, message: InboundMessage) -> None:
        """Tell the Router ``message`` as it is (any platform's message may be replayed).

        Raises:
            AddressClosedError: the gateway is not taking messages.
        """
        if self._router is None or self._state is not PlatformState.RUNNING:
            raise AddressClosedError("the embedded platform is not taking messages")
        self._router.tell(RouteInbound(message=message))

    def outbox(self, chat_id: str | None = None) -> list[OutboundMessage]:
        """Everything delivered so far (to ``chat_id`` only, when given), in order."""
        with self._condition:
            return [m for m in self._outbox if chat_id is None or m.target.chat_id == chat_id]

    def wait_for(
        self, count: int, chat_id: str | None = None, timeout: float = 5.0
    ) -> list[OutboundMessage]:
        """Wait until ``count`` messages were delivered (to ``chat_id``); return them all.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """

        def enough() -> bool:
            return (
                sum(1 for m in self._outbox if chat_id is None or m.target.chat_id == chat_id)
                >= count
            )

        with self._condition:
            if not self._condition.wait_for(enough, timeout):
                have = len(self.outbox(chat_id))
                raise TimeoutError(f"{have} of {count} messages arrived within {timeout} s")
            return [m for m in self._outbox if chat_id is None or m.target.chat_id == chat_id]

    def tell(self, message: PlatformCommand) -> None:
        """Record a ``SendOutbound`` (each chunk is one message) and confirm it."""
        match message:
            case SendOutbound():
                self._record(message)
            case SendDelta() | SetTyping():
                pass  # an embedded chat shows only whole messages
            case _:
                assert_never(message)

    def _record(self, command: SendOutbound) -> None:
        outbound = command.message
        parts = [
            OutboundMessage(
                target=outbound.target,
                text=chunk,
                kind=outbound.kind,
                in_reply_to=outbound.in_reply_to,
                session_id=outbound.session_id,
                usage=outbound.usage,
            )
            for chunk in command.chunks
        ]
        if self._listener is None:
            with self._condition:
                self._outbox.extend(parts)
                self._condition.notify_all()
        with contextlib.suppress(AddressClosedError):  # delivery stopped: nobody to confirm to
            command.reply_to.tell(OutboundSent(delivery_id=command.delivery_id))
        if self._listener is not None:
            for part in parts:
                self._listener(part)
