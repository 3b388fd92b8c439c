"""The admin interface: operator commands as messages to the owning actors, over a Unix socket.

``AdminCommands`` turns one request (``{"command": ..., "args": {...}}``) into messages and
queries to the actors, each answered within a timeout, so a slow or dead actor yields an error
and never a hung CLI. ``AdminServer`` serves it on ``$HERMES_HOME/admin.sock`` (mode 0600),
one JSON document per line each way. Embedders call ``AdminCommands.run`` directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pykka

from hermes.messages.address import AddressClosedError
from hermes.messages.delivery import GetDeliveryStatus
from hermes.messages.ports import PlatformAdapter
from hermes.messages.router import AdminResetSession, GetRouterStatus
from hermes.messages.store import GetSessionRecord, GetStoreStatus, ListSessions, SessionRecord
from hermes.messages.values import SessionKey

if TYPE_CHECKING:
    from hermes.actors.address import ActorAddress
    from hermes.actors.agent_runtime import AgentRuntime
    from hermes.actors.scheduler import SchedulerActor
    from hermes.messages.agent import RunningTurn
    from hermes.messages.delivery import DeliveryCommand
    from hermes.messages.router import RouterCommand
    from hermes.messages.store import StoreCommand

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT: Final = 5.0
"""Seconds an actor has to answer an admin query."""
MAX_REQUEST_BYTES: Final = 64 * 1024
"""The longest request line; a longer one is refused (and the connection closed)."""
DISCARD_LIMIT_BYTES: Final = 16 * 1024 * 1024
"""An overlong request is read (and dropped) up to this size before the refusal is sent."""
READ_TIMEOUT: Final = 10.0
"""Seconds a client may pause while it sends its request line; then it is told so."""

Result = dict[str, object]
Handler = Callable[[Mapping[str, object]], Result]
"""One admin command: its request's arguments -> its result (raises ``AdminError``)."""


class AdminError(Exception):
    """An admin command that cannot be carried out; the text is shown to the operator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminHandles:
    """What the admin interface talks to."""

    router: ActorAddress[RouterCommand]
    store: ActorAddress[StoreCommand]
    delivery: ActorAddress[DeliveryCommand]
    runtime: AgentRuntime
    scheduler: SchedulerActor
    platforms: tuple[PlatformAdapter, ...]
    started_at: float
    """``time.monotonic()`` at start."""
    request_stop: Callable[[], None]
    turn_timeout: float
    memory: str = "none"
    """The memory provider's description."""


class AdminCommands:
    """Carries out admin requests against a running System."""

    def __init__(self, handles: AdminHandles, extra: Mapping[str, Handler] | None = None) -> None:
        """Talk to ``handles``; ``extra`` adds command groups (pairing, cron) by name."""
        self._h = handles
        self._handlers: dict[str, Handler] = {
            "status": self._status,
            "sessions": self._sessions,
            "reset": self._reset,
            "stop": self._stop,
            **(extra or {}),
        }

    def run(self, request: Mapping[str, object]) -> Result:
        """Carry out ``request``; returns ``{"ok": true, "result": ...}`` or an error."""
        command = request.get("command")
        args = request.get("args", {})
        if not isinstance(command, str) or not isinstance(args, dict):
            return {"ok": False, "error": 'a request is {"command": NAME, "args": {...}}'}
        handler = self._handlers.get(command)
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            return {"ok": False, "error": f"unknown command {command!r} ({known})"}
        try:
            return {"ok": True, "result": handler(args)}
        except AdminError as error:
            return {"ok": False, "error": str(error)}
        except (pykka.Timeout, TimeoutError):
            return {
                "ok": False,
                "error": f"the gateway did not answer {command!r} within {ANSWER_TIMEOUT:.0f} s",
            }
        except AddressClosedError:
            return {"ok": False, "error": "the gateway is shutting down"}

    def _status(self, args: Mapping[str, object]) -> Result:
        del args
        router = self._h.router.ask(GetRouterStatus(), timeout=ANSWER_TIMEOUT)
        delivery = self._h.delivery.ask(GetDeliveryStatus(), timeout=ANSWER_TIMEOUT)
        store = self._h.store.ask(GetStoreStatus(), timeout=ANSWER_TIMEOUT)
        runtime = self._h.runtime.status(ANSWER_TIMEOUT)
        return {
            "uptime_seconds": round(time.monotonic() - self._h.started_at, 1),
            "agent": runtime.agent,
            "memory": self._h.memory,
            "platforms": [
                {"platform": h.platform.value, "state": h.state.value, "detail": h.detail}
                for h in (p.health() for p in self._h.platforms)
            ],
            "sessions": asdict(router),
            "turns": {
                "running": [_turn(turn) for turn in runtime.running],
                "timeout_seconds": self._h.turn_timeout,
                "waiting": runtime.waiting,
                "completed": runtime.completed,
                "failed": runtime.failed,
            },
            "delivery": asdict(delivery),
            "store": asdict(store),
            "timers": self._h.scheduler.status(ANSWER_TIMEOUT).timers,
        }

    def _sessions(self, args: Mapping[str, object]) -> Result:
        minutes = args.get("active_minutes")
        since = None
        if minutes is not None:
            if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
                raise AdminError("active_minutes must be a whole number of minutes")
            since = datetime.now(UTC) - timedelta(minutes=minutes)
        records = self._h.store.ask(ListSessions(active_since=since), timeout=ANSWER_TIMEOUT)
        return {"sessions": [_session(record) for record in records]}

    def _reset(self, args: Mapping[str, object]) -> Result:
        raw = args.get("session_key")
        if not isinstance(raw, str) or not raw:
            raise AdminError("reset needs a session key (see `admin sessions`)")
        try:
            key = SessionKey(value=raw)
        except ValueError as error:
            raise AdminError(str(error)) from error
        record = self._h.store.ask(GetSessionRecord(session_key=key), timeout=ANSWER_TIMEOUT)
        if record is None:
            raise AdminError(f"no session has the key {raw!r} (see `admin sessions`)")
        self._h.router.tell(AdminResetSession(session_key=key))
        return {"session_key": raw, "previous_session_id": record.session_id, "reset": True}

    def _stop(self, args: Mapping[str, object]) -> Result:
        del args
        self._h.request_stop()
        return {"stopping": True}


def _turn(turn: RunningTurn) -> Result:
    """A running turn: its age, and whether it outlived ``turn_timeout`` (its watchdog's view)."""
    return {
        "session_key": turn.session_key.value,
        "turn_id": turn.turn_id,
        "started_at": turn.started_at.isoformat(),
        "running_seconds": turn.age_seconds,
        "over_timeout": turn.overdue,
        "abandoned": turn.abandoned,
    }


def _session(record: SessionRecord) -> Result:
    return {
        "session_key": record.session_key.value,
        "session_id": record.session_id,
        "platform": record.origin.platform.value if record.origin else None,
        "created_at": record.created_at.isoformat(),
        "last_activity": record.updated_at.isoformat(),
        "input_tokens": record.usage.input_tokens,
        "output_tokens": record.usage.output_tokens,
        "total_tokens": record.usage.total_tokens,
    }


class _Handler(socketserver.StreamRequestHandler):
    """One connection: read one request line, write one answer line, hang up."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)

    def handle(self) -> None:
        try:
            raw = self._read_line()
        except TimeoutError:
            response = _refusal(f"no complete request line within {self.server.read_timeout:g} s")
        except OSError as error:  # reset by the client: nobody to answer
            logger.debug("admin socket: the client left: %s", error)
            return
        else:
            response = self.server.answer(raw)
        try:
            line = json.dumps(response).encode() + b"\n"
        except (TypeError, ValueError):
            logger.exception("admin socket: an answer is not JSON")
            line = json.dumps(_refusal("the gateway could not encode its answer")).encode() + b"\n"
        with contextlib.suppress(OSError):  # the client went away: nothing to tell it
            self.wfile.write(line)

    def _read_line(self) -> bytes:
        raw = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        if len(raw) > MAX_REQUEST_BYTES:
            # so the client reads our refusal, not a reset; a stall or a reset here changes nothing
            with contextlib.suppress(OSError):
                self._discard_rest_of_line()
        return raw

    def _discard_rest_of_line(self) -> None:
        for _ in range(DISCARD_LIMIT_BYTES // MAX_REQUEST_BYTES):
            chunk = self.rfile.readline(MAX_REQUEST_BYTES)
            if not chunk or chunk.endswith(b"\n"):
                return


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, commands: AdminCommands, read_timeout: float) -> None:
        self.commands = commands
        self.read_timeout = read_timeout
        super().__init__(str(path), _Handler)

    def answer(self, raw: bytes) -> Result:
        if len(raw) > MAX_REQUEST_BYTES:
            return _refusal(f"request too large (over {MAX_REQUEST_BYTES:,} bytes on one line)")
        request = _parse_request(raw)
        if isinstance(request, str):
            return _refusal(request)
        try:
            return self.commands.run(request)
        except Exception:
            logger.exception("admin socket: %r failed", request.get("command"))
            return _refusal("the command failed inside the gateway (its log has the details)")

    def handle_error(self, request: object, client_address: object) -> None:
        """Log what escaped a connection's handler (socketserver would print it to stderr)."""
        del request, client_address
        logger.error("admin socket: a connection failed", exc_info=sys.exc_info())


def _parse_request(raw: bytes) -> dict[str, object] | str:
    """The request one line holds, or why it holds none."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        return (
            f"a request is one line of UTF-8 JSON (byte {error.start} is 0x{raw[error.start]:02x})"
        )
    try:
        request = json.loads(text)
    except RecursionError:
        return "a request is one line of JSON (this one is nested too deeply)"
    except ValueError as error:
        return f"a request is one line of JSON ({error})"
    if not isinstance(request, dict):
        return "a request is a JSON object"
    try:
        json.dumps(request, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return "a request must not hold unpaired surrogates (\\ud800-\\udfff)"
    return request


def _refusal(error: str) -> Result:
    return {"ok": False, "error": error}


class AdminServer:
    """Serves ``AdminCommands`` on a Unix socket only the owner may use (mode 0600)."""

    def __init__(
        self, path: Path, commands: AdminCommands, *, read_timeout: float = READ_TIMEOUT
    ) -> None:
        """Prepare to serve on ``path``; a client has ``read_timeout`` to send its request."""
        self._path = path
        self._commands = commands
        self._read_timeout = read_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and serve on a thread."""
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()  # left by a gateway that died; the gateway lock is ours
        old_umask = os.umask(0o177)
        try:
            self._server = _Server(self._path, self._commands, self._read_timeout)
        finally:
            os.umask(old_umask)
        self._path.chmod(0o600)
        self._thread = threading.Thread(target=self._server.serve_forever, name="admin-socket")
        self._thread.start()
        logger.info("admin socket at %s", self._path)

    def stop(self) -> None:
        """Stop serving and remove the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(ANSWER_TIMEOUT)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        self._server = None
