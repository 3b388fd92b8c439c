"""The OpenAI-compatible HTTP API platform (aiohttp), one more chat for the gateway.

Each request becomes an ``InboundMessage`` told to the Router; the request waits on a queue of
its own until Delivery's ``SendOutbound`` (and, when streaming, ``SendDelta``) arrive on this
adapter's loop. There is one outbound path for every platform. The loop never blocks on an
actor: it only ``tell``s.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, assert_never

from aiohttp import web

from hermes.adapters.platforms import http_responses as responses
from hermes.adapters.platforms.http_guard import (
    BodyLimits,
    ParseErrorLog,
    error_middleware,
    header_problem,
    read_json,
)
from hermes.adapters.platforms.openai_wire import (
    ChatRequest,
    CompletionIds,
    WireError,
    models_body,
    parse_chat_request,
)
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
from hermes.messages.ports import PlatformHealth, PlatformStartError, PlatformState
from hermes.messages.router import RouteInbound
from hermes.messages.values import (
    ChatAddress,
    ClientContext,
    Conversation,
    InboundMessage,
    Platform,
    Sender,
    check_client_id,
)

logger = logging.getLogger(__name__)

SESSION_ID_HEADER: Final = "X-Hermes-Session-Id"
SESSION_KEY_HEADER: Final = "X-Hermes-Session-Key"
START_TIMEOUT_SECONDS: Final = 10.0
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""The largest request body read; a larger one is a 413 (refused unread when declared)."""
BODY_TIMEOUT_SECONDS: Final = 30.0
"""How long a request body may take to arrive once its headers have; then a 408."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpApiSettings:
    """How the HTTP API listens and answers."""

    host: str
    port: int
    """0 picks a free port (see ``HttpApiPlatform.url``)."""
    key: str | None
    model_name: str
    reply_timeout: float
    """How long a request waits for its answer before a 504."""
    max_in_flight: int = 1024
    """Requests waiting at once; more get a 429 (work is admitted at the ingress)."""
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout: float = BODY_TIMEOUT_SECONDS


class HttpApiPlatform:
    """The HTTP API adapter: an aiohttp server on a loop thread of its own."""

    def __init__(self, settings: HttpApiSettings) -> None:
        """Prepare the server; nothing listens until ``start``."""
        self._settings = settings
        self._loop_thread = LoopThread("http-api")
        self._router: Address[RouteInbound] | None = None
        self._runner: web.AppRunner | None = None
        self._waiting: dict[str, responses.Waiting] = {}
        self._accepting = False
        self._state = PlatformState.STOPPED
        self._detail = ""
        self._port = settings.port
        self._address: Address[PlatformCommand] = LoopAddress(self._loop_thread, self._on_command)

    @property
    def platform(self) -> Platform:
        """Always ``api_server``."""
        return Platform.API_SERVER

    @property
    def max_message_length(self) -> int | None:
        """No limit: an HTTP response carries the whole answer."""
        return None

    @property
    def address(self) -> Address[PlatformCommand]:
        """Where Delivery sends replies."""
        return self._address

    @property
    def url(self) -> str:
        """The base URL the server listens on (the real port when 0 was asked for)."""
        return f"http://{self._settings.host}:{self._port}"

    def start(self, router: Address[RouteInbound]) -> None:
        """Listen; return once the port is bound.

        Raises:
            PlatformStartError: the address cannot be bound.
        """
        self._router = router
        self._state = PlatformState.STARTING
        self._loop_thread.start()
        try:
            self._loop_thread.run(self._serve(), START_TIMEOUT_SECONDS)
        except OSError as error:
            self._state, self._detail = PlatformState.FAILED, str(error)
            self._loop_thread.stop(START_TIMEOUT_SECONDS)
            where = f"{self._settings.host}:{self._settings.port}"
            raise PlatformStartError(
                f"the HTTP API cannot listen on {where}: {error.strerror}"
            ) from error
        self._state = PlatformState.RUNNING
        logger.info("HTTP API listening on %s", self.url)

    def stop_intake(self) -> None:
        """New requests get 503 from now on; waiting ones still get their answers."""
        self._state = PlatformState.DRAINING
        try:
            self._loop_thread.call(self._stop_accepting)
        except AddressClosedError:
            return

    def close(self, timeout: float) -> None:
        """Answer what still waits with 503, stop the server and the loop."""
        if self._runner is not None:
            try:
                self._loop_thread.run(self._shutdown(), timeout)
            except (AddressClosedError, TimeoutError):
                logger.warning("the HTTP API did not shut down cleanly within %.1f s", timeout)
        self._loop_thread.stop(timeout)
        self._state = PlatformState.STOPPED

    def health(self) -> PlatformHealth:
        """The adapter's state."""
        return PlatformHealth(platform=Platform.API_SERVER, state=self._state, detail=self._detail)

    # -- the server ------------------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application(
            client_max_size=self._settings.max_body_bytes, middlewares=[error_middleware]
        )
        app.on_response_prepare.append(responses.add_security_headers)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=False,
            logger=ParseErrorLog(logging.getLogger("aiohttp.server")),
        )
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = _bound_port(runner, self._settings.port)
        self._accepting = True

    def _stop_accepting(self) -> None:
        self._accepting = False

    async def _shutdown(self) -> None:
        self._accepting = False
        for queue in self._waiting.values():
            queue.put_nowait(responses.shutting_down_outcome())
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        del request
        return web.json_response({"status": "ok", "platform": "hermes-agent"})

    async def _models(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(models_body(self._settings.model_name, int(time.time())))

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request)
        conversation = self._conversation(request)
        limits = BodyLimits(
            max_bytes=self._settings.max_body_bytes, timeout=self._settings.body_timeout
        )
        chat = parse_chat_request(await read_json(request, limits))
        if not self._accepting or self._router is None:
            raise WireError(503, "the gateway is shutting down", error_type="server_error")
        if len(self._waiting) >= self._settings.max_in_flight:
            raise WireError(
                429, "too many requests in flight; retry shortly", error_type="rate_limit_error"
            )
        request_id = f"http-{secrets.token_hex(12)}"
        queue: responses.Waiting = asyncio.Queue()
        self._waiting[request_id] = queue
        try:
            self._router.tell(RouteInbound(message=_inbound(request_id, chat, conversation)))
            reply = responses.PendingReply(
                queue=queue,
                ids=CompletionIds(
                    completion_id=f"chatcmpl-{request_id[5:]}",
                    created=int(time.time()),
                    model=self._settings.model_name,
                ),
                echo=_echo_headers(request),
                deadline=asyncio.get_running_loop().time() + self._settings.reply_timeout,
            )
            if chat.stream:
                return await responses.stream(request, reply, include_usage=chat.include_usage)
            return await responses.complete(reply)
        except AddressClosedError as error:
            raise WireError(
                503, "the gateway is shutting down", error_type="server_error"
            ) from error
        finally:
            del self._waiting[request_id]

    def _authorize(self, request: web.Request) -> None:
        key = self._settings.key
        if key is None:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, provided = header.partition(" ")
        # aiohttp keeps bytes that are not UTF-8 as surrogates: encode them back, never fail
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            provided.strip().encode("utf-8", "surrogateescape"), key.encode()
        ):
            raise WireError(401, "Invalid API key", code="invalid_api_key")

    def _conversation(self, request: web.Request) -> Conversation | None:
        session_id = request.headers.get(SESSION_ID_HEADER)
        session_key = request.headers.get(SESSION_KEY_HEADER)
        if session_id is None and session_key is None:
            return None
        if self._settings.key is None:
            raise WireError(
                403,
                f"{SESSION_ID_HEADER} and {SESSION_KEY_HEADER} need an API key: set API_SERVER_KEY",
                error_type="permission_error",
                code="session_headers_need_key",
            )
        for name, value in ((SESSION_ID_HEADER, session_id), (SESSION_KEY_HEADER, session_key)):
            problem = None if value is None else header_problem(value) or check_client_id(value)
            if problem is not None:
                raise WireError(400, f"{name} {problem}", code="invalid_session_header")
        return Conversation(session_id=session_id, session_key=session_key)

    # -- outbound, on the loop ----------------------------------------------------------------

    def _on_command(self, command: PlatformCommand) -> None:
        match command:
            case SendOutbound():
                queue = self._waiting.get(command.message.target.chat_id)
                if queue is None:
                    _report(
                        command,
                        OutboundFailed(
                            delivery_id=command.delivery_id, reason="the HTTP client went away"
                        ),
                    )
                    return
                queue.put_nowait(command.message)
                _report(command, OutboundSent(delivery_id=command.delivery_id))
            case SendDelta():
                queue = self._waiting.get(command.target.chat_id)
                if queue is not None:
                    queue.put_nowait(command)
            case SetTyping():
                pass  # an HTTP client sees the answer, or its stream, and nothing before
            case _:
                assert_never(command)


def _report(command: SendOutbound, event: OutboundSent | OutboundFailed) -> None:
    try:
        command.reply_to.tell(event)
    except AddressClosedError:
        logger.debug("delivery stopped before hearing of %s", command.delivery_id)


def _inbound(
    request_id: str, chat: ChatRequest, conversation: Conversation | None
) -> InboundMessage:
    return InboundMessage(
        message_id=request_id,
        origin=ChatAddress(platform=Platform.API_SERVER, chat_id=request_id),
        sender=Sender(user_id=chat.user or "api"),
        text=chat.text,
        received_at=datetime.now(UTC),
        conversation=conversation,
        client_context=ClientContext(system_prompt=chat.system_prompt, history=chat.history),
        awaits_reply=True,
        stream_reply=chat.stream,
    )


def _echo_headers(request: web.Request) -> dict[str, str]:
    key = request.headers.get(SESSION_KEY_HEADER)
    return {SESSION_KEY_HEADER: key} if key is not None else {}


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:  # noqa: PLR2004  (host, port, ...)
            return int(address[1])
    return asked
