"""Telegram long polling whose offset moves only past updates the gateway has made safe.

Telegram forgets an update once ``getUpdates`` is called with an offset above its id. The
poller therefore asks with the lowest update still unconfirmed: an update is confirmed when the
gateway has journaled the message it carried (its receipt came back) or did not want it. While
some are unconfirmed it polls briefly (they come back and are skipped: already in hand) after
waiting for confirmations, instead of holding a long poll open. A crash before a confirmation
makes Telegram deliver the update again, and the Router drops what it journaled already.

An update python-telegram-bot cannot parse is fetched again raw, on its own, logged and
confirmed, so one malformed update never blocks the ones behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from telegram import Bot, Update
from telegram import error as tg

logger = logging.getLogger(__name__)

CONFIRM_WAIT_SECONDS: Final = (0.1, 1.0)
"""While updates in hand are unconfirmed, the pause before asking again: short at first (so
the next fragment of a text being gathered is not missed), doubling while nothing happens."""
ALLOWED_UPDATES: Final = ("message",)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSettings:
    """How the poller asks."""

    timeout: float
    """Long-poll timeout, seconds."""
    retry_initial: float
    """The first pause after a failed poll (doubling up to ``retry_max``)."""
    retry_max: float
    raw_url: str
    """The Bot API method URL prefix (``.../bot<token>/``), to re-read unparsable updates."""


class Poller:
    """getUpdates in a loop, on the adapter's event loop; ``confirm`` says what is safe."""

    def __init__(
        self,
        bot: Bot,
        take: Callable[[Update], None],
        on_error: Callable[[tg.TelegramError], None],
        settings: PollSettings,
    ) -> None:
        """Poll with ``bot``; hand each new update to ``take`` (which confirms it, now or later).

        ``on_error`` hears every failed poll (the poller retries by itself).
        """
        self._bot = bot
        self._take = take
        self._on_error = on_error
        self._settings = settings
        self._offset: int | None = None
        """Every update below it is confirmed (None: nothing seen yet)."""
        self._unconfirmed: set[int] = set()
        self._done: set[int] = set()
        """Confirmed updates at or above ``_offset`` (an older one is still unconfirmed)."""
        self._highest: int | None = None
        self._changed = asyncio.Event()

    @property
    def unconfirmed(self) -> int:
        """Updates in hand that are not yet safe to confirm."""
        return len(self._unconfirmed)

    def confirm(self, update_ids: Iterable[int]) -> None:
        """These updates are safe: the next poll may let Telegram forget them."""
        for update_id in update_ids:
            if update_id in self._unconfirmed:
                self._unconfirmed.discard(update_id)
                self._done.add(update_id)
        self._changed.set()

    async def run(self) -> None:
        """Poll until cancelled."""
        settings = self._settings
        delay, pause = settings.retry_initial, CONFIRM_WAIT_SECONDS[0]
        while True:
            waiting = bool(self._unconfirmed)
            try:
                updates = await self._fetch(wait=0.0 if waiting else settings.timeout)
            except tg.TelegramError as error:
                self._on_error(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, settings.retry_max)
                continue
            delay = settings.retry_initial
            fresh = [update for update in updates if self._is_new(update.update_id)]
            for update in fresh:
                self._unconfirmed.add(update.update_id)
                self._highest = max(self._highest or update.update_id, update.update_id)
                self._take(update)
            if self._unconfirmed:
                pause = (
                    CONFIRM_WAIT_SECONDS[0] if fresh else min(pause * 2, CONFIRM_WAIT_SECONDS[1])
                )
                await self._wait_for_confirmations(pause)

    async def _wait_for_confirmations(self, seconds: float) -> None:
        """Until a confirmation comes, or ``seconds`` pass (new updates may be waiting)."""
        self._changed.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._changed.wait()
        except TimeoutError:
            return

    async def commit(self) -> None:
        """Tell Telegram what is confirmed so far (at stop); errors are only logged."""
        offset = self._next_offset()
        if offset is None:
            return
        try:
            await self._bot.get_updates(
                offset=offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES
            )
        except tg.TelegramError as error:
            logger.warning("Telegram: could not confirm the last updates: %s", type(error).__name__)

    def _is_new(self, update_id: int) -> bool:
        below = self._offset is not None and update_id < self._offset
        return not below and update_id not in self._unconfirmed and update_id not in self._done

    def _next_offset(self) -> int | None:
        if self._unconfirmed:
            offset: int | None = min(self._unconfirmed)
        elif self._highest is not None:
            offset = self._highest + 1
        else:
            offset = self._offset
        if offset is not None:
            self._offset = offset
            self._done = {update_id for update_id in self._done if update_id >= offset}
        return offset

    async def _fetch(self, wait: float) -> tuple[Update, ...]:
        offset = self._next_offset()
        try:
            return await self._bot.get_updates(
                offset=offset, timeout=int(wait), allowed_updates=ALLOWED_UPDATES
            )
        except tg.TelegramError:
            raise
        except Exception:  # noqa: BLE001  (PTB could not parse the batch: sort it out by hand)
            return await self._fetch_raw(offset)

    async def _fetch_raw(self, offset: int | None) -> tuple[Update, ...]:
        """The batch at ``offset`` parsed one update at a time; bad ones logged and confirmed."""
        params: dict[str, Any] = {"timeout": 0, "allowed_updates": '["message"]'}
        if offset is not None:
            params["offset"] = offset
        try:
            async with httpx.AsyncClient(timeout=30.0) as client:
                response = await client.get(self._settings.raw_url + "getUpdates", params=params)
            raw = response.json().get("result") or []
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            raise tg.NetworkError(f"could not re-read updates: {type(error).__name__}") from None
        parsed: list[Update] = []
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            try:
                update = Update.de_json(item, self._bot)
            except Exception:  # noqa: BLE001  (whatever the SDK raises on a malformed update)
                update = None
            if update is not None:
                parsed.append(update)
            elif isinstance(update_id, int):
                logger.error("Telegram update %d is malformed; skipped", update_id)
                self._highest = max(self._highest or update_id, update_id)
                self._done.add(update_id)
        return tuple(parsed)
