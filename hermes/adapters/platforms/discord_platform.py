"""The Discord platform adapter: discord.py 2.x on an event-loop thread of its own.

``start`` returns at once; a supervisor task logs in and keeps the gateway connected
(``client.start``/``client.close``, never ``client.run``, which takes over the loop, signals and
logging), retrying with exponential backoff; a rejected token is final. Messages that pass
``discord_inbound``'s rules are told to the Router; Delivery's commands run on the loop. The
token never appears in health, logs or errors. Only this module imports discord.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import warnings
from datetime import UTC, datetime
from typing import Final, assert_never

import aiohttp
import yarl

from hermes.adapters.platforms import discord_inbound as rules
from hermes.adapters.platforms.discord_inbound import DiscordSettings
from hermes.eventloop import LoopAddress, LoopThread
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.delivery import PlatformCommand, SendDelta, SendOutbound, SetTyping
from hermes.messages.ports import PlatformHealth, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import Platform

with warnings.catch_warnings():
    # discord.py 2.7.1 imports audioop (voice, which we do not use), deprecated since 3.11.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

from hermes.adapters.platforms.discord_outbound import chunk_nonce, report, send_chunk, send_failure

__all__ = ["DiscordPlatform", "DiscordSettings"]

logger = logging.getLogger(__name__)

CLIENT_CLOSE_SECONDS: Final = 5.0
_NETWORK_ERRORS: Final = (OSError, aiohttp.ClientError, TimeoutError, discord.GatewayNotFound)
_SEND_ERRORS: Final = (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS)


class _GatewayClient(discord.Client):
    """A discord.py client that hands its events to the adapter (on the adapter's loop)."""

    def __init__(self, adapter: DiscordPlatform) -> None:
        intents = discord.Intents.default()
        intents.message_content = intents.dm_messages = intents.guild_messages = True
        super().__init__(
            intents=intents,
            guild_ready_timeout=0.0,  # on_ready at once, not 2 s after the last GUILD_CREATE
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False),
        )
        self._adapter = adapter

    async def on_ready(self) -> None:
        self._adapter.gateway_ready(self.user)

    on_resumed = on_ready

    async def on_disconnect(self) -> None:
        self._adapter.gateway_lost()

    async def on_message(self, message: discord.Message) -> None:
        self._adapter.message_received(self.user, message)


class DiscordPlatform:
    """The Discord adapter: a discord.py client on a loop thread of its own."""

    def __init__(self, settings: DiscordSettings) -> None:
        """Prepare the adapter; nothing connects until ``start``."""
        self._settings = settings
        self._loop_thread = LoopThread("discord")
        self._address: Address[PlatformCommand] = LoopAddress(self._loop_thread, self._on_command)
        self._health_lock = threading.Lock()
        self._health = PlatformHealth(platform=Platform.DISCORD, state=PlatformState.STOPPED)
        self._router: Address[RouteInbound] | None = None
        self._started = self._intake = False
        self._patched: list[tuple[type, str, object]] = []
        # Touched only on the loop thread:
        self._closing = self._ready_seen = False
        self._client: _GatewayClient | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._typing: dict[int, asyncio.Task[None]] = {}
        self._send_tails: dict[int, asyncio.Task[None]] = {}

    @property
    def platform(self) -> Platform:
        """Always ``discord``."""
        return Platform.DISCORD

    @property
    def max_message_length(self) -> int | None:
        """Discord's limit on one message's content."""
        return rules.MAX_MESSAGE_LENGTH

    @property
    def address(self) -> Address[PlatformCommand]:
        """Where Delivery sends this platform's commands (handled on the adapter's loop)."""
        return self._address

    def start(self, router: Address[RouteInbound]) -> None:
        """Start the loop thread and connect in the background; returns at once, never raises."""
        if self._started:
            logger.warning("the Discord adapter was started twice; ignoring the second start")
            return
        self._started = self._intake = True
        self._router = router
        self._set_health(PlatformState.STARTING, "connecting to Discord")
        try:
            self._patched = _point_discord_py_at(self._settings)
            self._loop_thread.start()
            self._loop_thread.call(self._begin)
        except Exception:  # nothing may take the gateway down; health says what happened
            logger.exception("the Discord adapter could not start")
            self._set_health(PlatformState.FAILED, "the Discord adapter could not start")

    def stop_intake(self) -> None:
        """Ignore new Discord messages from now on; sending works until ``close``."""
        self._intake = False
        self._set_health(PlatformState.DRAINING, "not taking new messages")

    def close(self, timeout: float) -> None:
        """Disconnect, stop typing and the loop thread within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._intake = False
        if self._loop_thread.is_alive():
            try:
                self._loop_thread.run(self._shutdown(timeout * 0.7), timeout * 0.8)
            except (TimeoutError, AddressClosedError):
                logger.warning("the Discord client did not close within %.1f s", timeout)
            self._loop_thread.stop(max(0.1, deadline - time.monotonic()))
        elif not self._loop_thread.loop.is_closed():
            self._loop_thread.loop.close()  # never started: release the unused loop
        for owner, name, value in reversed(self._patched):
            setattr(owner, name, value)
        self._patched = []
        self._set_health(PlatformState.STOPPED, "closed")

    def health(self) -> PlatformHealth:
        """The adapter's state (any thread)."""
        return self._health

    # -- the connection, on the loop -----------------------------------------------------------

    def _begin(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        delay, attempt = self._settings.retry_initial_seconds, 1
        while True:
            self._ready_seen = False
            client = self._client = _GatewayClient(self)
            try:
                await client.start(self._settings.token)
                failure = rules.Failure("the Discord connection ended")
            except Exception as error:  # noqa: BLE001  (every failure is reported and retried)
                failure = self._failure_of(error)
            finally:
                await _close_client(client)
            if self._closing:
                return
            if failure.fatal:
                self._set_health(PlatformState.FAILED, failure.reason)
                logger.error("Discord: %s; not retrying", failure.reason)
                return
            if self._ready_seen:
                delay, attempt = self._settings.retry_initial_seconds, 1
            attempt += 1
            detail = rules.retry_detail(failure.reason, attempt, delay, datetime.now(UTC))
            self._set_health(PlatformState.STARTING, detail)
            logger.warning("Discord: %s", detail)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.retry_max_seconds)

    def _failure_of(self, error: Exception) -> rules.Failure:
        if isinstance(error, discord.LoginFailure):
            return rules.Failure(rules.TOKEN_REJECTED, fatal=True)
        if isinstance(error, discord.PrivilegedIntentsRequired):
            return rules.Failure(rules.FATAL_CLOSE_CODES[4014], fatal=True)
        if isinstance(error, discord.ConnectionClosed):
            fatal = rules.FATAL_CLOSE_CODES.get(error.code)
            closed = f"the Discord gateway closed the connection (code {error.code})"
            return rules.Failure(fatal, fatal=True) if fatal else rules.Failure(closed)
        if isinstance(error, discord.HTTPException):
            return rules.Failure(f"Discord answered {error.status} while connecting")
        if isinstance(error.__context__, _NETWORK_ERRORS) and isinstance(error, AttributeError):
            error = error.__context__  # discord.py 2.7.1 trips over a failed first gateway connect
        if not isinstance(error, _NETWORK_ERRORS):  # a discord.py bug must not end the retries
            logger.error("unexpected error in the Discord client", exc_info=error)
        return rules.Failure(f"cannot reach Discord ({self._redact(rules.describe_error(error))})")

    def gateway_ready(self, user: discord.ClientUser | None) -> None:
        """The client's READY or RESUMED: the gateway is connected."""
        self._ready_seen = True
        who = f" as {user.name} ({user.id})" if user is not None else ""
        self._set_health(PlatformState.RUNNING, f"connected{who}")
        logger.info("Discord connected%s", who)

    def gateway_lost(self) -> None:
        """The client lost the gateway; discord.py reconnects (and resumes) by itself."""
        if not self._closing and self._health.state is PlatformState.RUNNING:
            at = f"{datetime.now(UTC):%H:%M:%S} UTC"
            self._set_health(PlatformState.STARTING, f"gateway lost at {at}; reconnecting")

    def message_received(self, user: discord.ClientUser | None, message: discord.Message) -> None:
        """The client's MESSAGE_CREATE: tell the Router, if the rules take it."""
        router = self._router
        if not self._intake or router is None or user is None:
            return
        try:
            if inbound := rules.inbound_of(message, self._settings, bot_user_id=str(user.id)):
                router.tell(RouteInbound(message=inbound))
        except AddressClosedError:
            logger.debug("router stopped; Discord message %s not routed", message.id)

    async def _shutdown(self, budget: float) -> None:
        self._closing = True
        for task in list(self._typing.values()):
            task.cancel()
        if self._send_tails:  # sends under way may finish, for part of the budget
            await asyncio.wait(list(self._send_tails.values()), timeout=budget / 2)
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            await asyncio.wait([self._supervisor], timeout=budget / 2)
        if self._client is not None:
            await _close_client(self._client)

    # -- outbound, on the loop -----------------------------------------------------------------

    def _on_command(self, command: PlatformCommand) -> None:
        match command:
            case SendOutbound():
                self._queue_send(command)
            case SetTyping():
                self._on_set_typing(command)
            case SendDelta():
                pass  # Discord shows whole messages; Delivery does not stream to it
            case _:
                assert_never(command)

    def _queue_send(self, command: SendOutbound) -> None:
        channel_id = rules.channel_id_of(command.message.target)
        if channel_id is None:
            report(command, rules.Failure("not a Discord channel id", fatal=True), "")
            return
        # One channel's deliveries go one after another, so their chunks never interleave.
        previous = self._send_tails.get(channel_id)
        task = asyncio.get_running_loop().create_task(self._send(command, channel_id, previous))
        self._send_tails[channel_id] = task
        task.add_done_callback(functools.partial(_forget, self._send_tails, channel_id))

    async def _send(
        self, command: SendOutbound, channel_id: int, previous: asyncio.Task[None] | None
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            failure = await self._deliver(command, channel_id)
        except asyncio.CancelledError:
            report(command, rules.Failure("the Discord adapter stopped"), "")
            raise
        reason = "" if failure is None else self._redact(failure.reason)
        report(command, failure, reason)

    async def _deliver(self, command: SendOutbound, channel_id: int) -> rules.Failure | None:
        """Send every chunk in order; None when all were accepted."""
        client, health = self._client, self._health
        if client is None or client.is_closed() or client.user is None:
            failed = health.state is PlatformState.FAILED
            reason = health.detail if failed else "Discord is not connected"
            return rules.Failure(reason, fatal=failed)
        chunks = [chunk for chunk in command.chunks if chunk.strip()]
        if not chunks:
            return rules.Failure("the message is empty", fatal=True)
        channel = client.get_partial_messageable(channel_id)
        reply_to = rules.reply_reference_id(command.message.target, command.message.in_reply_to)
        for number, chunk in enumerate(chunks):
            try:
                nonce = chunk_nonce(command.delivery_id, command.first_chunk + number)
                await send_chunk(channel, chunk, reply_to if number == 0 else None, nonce)
            except _SEND_ERRORS as error:
                failure = send_failure(error)
                where = f" (after {number} of {len(chunks)} parts)" if number else ""
                return rules.Failure(
                    failure.reason + where,
                    fatal=failure.fatal,
                    chunks_sent=number,
                    retry_after=failure.retry_after,
                )
        if command.message.kind in rules.ANSWER_KINDS:
            self._stop_typing(channel_id)
        return None

    def _on_set_typing(self, command: SetTyping) -> None:
        channel_id = rules.channel_id_of(command.target)
        if channel_id is None:
            return
        if not command.active:
            self._stop_typing(channel_id)
        elif channel_id not in self._typing and not self._closing:
            task = asyncio.get_running_loop().create_task(self._keep_typing(channel_id))
            self._typing[channel_id] = task
            task.add_done_callback(functools.partial(_forget, self._typing, channel_id))

    def _stop_typing(self, channel_id: int) -> None:
        task = self._typing.pop(channel_id, None)
        if task is not None:
            task.cancel()

    async def _keep_typing(self, channel_id: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.typing_max_seconds
        while (left := deadline - loop.time()) > 0:
            client = self._client
            if client is not None and not client.is_closed() and client.user is not None:
                try:  # one trigger: ``await messageable.typing()`` posts /typing once
                    await client.get_partial_messageable(channel_id).typing()
                except _SEND_ERRORS as error:
                    logger.debug("typing in Discord channel %s failed: %r", channel_id, error)
            await asyncio.sleep(min(rules.TYPING_INTERVAL_SECONDS, left))

    def _set_health(self, state: PlatformState, detail: str) -> None:
        detail, intake_over = self._redact(detail), self._started and not self._intake
        with self._health_lock:
            self._health = rules.next_health(self._health, state, detail, intake_over=intake_over)

    def _redact(self, text: str) -> str:
        return rules.redact(text, self._settings.token)


def _point_discord_py_at(settings: DiscordSettings) -> list[tuple[type, str, object]]:
    """Point discord.py at the configured endpoints (when not Discord's); returns what to restore.

    discord.py reads them from class attributes (``Route.BASE``, ``DiscordWebSocket.
    DEFAULT_GATEWAY``), so they are process-wide: one Discord adapter per process.
    """
    saved: list[tuple[type, str, object]] = []
    if settings.api_base.rstrip("/") != rules.DEFAULT_API_BASE:
        saved.append((Route, "BASE", Route.BASE))
        Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url != rules.DEFAULT_GATEWAY_URL:
        saved.append((DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY))
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    return saved


async def _close_client(client: discord.Client) -> None:
    try:
        await asyncio.wait_for(client.close(), CLIENT_CLOSE_SECONDS)
    except (*_NETWORK_ERRORS, discord.DiscordException) as error:
        logger.warning("the Discord client did not close cleanly: %s", type(error).__name__)


def _forget(tasks: dict[int, asyncio.Task[None]], key: int, task: asyncio.Task[None]) -> None:
    if tasks.get(key) is task:
        del tasks[key]
