"""What the gateway's own commands do to a session: /new (and admin reset), /stop, /sethome.

Functions on a session's ``SessionState``, called by its SessionActor on its thread; each
returns the text the chat is answered with.
"""

from __future__ import annotations

from hermes.actors import session_notices as notices
from hermes.actors.session_output import SessionOutput
from hermes.actors.session_state import SessionState, TurnStop
from hermes.actors.session_stop import StopProtocol
from hermes.messages.agent import CancelTurn
from hermes.messages.delivery import SetHomeChannel
from hermes.messages.session import ResetReason
from hermes.messages.values import HomeChannel, InboundMessage, Platform
from hermes.policies import texts


def reset(state: SessionState, stop: StopProtocol, reason: ResetReason, out: SessionOutput) -> str:
    """/new, /reset, ``admin reset``: drop what runs and waits, and end the session_id.

    The ending (flush, then a new session_id under the same key) runs as the actor's stop;
    messages sent meanwhile are answered by the next incarnation, in the new session.
    """
    route = state.deps.route
    if route.pinned_session_id is not None:
        return texts.PINNED_RESET
    had_history = bool(state.history)
    settling = state.turn.turn_id if state.turn is not None else None
    dropped = notices.drop_all(state, out, texts.RESET_BEFORE_ANSWER)
    if route.ephemeral:
        return texts.NEW_SESSION
    stop.begin_ending(reason, settling)
    if dropped:
        return texts.reset_with_dropped(dropped)
    return texts.RESET_DONE if had_history else texts.NEW_SESSION


def stop_turn(state: SessionState) -> str:
    """/stop: cancel the running turn; its inputs are dropped when it ends."""
    turn = state.turn
    if turn is None:
        return texts.NOTHING_TO_STOP
    if turn.stop is not TurnStop.USER:
        turn.stop = TurnStop.USER
        state.deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
    return texts.STOPPING


def set_home(state: SessionState, inbound: InboundMessage) -> str:
    """/sethome: this chat becomes its platform's home channel, at once and for good."""
    origin = inbound.origin
    if origin.platform is Platform.API_SERVER:
        return texts.NO_HOME_HERE
    name = origin.chat_name or origin.chat_id
    home = HomeChannel(platform=origin.platform, address=origin, name=name)
    state.deps.delivery.tell(SetHomeChannel(home=home))
    return texts.home_set(name)
