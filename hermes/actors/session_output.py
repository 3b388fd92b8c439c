"""What a session sends, and how a chat's answers become durable (the outbox).

Two kinds of output. A *notice* (queued, restarting, the chat reset itself) goes straight to
Delivery and settles nothing. An *answer* is the final outcome of some inputs (the agent's
reply, an error, a command's reply, a refusal): for chat inputs, which the Router journaled,
the Store marks them settled and puts the reply in its outbox in one transaction, then tells
Delivery to send it. A crash before that commit leaves the inputs unsettled, and they are
answered after the restart; a crash after it re-sends the reply if its platform never
confirmed it. A sender waiting on its HTTP connection (``awaits_reply``) is answered directly:
it retries by itself. Used on its SessionActor's thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hermes.actors.ids import new_id
from hermes.actors.session_state import SessionState, Turn
from hermes.messages.address import Address
from hermes.messages.agent import TurnResult
from hermes.messages.delivery import DeliverMessage, DeliveryEvent, OutboundKind, OutboundMessage
from hermes.messages.intake import InboundRef
from hermes.messages.store import RecordTurn, Settle
from hermes.messages.values import InboundMessage, TokenUsage


class SessionOutput:
    """Everything one session says, as notices or as answers."""

    def __init__(self, state: SessionState, reply_to: Address[DeliveryEvent]) -> None:
        """Speak for ``state``'s session; delivery failures are told to ``reply_to``."""
        self._state = state
        self._deps = state.deps
        self._reply_to = reply_to

    def say(
        self, to: InboundMessage, text: str, kind: OutboundKind, usage: TokenUsage | None = None
    ) -> None:
        """A notice to ``to``'s chat that settles nothing."""
        self._deps.delivery.tell(self._deliver(to, text, kind, usage))

    def answer(
        self,
        inputs: Sequence[InboundMessage],
        to: InboundMessage,
        text: str | None,
        kind: OutboundKind,
    ) -> None:
        """The final outcome of ``inputs``: ``text`` (None: nothing to say) to ``to``'s chat."""
        reply = None if text is None else self._deliver(to, text, kind, None)
        refs = self._journaled(inputs)
        if reply is not None and (to.awaits_reply or not refs):
            self._deps.delivery.tell(reply)
            reply = None
        if refs:
            self._deps.store.tell(self._settle(refs, reply))

    def record_answer(self, turn: Turn, result: TurnResult) -> None:
        """A completed turn: its transcript, its inputs settled and its answer, in one write."""
        last = turn.inputs[-1].message
        messages = self._state.append_turn(turn, result)
        if messages is None:  # a stateless request: nothing is kept
            self._deps.delivery.tell(
                self._deliver(last, result.text, OutboundKind.REPLY, result.usage)
            )
            return
        refs = self._journaled([item.message for item in turn.inputs])
        durable = bool(refs) and not last.awaits_reply
        reply = self._deliver(last, result.text, OutboundKind.REPLY, result.usage, durable=durable)
        settle = self._settle(refs, reply if durable else None) if refs else None
        record = self._state.require_record()
        self._deps.store.tell(RecordTurn(record=record, messages=messages, settle=settle))
        if not durable:
            self._deps.delivery.tell(reply)

    def _settle(self, refs: tuple[InboundRef, ...], reply: DeliverMessage | None) -> Settle:
        if reply is None:
            return Settle(inputs=refs)
        if not reply.durable:
            reply = replace(reply, durable=True)
        return Settle(inputs=refs, reply=reply, delivery=self._deps.delivery)

    def _journaled(self, inputs: Sequence[InboundMessage]) -> tuple[InboundRef, ...]:
        """The inputs the Router journaled: chat messages (not HTTP requests) of a kept session."""
        if self._deps.route.ephemeral:
            return ()
        return tuple(
            InboundRef(platform=message.origin.platform, message_id=message.message_id)
            for message in inputs
            if not message.awaits_reply
        )

    def _deliver(
        self,
        to: InboundMessage,
        text: str,
        kind: OutboundKind,
        usage: TokenUsage | None,
        *,
        durable: bool = False,
    ) -> DeliverMessage:
        record = self._state.record
        ephemeral = self._deps.route.ephemeral
        return DeliverMessage(
            delivery_id=new_id(),
            message=OutboundMessage(
                target=to.origin,
                text=text,
                kind=kind,
                in_reply_to=to.message_id,
                session_id=None if ephemeral or record is None else record.session_id,
                usage=usage,
            ),
            reply_to=self._reply_to,
            durable=durable,
        )
