"""What the Telegram adapter takes from its updates: gated, gathered, routed with receipts.

Text fragments a sender sends in quick succession (Telegram splits long texts) are gathered
into one message (``TextGatherer``). Each routed message carries an ``InboundReceipt``: once
the gateway has journaled it, the receipt comes back (``journaled``) and names the updates it
covered, which the poller may then confirm to Telegram. Updates not taken (not for the bot, no
text) are confirmed at once; fragments still gathering when intake closes are never confirmed,
so Telegram delivers them again after the restart. Lives on the adapter's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hermes.adapters.platforms.inbound_text import clean_text
from hermes.adapters.platforms.telegram_inbound import (
    Addressing,
    BotIdentity,
    GroupGating,
    TelegramMessage,
    addressing,
    is_command,
    to_inbound,
)
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.intake import InboundJournaled, InboundReceipt
from hermes.messages.router import RouteInbound
from hermes.messages.values import InboundMessage

logger = logging.getLogger(__name__)

MAX_GATHER_FACTOR: Final = 5
"""A gathered message waits at most this many delays after its first fragment."""

UpdateIds = tuple[int, ...]
_GatherKey = tuple[str, str | None, str]


@dataclass(slots=True)
class _Pending:
    first: InboundMessage
    texts: list[str]
    update_ids: list[int]
    started: float
    timer: asyncio.TimerHandle | None = None


class TextGatherer:
    """Joins consecutive text fragments of one sender in one chat (or topic) into one message.

    A fragment waits ``delay`` seconds for the next; each new fragment restarts the wait, up to
    ``MAX_GATHER_FACTOR`` delays after the first. Commands are never gathered: the sender's
    gathered text goes first, then the command. Used on one event loop only.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        emit: Callable[[InboundMessage, UpdateIds], None],
    ) -> None:
        """Gather on ``loop``; hand each finished message, with its updates, to ``emit``."""
        self._loop = loop
        self._delay = delay
        self._emit = emit
        self._pending: dict[_GatherKey, _Pending] = {}

    def add(self, message: InboundMessage, update_id: int) -> None:
        """Take one fragment (or command) of a sender."""
        key = _gather_key(message)
        if is_command(message.text) or self._delay <= 0:
            self.flush(key)
            self._emit(message, (update_id,))
            return
        now = self._loop.time()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(
                first=message, texts=[], update_ids=[], started=now
            )
        pending.texts.append(message.text)
        pending.update_ids.append(update_id)
        if pending.timer is not None:
            pending.timer.cancel()
        due = min(now + self._delay, pending.started + MAX_GATHER_FACTOR * self._delay)
        pending.timer = self._loop.call_at(due, self.flush, key)

    def continues(self, message: InboundMessage) -> bool:
        """True when ``message`` would join text its sender is still sending."""
        return not is_command(message.text) and _gather_key(message) in self._pending

    def flush(self, key: _GatherKey) -> None:
        """Hand on what ``key``'s sender gathered so far, if anything."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        message = dataclasses.replace(pending.first, text=clean_text("\n".join(pending.texts)))
        self._emit(message, tuple(pending.update_ids))

    def drop_all(self) -> int:
        """Forget every unfinished message; return how many there were."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        count = len(self._pending)
        self._pending.clear()
        return count


def _gather_key(message: InboundMessage) -> _GatherKey:
    return (message.origin.chat_id, message.origin.thread_id, message.sender.user_id)


class Intake:
    """What the adapter takes from Telegram, and which updates are safe to confirm.

    After ``close`` nothing more reaches the Router.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        router: Address[RouteInbound],
        gating: GroupGating,
        batch_delay: float,
        journal: Address[InboundJournaled],
    ) -> None:
        """Take messages for ``router`` on ``loop``; receipts come back to ``journal``."""
        self._router = router
        self._gating = gating
        self._journal = journal
        self._gatherer = TextGatherer(loop, batch_delay, self._route)
        self._receipts: dict[str, UpdateIds] = {}
        self.is_open = True

    def take(self, message: TelegramMessage, bot: BotIdentity, update_id: int) -> bool:
        """Route ``message`` (now, or once gathered) if it is for us; False if not taken."""
        if not self.is_open:
            return False
        try:
            taken = to_inbound(message, bot)
            verdict = addressing(message, bot, self._gating)
        except Exception:  # a message PTB parsed but these rules cannot read: skip, keep polling
            logger.exception("Telegram update %d is malformed; skipped", update_id)
            return False
        if taken is None:
            logger.debug(
                "Telegram message %s skipped: no text, or not from a person", message.message_id
            )
            return False
        if verdict is Addressing.OTHER_BOT or (
            verdict is Addressing.NOT_ADDRESSED and not self._gatherer.continues(taken)
        ):
            return False  # a continuation of what its sender is already writing is kept
        self._gatherer.add(taken, update_id)
        return True

    def journaled(self, token: str) -> UpdateIds:
        """The updates a receipt covered (none for an unknown or repeated token)."""
        return self._receipts.pop(token, ())

    def close(self) -> None:
        """Take nothing more; drop unfinished gathered messages (Telegram sends them again)."""
        self.is_open = False
        dropped = self._gatherer.drop_all()
        if dropped:
            logger.info(
                "Telegram: %d unfinished gathered message(s) left unconfirmed for the next start",
                dropped,
            )

    def _route(self, message: InboundMessage, update_ids: UpdateIds) -> None:
        if not self.is_open:
            return
        token = f"update-{update_ids[0]}"
        self._receipts[token] = update_ids
        receipt = InboundReceipt(token=token, reply_to=self._journal)
        try:
            self._router.tell(RouteInbound(message=message, receipt=receipt))
        except AddressClosedError:
            self._receipts.pop(token, None)
            logger.warning(
                "Telegram message %s left unconfirmed: the Router has stopped", message.message_id
            )
