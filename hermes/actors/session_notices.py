"""What a session says when inputs go unanswered: dropped by /new, cut by a stop or a crash.

Functions on a session's ``SessionState``, called by its SessionActor on its thread. A sender
waiting on its own reply (an HTTP request) always gets an answer; a chat gets one notice.
"""

from __future__ import annotations

import logging

from hermes.actors.session_state import SessionState
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.agent import CancelTurn
from hermes.messages.delivery import DeliveryEvent, OutboundKind
from hermes.policies.inputs import PendingInput

logger = logging.getLogger(__name__)


def tell_each(
    state: SessionState,
    inputs: tuple[PendingInput, ...],
    text: str,
    kind: OutboundKind,
    reply_to: Address[DeliveryEvent],
) -> None:
    """One notice per sender waiting on its own reply, and one for the chat's other inputs."""
    chat_notice_sent = False
    for item in inputs:
        if item.message.awaits_reply:
            state.say(item.message, text, kind, None, reply_to)
        elif not chat_notice_sent:
            state.say(inputs[-1].message, text, kind, None, reply_to)
            chat_notice_sent = True


def drop_all(state: SessionState, text: str, reply_to: Address[DeliveryEvent]) -> int:
    """Cancel the running turn and drop waiting inputs; returns how many chat inputs went.

    A sender waiting on its own reply (HTTP) is told ``text``; chat inputs are counted for
    the reply to the command that dropped them.
    """
    turn = state.abandon_turn()
    dropped = tuple(state.pending)
    state.pending.clear()
    if turn is not None:
        state.deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
        dropped = turn.inputs + dropped
    chat_dropped = 0
    for item in dropped:
        if item.message.awaits_reply:
            state.say(item.message, text, OutboundKind.NOTICE, None, reply_to)
        else:
            chat_dropped += 1
    return chat_dropped


def abandon_all(
    state: SessionState, text: str, kind: OutboundKind, reply_to: Address[DeliveryEvent]
) -> None:
    """At a stop or crash: cancel the turn and tell everyone still waiting ``text``."""
    turn = state.abandon_turn()
    waiting = tuple(state.pending)
    state.pending.clear()
    if turn is not None:
        try:
            state.deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
        except AddressClosedError:
            logger.debug("runtime gone while abandoning %s", turn.turn_id)
        waiting = turn.inputs + waiting
    if waiting:
        tell_each(state, waiting, text, kind, reply_to)
