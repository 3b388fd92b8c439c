"""SessionActor: one conversation (one session_key), its transcript, memory and running turn.

Owns the session_id, the transcript cache, token counts, the FIFO of waiting inputs, the running
turn and its memory manager. Accepts ``SessionCommand``; tells the AgentRuntime
``StartTurn``/``CancelTurn``, Delivery ``DeliverMessage``, the Store its writes, the Router its
lifecycle. It never runs the agent itself, so commands (/stop, /new, /status) are answered at
once even mid-turn. How it stops (passivation, the ending protocol) is in ``session_stop``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import assert_never

from hermes.actors import session_commands as commands
from hermes.actors import session_notices as notices
from hermes.actors.actor_pool import ActorPool, PooledActor
from hermes.actors.address import ActorAddress
from hermes.actors.ids import new_id
from hermes.actors.session_output import SessionOutput
from hermes.actors.session_state import SessionDeps, SessionState, Turn, TurnStop
from hermes.actors.session_stop import StopProtocol
from hermes.messages.address import AddressClosedError
from hermes.messages.agent import CancelTurn, StartTurn, TurnCompleted, TurnFailed, TurnFailure
from hermes.messages.delivery import DeliveryFailed, MessageDelivered, OutboundKind
from hermes.messages.hooks import excerpt
from hermes.messages.router import SessionCrashed
from hermes.messages.scheduler import TimerFired
from hermes.messages.session import (
    ExpireSession,
    GetSessionStatus,
    HandleUserMessage,
    HandOver,
    MirrorMessage,
    ResetReason,
    ResetSession,
    SessionCommand,
    SessionStatus,
)
from hermes.messages.store import LoadSession, SessionLoaded
from hermes.messages.values import InboundMessage, TokenUsage
from hermes.policies import texts
from hermes.policies.commands import CommandName, ParsedCommand, help_text, parse_command
from hermes.policies.inputs import MAX_PENDING_INPUTS, PendingInput, next_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Deferred:
    """A command that arrived before the session finished loading."""

    command: HandleUserMessage | MirrorMessage | ResetSession | ExpireSession


class SessionActor(PooledActor):
    """The owner of one conversation.

    Accepts: ``SessionCommand`` (user messages, reset, expiry, hand-over, status, and the
        events ``SessionLoaded``, ``TurnCompleted``, ``TurnFailed``, ``TimerFired``,
        ``DeliveryFailed``).
    Emits: ``StartTurn``/``CancelTurn`` to the AgentRuntime, ``DeliverMessage`` to Delivery,
        writes to the Store, ``SessionStopping``/``SessionStopped``/``SessionCrashed`` to the
        Router.
    Owns: a ``SessionState`` (session_id, transcript, usage, inputs, running turn, memory).
    Lifecycle: started by the Router on the first message for its key; stops when idle
        (passivation), after its ending protocol, at gateway shutdown, or by crashing.
    Runs on the sessions' ``ActorPool`` (no thread of its own), so no handler may block.
    """

    def __init__(self, deps: SessionDeps, pool: ActorPool) -> None:
        """Keep ``deps``; all work starts in ``on_start``, on one of ``pool``'s workers."""
        super().__init__(pool)
        self._deps = deps
        self._state = SessionState(deps)
        self._deferred: deque[_Deferred] = deque()
        self._self: ActorAddress[SessionCommand] = ActorAddress(self.actor_ref)
        self._lifecycle = StopProtocol(self._state, self._self, self._release)
        self._out = SessionOutput(self._state, self._self)

    def on_start(self) -> None:
        """Load the session from the Store (or start empty when ephemeral)."""
        route = self._deps.route
        if route.ephemeral:
            self._state.load_ephemeral()
            return
        self._state.memory.open()
        self._deps.store.tell(
            LoadSession(
                session_key=route.key,
                session_id=route.pinned_session_id,
                history_limit=self._deps.settings.history_limit,
                reply_to=self._self,
            )
        )
        self._lifecycle.arm_idle_timer()

    def _release(self) -> None:
        """Stop this actor after the message being handled (never blocks)."""
        self.actor_ref.stop(block=False)

    def on_stop(self) -> None:
        """Drain memory; tell anyone still waiting that their message was not answered."""
        held = self._lifecycle.on_actor_stop()
        # Not final: the chat's messages stay unsettled, and are answered after the restart.
        notices.abandon_all(self._state, self._out, crashed=False)
        notices.stopping(self._out, held)
        self._state.memory.close()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Report the crash to the Router and tell waiting senders, so nothing is silent."""
        del exception_type, traceback
        logger.error("session %s crashed: %r", self._deps.route.key, exception_value)
        self._lifecycle.cancel_idle_timer()
        notices.abandon_all(self._state, self._out, crashed=True)
        self._state.memory.close()
        try:
            self._deps.router.tell(
                SessionCrashed(
                    session_key=self._deps.route.key,
                    incarnation=self._deps.incarnation,
                    error=repr(exception_value),
                )
            )
        except AddressClosedError:
            logger.warning("router gone; crash of %s not reported", self._deps.route.key)

    def on_receive(self, message: SessionCommand) -> object:
        """Dispatch one message of the session's protocol."""
        match message:
            case HandleUserMessage():
                self._on_handle_user_message(message)
            case MirrorMessage():
                self._on_mirror(message)
            case ResetSession() | ExpireSession():
                self._on_end_request(message)
            case SessionLoaded():
                self._on_session_loaded(message)
            case TurnCompleted() | TurnFailed():
                self._on_turn_event(message)
            case TimerFired():
                self._lifecycle.on_idle_timer()
            case HandOver():
                self._lifecycle.on_hand_over()
            case GetSessionStatus():
                return self._on_get_session_status()
            case DeliveryFailed() | MessageDelivered():
                self._on_delivery_event(message)
            case _:
                assert_never(message)
        return None

    # -- handlers -------------------------------------------------------------------------------

    def _on_delivery_event(self, event: DeliveryFailed | MessageDelivered) -> None:
        # Sessions ask Delivery for failures only; a success is never reported to them.
        if isinstance(event, DeliveryFailed):
            logger.warning(
                "session %s: delivery %s failed: %s",
                self._deps.route.key,
                event.delivery_id,
                event.reason,
            )

    def _on_session_loaded(self, message: SessionLoaded) -> None:
        self._state.load(message.snapshot)
        while self._deferred:
            deferred = self._deferred.popleft().command
            if isinstance(deferred, HandleUserMessage):
                self._on_handle_user_message(deferred)
            elif isinstance(deferred, MirrorMessage):
                self._on_mirror(deferred)
            else:
                self._on_end_request(deferred)

    def _on_handle_user_message(self, message: HandleUserMessage) -> None:
        self._state.touch()
        inbound = message.message
        if not self._state.loaded:
            self._deferred.append(_Deferred(command=message))
            return
        self._state.contexts.gateway = message.gateway
        if self._lifecycle.active:
            self._lifecycle.hold(inbound)  # the next incarnation answers it
            return
        if self._ended_by_policy(inbound):
            return
        command = parse_command(inbound.text)
        if command is not None:
            self._on_command(command, PendingInput(message=inbound, text=command.args))
            return
        self._accept_input(PendingInput(message=inbound, text=inbound.text))

    def _on_mirror(self, message: MirrorMessage) -> None:
        if not self._state.loaded:
            self._deferred.append(_Deferred(command=message))
            return
        self._state.record_mirror(message.text, message.label)

    def _on_end_request(self, message: ResetSession | ExpireSession) -> None:
        if not self._state.loaded:
            self._deferred.append(_Deferred(command=message))
            return
        if self._lifecycle.active:
            return
        if isinstance(message, ResetSession):
            commands.reset(self._state, self._lifecycle, message.reason, self._out)
            return
        reason = self._state.expiry_reason()
        if reason is not None and not self._state.busy():
            self._lifecycle.begin_ending(reason)
        elif not self._state.busy():
            self._lifecycle.arm_idle_timer()  # woken only to check: passivate in due course

    def _on_turn_event(self, message: TurnCompleted | TurnFailed) -> None:
        if isinstance(message, TurnCompleted):
            self._on_turn_completed(message)
        else:
            self._on_turn_failed(message)

    def _on_turn_completed(self, message: TurnCompleted) -> None:
        if self._lifecycle.on_turn_event(message):
            return
        turn = self._state.finish_turn(message.turn_id)
        if turn is None:
            return
        self._state.hooks.agent(
            "agent:end", turn.inputs, self._state.session_id, response=excerpt(message.result.text)
        )
        self._out.record_answer(turn, message.result)
        self._state.answered()
        self._after_turn()

    def _on_turn_failed(self, message: TurnFailed) -> None:
        if self._lifecycle.on_turn_event(message):
            return
        turn = self._state.finish_turn(message.turn_id)
        if turn is None:
            return
        cancelled = message.failure is TurnFailure.CANCELLED
        self._state.hooks.agent(
            "agent:end", turn.inputs, self._state.session_id, error=excerpt(message.detail)
        )
        if cancelled and turn.stop is TurnStop.INTERRUPT:
            self._state.pending.extendleft(reversed(turn.inputs))  # answered with the new input
        elif cancelled and turn.stop is TurnStop.USER:  # /stop: the inputs are dropped
            chat = [item.message for item in turn.inputs if not item.message.awaits_reply]
            for item in turn.inputs:
                if item.message.awaits_reply:
                    self._answer(item.message, texts.STOPPED, OutboundKind.NOTICE)
            if chat:
                self._out.answer(chat, chat[-1], None, OutboundKind.NOTICE)
        elif cancelled:  # a shutdown cancelled it: answered after the restart
            notices.stopping(self._out, [item.message for item in turn.inputs])
        else:  # it failed: everyone waiting hears why, and that is their answer
            notices.tell_each(
                self._out, turn.inputs, message.detail, OutboundKind.ERROR, final=True
            )
        self._state.answered()
        self._after_turn()

    def _on_get_session_status(self) -> SessionStatus:
        return self._state.status()

    # -- commands -------------------------------------------------------------------------------

    def _on_command(self, command: ParsedCommand, item: PendingInput) -> None:
        inbound = item.message
        self._state.hooks.command(inbound, self._state.session_id, command.name.value, command.args)
        match command.name:
            case CommandName.NEW:
                reply = commands.reset(self._state, self._lifecycle, ResetReason.USER, self._out)
                self._answer(inbound, reply, OutboundKind.NOTICE)
            case CommandName.STATUS:
                self._answer(
                    inbound,
                    texts.status(self._state.status(), self._deps.clock.now()),
                    OutboundKind.NOTICE,
                )
            case CommandName.STOP:
                self._answer(inbound, commands.stop_turn(self._state), OutboundKind.NOTICE)
            case CommandName.HELP:
                self._answer(inbound, help_text(), OutboundKind.NOTICE)
            case CommandName.SETHOME:
                self._answer(inbound, commands.set_home(self._state, inbound), OutboundKind.NOTICE)
            case CommandName.QUEUE:
                if not item.text:
                    self._answer(inbound, texts.QUEUE_USAGE, OutboundKind.NOTICE)
                elif not self._state.busy():
                    self._accept_input(item)
                elif self._enqueue(item):
                    self._say(inbound, texts.QUEUED, OutboundKind.NOTICE)
            case _:
                assert_never(command.name)

    # -- inputs and turns -----------------------------------------------------------------------

    def _accept_input(self, item: PendingInput) -> None:
        turn = self._state.turn
        if turn is None and not self._state.pending:
            self._state.pending.append(item)
            self._start_next_turn()
            return
        if not self._enqueue(item):
            return
        if turn is not None and self._should_interrupt(turn, item):
            turn.stop = TurnStop.INTERRUPT
            self._deps.runtime.tell(CancelTurn(turn_id=turn.turn_id))
        elif self._worth_a_queued_notice(turn, item):
            self._say(item.message, texts.QUEUED_BUSY, OutboundKind.NOTICE)

    def _worth_a_queued_notice(self, turn: Turn | None, item: PendingInput) -> bool:
        """A chat waiting behind a turn that goes on is told so (at most every 30 s)."""
        if item.message.awaits_reply or turn is None or turn.stop is not None:
            return False  # a stopped or interrupted turn ends at once: the answer comes next
        return self._state.may_send_queued_notice()

    def _should_interrupt(self, turn: Turn, item: PendingInput) -> bool:
        if not self._deps.settings.interrupt or item.message.awaits_reply:
            return False
        if turn.stop is not None:
            return False
        return not any(waiting.message.awaits_reply for waiting in turn.inputs)

    def _enqueue(self, item: PendingInput) -> bool:
        if len(self._state.pending) >= MAX_PENDING_INPUTS:
            self._answer(item.message, texts.queue_full(MAX_PENDING_INPUTS), OutboundKind.REJECTED)
            return False
        self._state.pending.append(item)
        return True

    def _start_next_turn(self) -> None:
        if self._state.turn is not None:
            return
        count = next_batch(self._state.pending, merge=self._deps.settings.interrupt)
        if count == 0:
            return
        batch = tuple(self._state.pending.popleft() for _ in range(count))
        turn, context = self._state.begin_turn(batch, new_id())
        self._state.hooks.agent("agent:start", batch, context.session_id)
        stream = batch[-1].message.stream_reply
        self._deps.runtime.tell(
            StartTurn(
                context=context,
                reply_to=self._self,
                stream_to=self._deps.delivery if stream else None,
            )
        )
        logger.debug("session %s started turn %s", self._deps.route.key, turn.turn_id)

    def _after_turn(self) -> None:
        self._start_next_turn()
        if self._deps.route.ephemeral and not self._state.busy():
            self._lifecycle.begin_idle_stop()

    def _ended_by_policy(self, inbound: InboundMessage) -> bool:
        """An expired session ends first; the message goes to the fresh one."""
        reason = self._state.expiry_reason()
        if reason is None or self._state.busy():
            return False
        platform = inbound.origin.platform
        rule = self._deps.settings.reset_rules.for_platform(platform)
        if rule is not None:
            notice = texts.auto_reset(reason, rule.idle_minutes, rule.at_hour)
            self._say(inbound, notice, OutboundKind.NOTICE)
        self._lifecycle.begin_ending(reason)
        self._lifecycle.hold(inbound)
        return True

    # -- talking --------------------------------------------------------------------------------

    def _say(
        self, to: InboundMessage, text: str, kind: OutboundKind, usage: TokenUsage | None = None
    ) -> None:
        """A notice that settles nothing (see ``session_output``)."""
        self._out.say(to, text, kind, usage)

    def _answer(self, to: InboundMessage, text: str, kind: OutboundKind) -> None:
        """``to``'s final outcome: ``text``."""
        self._out.answer((to,), to, text, kind)
