"""What a session says when inputs go unanswered: dropped by /new, cut by a stop or a crash.

Functions on a session's ``SessionState``, called by its SessionActor on its thread. A sender
waiting on its own reply (an HTTP request) always gets an answer; a chat gets one notice. A
*final* notice settles the inputs (a failure, a crash, a reset that dropped them); a notice
that is not final (the gateway is stopping) leaves chat inputs unsettled, to be answered after
the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hermes.actors.session_output import SessionOutput
from hermes.actors.session_state import SessionState
from hermes.messages.address import AddressClosedError
from hermes.messages.agent import CancelTurn
from hermes.messages.delivery import OutboundKind
from hermes.messages.values import InboundMessage
from hermes.policies import texts
from hermes.policies.inputs import PendingInput

logger = logging.getLogger(__name__)


def tell_each(
    out: SessionOutput,
    inputs: tuple[PendingInput, ...],
    text: str,
    kind: OutboundKind,
    *,
    final: bool,
) -> None:
    """One notice per sender waiting on its own reply, and one for the chat's other inputs."""
    waiting = [item.message for item in inputs if item.message.awaits_reply]
    chat = [item.message for item in inputs if not item.message.awaits_reply]
    for message in waiting:
        if final:
            out.answer((message,), message, text, kind)
        else:
            out.say(message, text, kind)
    if chat:
        if final:
            out.answer(chat, chat[-1], text, kind)
        else:
            out.say(chat[-1], text, kind)


def stopping(out: SessionOutput, inputs: Sequence[InboundMessage]) -> None:
    """The gateway stops before answering ``inputs``: not final, kept for the next start.

    An HTTP sender is told to ask again; a chat hears once that it will be answered after the
    restart (its messages stay unsettled in the journal).
    """
    chat = [message for message in inputs if not message.awaits_reply]
    for message in inputs:
        if message.awaits_reply:
            out.say(message, texts.SHUTTING_DOWN, OutboundKind.REJECTED)
    if chat:
        out.say(chat[-1], texts.RESTARTING, OutboundKind.NOTICE)


def drop_all(state: SessionState, out: SessionOutput, text: str) -> int:
    """Cancel the running turn and drop waiting inputs; returns how many chat inputs went.

    A sender waiting on its own reply (HTTP) is told ``text``; chat inputs are settled without
    a word of their own (the reply to the command that dropped them counts them).
    """
    turn = state.abandon_turn()
    dropped = tuple(state.pending)
    state.pending.clear()
    if turn is not None:
        state.deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
        dropped = turn.inputs + dropped
    chat = [item.message for item in dropped if not item.message.awaits_reply]
    for item in dropped:
        if item.message.awaits_reply:
            out.answer((item.message,), item.message, text, OutboundKind.NOTICE)
    if chat:
        out.answer(chat, chat[-1], None, OutboundKind.NOTICE)
    return len(chat)


def abandon_all(state: SessionState, out: SessionOutput, *, crashed: bool) -> None:
    """At a stop or crash: cancel the turn, and tell everyone still waiting.

    After a crash the notice is final (the inputs are settled: retrying what crashed could
    crash again); at a stop they are kept for the restart (``stopping``).
    """
    turn = state.abandon_turn()
    finishing, state.finishing = state.finishing, None
    waiting = tuple(state.pending)
    state.pending.clear()
    if finishing is not None:  # it ended, but its inputs were not answered yet
        waiting = finishing.inputs + waiting
    if turn is not None:
        try:
            state.deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
        except AddressClosedError:
            logger.debug("runtime gone while abandoning %s", turn.turn_id)
        waiting = turn.inputs + waiting
    if not waiting:
        return
    if crashed:
        tell_each(out, waiting, texts.CRASHED, OutboundKind.ERROR, final=True)
    else:
        stopping(out, [item.message for item in waiting])
