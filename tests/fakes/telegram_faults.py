"""``FaultyTelegram``: the fake Bot API with the faults of a bad day, seeded.

It adds to ``FakeTelegram`` (and changes nothing it does unless switched on):

- ``reject_sends(rate, seed=...)``: that fraction of sendMessage calls is refused with a
  retryable error (500, or 429 with ``retry_after``) before anything is sent, chosen by a
  seeded random generator so a run can be repeated.
- ``storm()``: every message is delivered twice. Once the bot has confirmed an update
  (asked for a higher offset), the next getUpdates returns it again under the same update id
  (as a Telegram that lost the confirmation does) and a copy of it is queued under a new update
  id (as ``redeliver`` does). Copies are not repeated again.
- ``wait_settled``: a bounded wait until what the bot sent satisfies a test, or the bot has
  been quiet for a while (for a harness that must tell "done" from "slow" from "stuck").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiohttp import web

from tests.fakes.telegram_server import ApiError, FakeTelegram, Json, SentMessage

SEND: Final = "sendmessage"
REJECTED: Final = "Internal Server Error: injected by the fault suite"
RETRYABLE: Final = frozenset({429, 500, 502, 503})
RATE_LIMITED: Final = "Too Many Requests: retry after {seconds} (injected by the fault suite)"


class Settled(StrEnum):
    """How ``wait_settled`` ended."""

    DONE = "done"
    QUIET = "quiet"
    TIMEOUT = "timeout"


@dataclass
class _Faults:
    """The switched-on faults and what they did; guarded by the fake's condition."""

    rejection_rate: float = 0.0
    rejection_random: random.Random = field(default_factory=random.Random)
    rejection_statuses: tuple[int, ...] = (500,)
    retry_after: int = 1
    rejected: int = 0
    storm: bool = False
    seen: dict[int, Json] = field(default_factory=dict)
    """Updates the bot was given and has not confirmed yet, to be stormed once confirmed."""
    copies: set[int] = field(default_factory=set)
    """Update ids that are themselves storm copies (never stormed again)."""
    replays: list[Json] = field(default_factory=list)
    """Confirmed updates the next getUpdates returns again, under their own id."""
    repeated: int = 0
    last_send_at: float = field(default_factory=time.monotonic)


class FaultyTelegram(FakeTelegram):
    """``FakeTelegram`` with seeded send rejections and re-delivery storms (module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._faults = _Faults()

    # -- switching faults on ---------------------------------------------------------------------

    def reject_sends(
        self, rate: float, *, seed: int, statuses: tuple[int, ...] = (500,), retry_after: int = 1
    ) -> None:
        """Refuse ``rate`` of the sendMessage calls from now on, each with one of ``statuses``.

        A 429 answers Too Many Requests with ``parameters.retry_after`` = ``retry_after``.
        """
        if not statuses or not set(statuses) <= RETRYABLE:
            raise ValueError(f"{statuses} are not all statuses Telegram asks to retry")
        with self._condition:
            self._faults.rejection_rate = rate
            self._faults.rejection_random = random.Random(seed)  # noqa: S311  (a test's dice)
            self._faults.rejection_statuses = statuses
            self._faults.retry_after = retry_after

    def storm(self) -> None:
        """Deliver every message twice from now on (module doc)."""
        with self._condition:
            self._faults.storm = True

    # -- what the faults did ---------------------------------------------------------------------

    @property
    def rejected(self) -> int:
        """How many sendMessage calls were refused on purpose."""
        with self._condition:
            return self._faults.rejected

    @property
    def repeated(self) -> int:
        """How many updates were delivered a second time (same id, or a copy)."""
        with self._condition:
            return self._faults.repeated

    def wait_settled(
        self,
        done: Callable[[list[SentMessage]], bool],
        *,
        quiet: float,
        since: float,
        timeout: float,
    ) -> Settled:
        """Wait until ``done(sent)`` holds, or the bot went quiet, at most ``timeout`` seconds.

        Quiet: no sendMessage call for ``quiet`` seconds, counted from the last call or from
        ``since`` (a ``time.monotonic()``), whichever is later.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                if done(list(self._state.sent)):
                    return Settled.DONE
                now = time.monotonic()
                calm_at = max(self._faults.last_send_at, since) + quiet
                if now >= calm_at:
                    return Settled.QUIET
                if now >= deadline:
                    return Settled.TIMEOUT
                self._condition.wait(min(calm_at, deadline) - now)

    # -- the server's side (its own loop) --------------------------------------------------------

    async def _answer(self, request: web.Request, method: str) -> Any:
        if method.lower() == SEND:
            with self._condition:
                faults = self._faults
                faults.last_send_at = time.monotonic()
                self._condition.notify_all()
                rejection = self._rejection(faults)
            if rejection is not None:
                raise rejection
        return await super()._answer(request, method)

    def _rejection(self, faults: _Faults) -> ApiError | None:
        """The error this call gets, if the dice say so (under the condition)."""
        dice = faults.rejection_random
        if faults.rejection_rate <= 0 or dice.random() >= faults.rejection_rate:
            return None
        faults.rejected += 1
        status = dice.choice(faults.rejection_statuses)
        if status == 429:
            seconds = faults.retry_after
            return ApiError(429, RATE_LIMITED.format(seconds=seconds), retry_after=seconds)
        return ApiError(status, REJECTED)

    async def _get_updates(self, params: Json) -> list[Json]:
        offset = int(params.get("offset") or 0)
        with self._condition:
            faults = self._faults
            confirmed = [u for uid, u in faults.seen.items() if uid < offset]
            for update in confirmed:
                del faults.seen[update["update_id"]]
                faults.replays.append(update)
                faults.repeated += 2
            replays, faults.replays = faults.replays, []
        for update in confirmed:
            copy = self._queue({k: v for k, v in update.items() if k != "update_id"})
            with self._condition:
                self._faults.copies.add(copy["update_id"])
        updates = await super()._get_updates(params)
        with self._condition:
            if self._faults.storm:
                for update in updates:
                    uid = update["update_id"]
                    if uid not in self._faults.copies and "message" in update:
                        self._faults.seen.setdefault(uid, update)
        return replays + updates
