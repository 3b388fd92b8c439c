"""What a session hands the agent for each turn: the ``TurnContext`` and its tools.

A reply turn gets the history, the inputs, the session-context block (where the agent is
talking: ``policies.context_prompt``) and the tools bound to this turn's chat and user: memory,
cron, ``send_message``. A flush turn (the session is ending) gets the memory tools only. Used
only from its SessionActor's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hermes.actors.messaging_client import DeliveryMessenger
from hermes.messages.agent import TurnContext, TurnPurpose
from hermes.messages.session import GatewayView
from hermes.policies import texts
from hermes.policies.context_prompt import PromptContext, context_block

if TYPE_CHECKING:
    from hermes.actors.session_memory import SessionMemory
    from hermes.actors.session_state import SessionDeps
    from hermes.messages.cron import CronHandle
    from hermes.messages.store import SessionRecord
    from hermes.messages.values import ChatAddress, ChatMessage, InboundMessage, Sender
    from hermes.policies.inputs import PendingInput

_BlockKey = tuple["ChatAddress", "Sender", GatewayView]


class TurnContexts:
    """Builds the ``TurnContext`` of each turn of one session."""

    def __init__(self, deps: SessionDeps, memory: SessionMemory) -> None:
        """Keep the session's collaborators; no gateway view until the first message."""
        self._deps = deps
        self._memory = memory
        self.gateway = GatewayView()
        """The Router's view of the gateway, from the latest message routed here."""
        self._block: tuple[_BlockKey, str] | None = None

    def reply(
        self,
        record: SessionRecord,
        history: tuple[ChatMessage, ...],
        batch: tuple[PendingInput, ...],
        turn_id: str,
    ) -> TurnContext:
        """The turn answering ``batch`` (its last message decides the chat and user)."""
        last = batch[-1].message
        client = last.client_context
        conversation = last.conversation
        route = self._deps.route
        scope = (conversation.session_key if conversation else None) or route.memory_scope
        return TurnContext(
            turn_id=turn_id,
            session_key=route.key,
            session_id=record.session_id,
            memory_scope=scope,
            origin=last.origin,
            history=history,
            inputs=tuple(item.text for item in batch),
            system_prompt=client.system_prompt if client is not None else None,
            session_context=self._context_block(last.origin, last.sender),
            memory=self._memory.handle_for(last.sender),
            cron=self._cron_for(last),
            messaging=DeliveryMessenger(
                delivery=self._deps.delivery, origin=last.origin, label=last.origin.platform.value
            ),
        )

    def flush(
        self,
        record: SessionRecord,
        history: tuple[ChatMessage, ...],
        sender: Sender,
        origin: ChatAddress,
        turn_id: str,
    ) -> TurnContext:
        """The "save what matters" turn of the ending session: memory tools only."""
        return TurnContext(
            turn_id=turn_id,
            session_key=self._deps.route.key,
            session_id=record.session_id,
            memory_scope=self._deps.route.memory_scope,
            origin=origin,
            history=history,
            inputs=(texts.FLUSH_PROMPT,),
            memory=self._memory.handle_for(sender),
            purpose=TurnPurpose.FLUSH,
        )

    def _cron_for(self, message: InboundMessage) -> CronHandle | None:
        """The cron tools for a turn answering ``message`` (none for a stateless request)."""
        cron = self._deps.cron
        if cron is None or self._deps.route.ephemeral:
            return None
        return cron.handle_for(message.origin, message.sender)

    def _context_block(self, origin: ChatAddress, sender: Sender) -> str:
        """The session-context block, rebuilt only when the chat, user or gateway changed."""
        key = (origin, sender, self.gateway)
        if self._block is not None and self._block[0] == key:
            return self._block[1]
        block = context_block(
            PromptContext(
                origin=origin,
                sender=sender,
                connected=self.gateway.connected,
                homes=self.gateway.homes,
            )
        )
        self._block = (key, block)
        return block
