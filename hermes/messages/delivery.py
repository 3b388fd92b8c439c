"""The Delivery actor's protocol and the platform adapters' outbound protocol.

Everything the gateway says to a person goes ``DeliverMessage`` -> Delivery -> ``SendOutbound``
-> the platform adapter, which reports ``OutboundSent`` or ``OutboundFailed`` back to Delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hermes.messages.address import Address
from hermes.messages.scheduler import TimerFired
from hermes.messages.values import ChatAddress, HomeChannel, TokenUsage


class OutboundKind(StrEnum):
    """What an outbound message is, so a platform can present it (HTTP status, formatting)."""

    REPLY = "reply"
    """The agent's answer."""
    NOTICE = "notice"
    """The gateway speaking: command replies, queue notices."""
    ERROR = "error"
    """A turn failed; the text says why and what to do."""
    REJECTED = "rejected"
    """The message was not taken (queue full, gateway restarting); the sender may retry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """Text for one chat, with what the receiving platform may want to show alongside it."""

    target: ChatAddress
    text: str
    kind: OutboundKind = OutboundKind.REPLY
    in_reply_to: str | None = None
    """The platform message id this answers, if any."""
    session_id: str | None = None
    """The session that produced it (the HTTP API echoes it in X-Hermes-Session-Id)."""
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFailed:
    """Sent by Delivery to a ``DeliverMessage.reply_to``: the message did not reach the chat."""

    delivery_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDelivered:
    """Sent by Delivery to a ``DeliverToTarget.reply_to``: the platform accepted every chunk."""

    delivery_id: str


DeliveryEvent = DeliveryFailed | MessageDelivered


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverMessage:
    """Sent to Delivery by sessions, the scheduler and operators: get this text to that chat."""

    delivery_id: str
    message: OutboundMessage
    reply_to: Address[DeliveryEvent] | None = None
    durable: bool = False
    """True when the message waits in the Store's outbox (a chat's answer, told by the Store
    after its commit): Delivery reports ``OutboxDone`` once it is finished with it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverToTarget:
    """Sent to Delivery by operators and embedders: send ``text`` to a target named in text.

    Targets (``hermes.policies.targets``): ``origin``, ``local`` (a file, sent nowhere),
    ``<platform>`` (its home channel), ``<platform>:<chat_id>[:<thread_id>]``, and
    ``<platform>:<name>`` for a chat the gateway has seen. The outcome goes to ``reply_to``:
    ``MessageDelivered``, or ``DeliveryFailed`` (an unknown or unresolvable target included).
    """

    delivery_id: str
    target: str
    text: str
    kind: OutboundKind = OutboundKind.NOTICE
    reply_to: Address[DeliveryEvent] | None = None
    origin: ChatAddress | None = None
    """The chat the ``origin`` target means (the session's or the job creator's)."""
    mirror_label: str | None = None
    """When set, the delivered text is also recorded in the target chat's session transcript
    as ``[Delivered from <label>] ...`` so the agent there knows what was said."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetHomeChannel:
    """Sent by a SessionActor (``/sethome``) to Delivery: effective at once, and persisted."""

    home: HomeChannel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatSeen:
    """Sent by the Router to Delivery for each chat it meets: the channel directory learns it."""

    address: ChatAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorDelivery:
    """Sent by Delivery to the Router: ``text`` was delivered into ``address``.

    The session of that chat, if any, records it (``[Delivered from <label>] ...``).
    """

    address: ChatAddress
    text: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HomesChanged:
    """Sent by Delivery to the Router when it connects and after each ``/sethome``.

    The Router hands the home channels to sessions, whose turns describe them to the agent.
    """

    homes: tuple[HomeChannel, ...]


RouterFeed = MirrorDelivery | HomesChanged
"""What Delivery tells the Router."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRouter:
    """Sent once by the System to Delivery, after the Router starts: where mirrors go."""

    router: Address[RouterFeed]


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """Reply to ``GetDirectory``: the home channels and the chats seen, most recent last."""

    homes: tuple[HomeChannel, ...]
    chats: tuple[ChatAddress, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GetDirectory:
    """Sent to Delivery (the ``send_message`` tool's list): every chat it knows.

    The answer, a ``Directory``, goes to ``reply_to``; with no ``reply_to`` it is the reply to
    an ``ask`` (edges only, with a timeout).
    """

    reply_to: Address[Directory] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResendOutbox:
    """Sent once by the System to Delivery, after the platforms start: resend the outbox.

    What the last run committed to the outbox but never saw confirmed is sent again.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class GetHomeChannels:
    """Query (ask only, with a timeout): the home channels, one per platform at most."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverDelta:
    """Sent by the AgentRuntime to Delivery while a turn streams: partial text of the answer."""

    target: ChatAddress
    in_reply_to: str | None
    session_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundSent:
    """Sent by a platform adapter to Delivery: every chunk of a delivery was accepted."""

    delivery_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundFailed:
    """Sent by a platform adapter to Delivery: a delivery could not be completed."""

    delivery_id: str
    reason: str
    retryable: bool = False
    chunks_sent: int = 0
    """Chunks the platform accepted before the failure: a retry sends only the rest."""
    retry_after: float | None = None
    """Seconds the platform asked us to wait (a rate limit), if it said."""


PlatformEvent = OutboundSent | OutboundFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutbound:
    """Sent by Delivery to a platform adapter: send these chunks, in order, as one message."""

    delivery_id: str
    message: OutboundMessage
    chunks: tuple[str, ...]
    reply_to: Address[PlatformEvent]
    first_chunk: int = 0
    """The index of ``chunks[0]`` in the whole delivery (a retry sends only the rest); with
    the delivery_id, it makes each chunk's idempotency key where the platform takes one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDelta:
    """Sent by Delivery to a platform adapter that streams: partial text of a reply."""

    target: ChatAddress
    in_reply_to: str | None
    session_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTyping:
    """Sent by a SessionActor to Delivery, and by Delivery on to the platform adapter.

    ``active=True`` when a turn starts for the chat, ``False`` when it ends; the adapter keeps
    the platform's typing indicator alive in between (it expires after ~5 s on Telegram and
    Discord) and stops it by itself when it sends to the chat or after a safety limit.
    """

    target: ChatAddress
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GetDeliveryStatus:
    """Query (ask only, with a timeout): Delivery's counters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStatus:
    """Reply to ``GetDeliveryStatus``."""

    in_flight: int
    sent: int
    failed: int
    resent: int = 0
    """Replies sent again at start because the last run never saw them confirmed."""


DeliveryCommand = (
    DeliverMessage
    | DeliverToTarget
    | DeliverDelta
    | SetTyping
    | SetHomeChannel
    | ChatSeen
    | ConnectRouter
    | ResendOutbox
    | OutboundSent
    | OutboundFailed
    | TimerFired
    | GetDeliveryStatus
    | GetHomeChannels
    | GetDirectory
)
PlatformCommand = SendOutbound | SendDelta | SetTyping
