"""The Telegram platform: python-telegram-bot 22 long polling on a loop thread of its own.

``start`` returns at once and connects in the background (getMe, then polling), retrying with
backoff, so a Telegram outage never holds up or takes down the gateway; ``health`` says how it
goes. Our own ``Poller`` (``telegram_polling``) fetches updates and confirms them to Telegram
only once the gateway journaled their message; they become ``InboundMessage``s
(``telegram_inbound``), gathered and told to the Router with receipts (``telegram_intake``):
the loop never waits on an actor. Outbound text becomes MarkdownV2 (``telegram_format``) and
goes out chunk by chunk (``telegram_outbound``), each chat's deliveries in order. The bot
token never appears in health, logs or anything raised here (PTB puts it in every URL, so
errors are scrubbed before use).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, assert_never

import httpx
from telegram import BotCommand, Update
from telegram import error as tg
from telegram.constants import ChatAction
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from hermes.adapters.platforms import telegram_inbound as inbound
from hermes.adapters.platforms.telegram_errors import failed
from hermes.adapters.platforms.telegram_format import ChatLines
from hermes.adapters.platforms.telegram_intake import Intake
from hermes.adapters.platforms.telegram_outbound import send_message
from hermes.adapters.platforms.telegram_polling import Poller, PollSettings
from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import (
    OutboundFailed,
    OutboundSent,
    PlatformCommand,
    SendDelta,
    SendOutbound,
    SetTyping,
)
from hermes.messages.intake import InboundJournaled
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import ChatAddress, Platform

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH: Final = 4096
TYPING_INTERVAL_SECONDS: Final = 4.0
CONNECT_WAIT_SECONDS: Final = 10.0
"""A send while the adapter is still connecting waits this long before it fails (retryably)."""
"""Telegram shows a chat action for about 5 s."""
_TOKEN_REJECTED: Final = "Telegram rejected the bot token"  # noqa: S105  (a message)

_App = Application[Any, Any, Any, Any, Any, Any]
_Work = Coroutine[Any, Any, None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramSettings:
    """How the Telegram adapter connects and behaves."""

    token: str
    base_url: str = "https://api.telegram.org/bot"
    """python-telegram-bot's base_url form: the token is appended."""
    require_mention: bool = True
    free_response_chats: tuple[str, ...] = ()
    """Group chat ids where every message is answered."""
    text_batch_delay: float = 0.6
    """Seconds to wait for the next fragment of a split text; 0 disables gathering."""
    commands: tuple[tuple[str, str], ...] = ()
    """(name without slash, description) for the command menu (setMyCommands)."""
    typing_max_seconds: float = 1800.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    poll_timeout: float = 10.0
    """getUpdates long-poll timeout, seconds."""


class TelegramPlatform:
    """The Telegram adapter; its state is owned by its loop thread (``health`` excepted)."""

    def __init__(self, settings: TelegramSettings) -> None:
        """Prepare the adapter; nothing connects until ``start``."""
        self._settings = settings
        self._loop_thread = LoopThread("telegram")
        self._address: Address[PlatformCommand] = LoopAddress(self._loop_thread, self._on_command)
        self._health = PlatformHealth(platform=Platform.TELEGRAM, state=PlatformState.STOPPED)
        self._started = False
        self._app: _App | None = None
        self._bot: inbound.BotIdentity | None = None
        self._intake: Intake | None = None
        self._poller: Poller | None = None
        self._journal: Address[InboundJournaled] = LoopAddress(
            self._loop_thread, self._on_journaled
        )
        self._connected: asyncio.Event | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        """Background work: "connect", "stop-polling"."""
        self._lines = ChatLines(TYPING_INTERVAL_SECONDS, settings.typing_max_seconds)
        self._polling_trouble = ""
        """The kind of error polling last met, until a poll succeeds again."""

    @property
    def platform(self) -> Platform:
        """Always ``telegram``."""
        return Platform.TELEGRAM

    @property
    def max_message_length(self) -> int | None:
        """Telegram's text limit (counted after entity parsing)."""
        return MAX_MESSAGE_LENGTH

    @property
    def address(self) -> Address[PlatformCommand]:
        """Where Delivery sends messages and typing indicators."""
        return self._address

    def start(self, router: Address[RouteInbound]) -> None:
        """Start the loop thread and return at once; connecting goes on in the background."""
        self._set_health(PlatformState.STARTING, "connecting to Telegram")
        self._loop_thread.start()
        self._started = True
        self._loop_thread.call(self._begin, router)

    def stop_intake(self) -> None:
        """Take no more messages (polling stops); sending keeps working until ``close``."""
        if self._started:
            with contextlib.suppress(AddressClosedError):  # already closed: nothing to stop
                self._loop_thread.call(self._close_intake)

    def close(self, timeout: float) -> None:
        """Stop polling, typing, gathering and the loop thread within ``timeout`` seconds."""
        if self._started:
            deadline = time.monotonic() + timeout
            try:
                self._loop_thread.run(self._shutdown(), timeout * 0.8)
            except (AddressClosedError, TimeoutError):
                logger.warning("Telegram did not shut down cleanly within %.1f s", timeout)
            self._loop_thread.stop(max(0.1, deadline - time.monotonic()))
        self._set_health(PlatformState.STOPPED, "")

    def health(self) -> PlatformHealth:
        """The adapter's current state (safe from any thread)."""
        return self._health

    # -- lifecycle, on the loop ----------------------------------------------------------------

    def _begin(self, router: Address[RouteInbound]) -> None:
        rules = inbound.GroupGating(
            require_mention=self._settings.require_mention,
            free_response_chats=frozenset(self._settings.free_response_chats),
        )
        delay = self._settings.text_batch_delay
        loop = asyncio.get_running_loop()
        self._intake = Intake(loop, router, rules, delay, self._journal)
        self._connected = asyncio.Event()
        self._spawn("connect", self._connect())

    def _spawn(self, name: str, work: _Work) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug: shown as such, not left looking like "starting"
            detail = f"{task.get_name()} failed: {self._describe(error)}"
            logger.error("Telegram %s", detail)
            self._set_health(PlatformState.FAILED, detail)

    async def _connect(self) -> None:
        delay = self._settings.retry_initial_seconds
        while True:
            app = self._build_application()
            try:
                await self._open(app)
            except tg.InvalidToken:  # its text holds the token: never shown
                await self._teardown(app)
                logger.error("%s (getMe refused it); not retrying", _TOKEN_REJECTED)  # noqa: TRY400
                self._set_health(PlatformState.FAILED, _TOKEN_REJECTED)
                return
            except tg.TelegramError as error:
                await self._teardown(app)
                at = f"{datetime.now(UTC):%H:%M:%S} UTC"
                detail = f"connecting failed at {at} ({self._describe(error)})"
                logger.warning("Telegram %s; next attempt in %g s", detail, delay)
                self._set_health(PlatformState.STARTING, f"{detail}; next attempt in {delay:g} s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_seconds)
                continue
            except asyncio.CancelledError:
                await self._teardown(app)
                raise
            self._app = app
            self._set_health(PlatformState.RUNNING, f"polling as @{app.bot.username}")
            if self._connected is not None:
                self._connected.set()
            await self._set_commands(app)
            return

    def _build_application(self) -> _App:
        poll_request = HTTPXRequest(
            connection_pool_size=1,
            httpx_kwargs={"event_hooks": {"response": [self._on_poll_response]}},
        )
        base = self._settings.base_url
        return (
            ApplicationBuilder()
            .token(self._settings.token)
            .base_url(base)
            .base_file_url(base.removesuffix("bot") + "file/bot" if base.endswith("/bot") else base)
            .get_updates_request(poll_request)
            .updater(None)  # our own Poller: it confirms only what the gateway journaled
            .job_queue(None)
            .build()
        )

    async def _open(self, app: _App) -> None:
        await app.initialize()  # getMe
        self._bot = inbound.BotIdentity(user_id=app.bot.id, username=app.bot.username)
        settings = self._settings
        self._poller = Poller(
            app.bot,
            self._take_update,
            self._on_polling_error,
            PollSettings(
                timeout=settings.poll_timeout,
                retry_initial=settings.retry_initial_seconds,
                retry_max=settings.retry_max_seconds,
                raw_url=f"{settings.base_url}{settings.token}/",
            ),
        )
        self._spawn("polling", self._poller.run())

    async def _set_commands(self, app: _App) -> None:
        if self._settings.commands:
            try:
                await app.bot.set_my_commands([BotCommand(*c) for c in self._settings.commands])
            except tg.TelegramError as error:
                logger.warning("Telegram refused the command menu: %s", self._describe(error))

    def _close_intake(self) -> None:
        if self._intake is not None:
            self._intake.close()
        if self._health.state is not PlatformState.FAILED:
            self._set_health(PlatformState.DRAINING, "taking no more messages")
        connector = self._tasks.get("connect")
        if connector is not None and not connector.done():
            connector.cancel()  # never connected: nothing to send with, nothing to drain
        # Polling stops now, so no update is fetched while the gateway drains.
        self._spawn("stop-polling", self._stop_polling())

    async def _stop_polling(self) -> None:
        polling = self._tasks.get("polling")
        if polling is not None and not polling.done():
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)

    async def _confirm_journaled(self) -> None:
        """At close: tell Telegram which updates are journaled, so they are not sent again."""
        if self._poller is not None and self._app is not None:
            await self._poller.commit()

    async def _shutdown(self) -> None:
        if self._intake is not None:
            self._intake.close()
        await self._lines.close()
        work = list(self._tasks.values())
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        await self._confirm_journaled()
        if self._app is not None:
            await self._teardown(self._app)
            self._app = None

    async def _teardown(self, app: _App) -> None:
        steps = [app.updater.stop] if app.updater is not None and app.updater.running else []
        steps += [app.stop] if app.running else []
        for step in (*steps, app.shutdown, app.bot.shutdown):  # bot: after a failed getMe
            try:
                await step()
            except (tg.TelegramError, RuntimeError) as error:
                logger.warning("Telegram shutdown step failed: %s", self._describe(error))

    # -- polling health and intake -------------------------------------------------------------

    async def _on_poll_response(self, response: httpx.Response) -> None:
        if self._intake is None or not self._intake.is_open or self._app is None:
            return
        if response.status_code == httpx.codes.OK and self._polling_trouble:
            self._polling_trouble = ""
            logger.info("Telegram polling works again")
            self._set_health(PlatformState.RUNNING, f"polling as @{self._app.bot.username}")
        elif response.status_code in {httpx.codes.UNAUTHORIZED, httpx.codes.NOT_FOUND}:
            logger.error("%s while polling; polling stopped", _TOKEN_REJECTED)
            self._set_health(PlatformState.FAILED, _TOKEN_REJECTED)

    def _on_polling_error(self, error: tg.TelegramError) -> None:
        state, detail = PlatformState.RUNNING, f"polling failed ({self._describe(error)}); retrying"
        if isinstance(error, tg.Conflict):
            state, detail = PlatformState.FAILED, "another process is polling this bot token"
            detail += "; retrying at most every 30 s until it stops"
        if self._polling_trouble != type(error).__name__:  # log each episode once
            logger.warning("Telegram %s", detail)
        self._polling_trouble = type(error).__name__
        if self._intake is not None and self._intake.is_open:
            self._set_health(state, f"{detail} (at {datetime.now(UTC):%H:%M:%S} UTC)")

    def _take_update(self, update: Update) -> None:
        """A new update from the poller: taken (confirmed once journaled) or confirmed now."""
        message, intake, bot = update.message, self._intake, self._bot
        taken = (
            message is not None
            and intake is not None
            and bot is not None
            and intake.take(message, bot, update.update_id)
        )  # edited messages and other updates are not taken
        if not taken and self._poller is not None:
            self._poller.confirm((update.update_id,))

    def _on_journaled(self, message: InboundJournaled) -> None:
        if self._intake is not None and self._poller is not None:
            self._poller.confirm(self._intake.journaled(message.token))

    # -- outbound ------------------------------------------------------------------------------

    def _on_command(self, command: PlatformCommand) -> None:
        match command:
            case SendOutbound():
                self._lines.deliver(command.message.target, partial(self._deliver, command))
            case SendDelta():
                pass  # Telegram shows whole messages
            case SetTyping(target=chat, active=active):
                self._lines.typing(chat, partial(self._ping_typing, chat) if active else None)
            case _:
                assert_never(command)

    async def _deliver(self, command: SendOutbound) -> None:
        outcome = await self._send(command)
        try:
            command.reply_to.tell(outcome)
        except AddressClosedError:
            logger.info("Delivery stopped before hearing of %s", command.delivery_id)

    async def _send(self, command: SendOutbound) -> OutboundSent | OutboundFailed:
        app = await self._connected_app()
        if app is None:  # retrying to connect may help; a rejected token will not
            usable = self._health.state is not PlatformState.FAILED
            return failed(command, "Telegram is not connected", retryable=usable)
        return await send_message(app.bot, command, self._describe)

    async def _connected_app(self) -> _App | None:
        """The connected application, waiting a little while it connects (at start)."""
        connected = self._connected
        starting = self._health.state is PlatformState.STARTING
        if self._app is None and connected is not None and starting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                    await connected.wait()
        return self._app

    async def _ping_typing(self, chat: ChatAddress) -> bool:
        """Show "typing…" in ``chat``; False when Telegram refuses (the indicator stops)."""
        if self._app is None:
            return True  # not connected yet: keep trying until the indicator's time is up
        try:
            chat_id, thread_id = inbound.chat_ref(chat)
            await self._app.bot.send_chat_action(
                chat_id, ChatAction.TYPING, message_thread_id=thread_id
            )
        except (tg.TelegramError, ValueError) as error:
            logger.warning("typing in %s stopped: %s", chat.chat_id, self._describe(error))
            return False
        return True

    def _set_health(self, state: PlatformState, detail: str) -> None:
        self._health = PlatformHealth(platform=Platform.TELEGRAM, state=state, detail=detail)

    def _describe(self, error: BaseException) -> str:
        """``error`` for people: never the token (in PTB's URLs and InvalidToken's text)."""
        if isinstance(error, tg.InvalidToken):
            return _TOKEN_REJECTED
        text, token = f"{type(error).__name__}: {error}", self._settings.token
        return text.replace(token, "<token>") if token else text
