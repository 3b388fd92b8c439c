"""The operator's side of the admin socket: ``python -m hermes.actors admin ...``.

A thin client: it sends one request to the running gateway and prints the answer, as text or,
with ``--json``, as one JSON document. It starts no actors.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TextIO

from hermes.actors.admin import MAX_REQUEST_BYTES

REQUEST_TIMEOUT: Final = 15.0


class AdminRequestError(Exception):
    """The request cannot be sent; nothing reached the gateway."""


class NoGatewayError(AdminRequestError):
    """No gateway answers on the admin socket."""


def request(path: Path, command: str, args: Mapping[str, object]) -> dict[str, object]:
    """Send one admin request to the gateway listening on ``path``; return its answer.

    Raises:
        NoGatewayError: nothing listens there.
    """
    payload = json.dumps({"command": command, "args": dict(args)}).encode() + b"\n"
    if len(payload) > MAX_REQUEST_BYTES:
        raise AdminRequestError(
            f"request too large ({len(payload)} bytes; the limit is {MAX_REQUEST_BYTES})"
        )
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REQUEST_TIMEOUT)
            conn.connect(str(path))
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            raw = b"".join(iter(lambda: conn.recv(65536), b""))
    except (FileNotFoundError, ConnectionRefusedError) as error:
        raise NoGatewayError(f"no gateway is running (nothing listens on {path})") from error
    except TimeoutError as error:
        raise NoGatewayError(
            f"the gateway did not answer within {REQUEST_TIMEOUT:.0f} s"
        ) from error
    except ConnectionError as error:
        raise NoGatewayError(f"the gateway closed the connection: {error}") from error
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError as error:
        raise NoGatewayError(f"the gateway sent an unreadable answer: {raw[:200]!r}") from error
    if not isinstance(answer, dict):
        raise NoGatewayError("the gateway sent an unreadable answer")
    return answer


def run(path: Path, command: str, args: Mapping[str, object], *, as_json: bool) -> int:
    """Carry out one admin command and print the outcome; returns the exit code."""
    try:
        answer = request(path, command, args)
    except AdminRequestError as error:
        _print(sys.stderr, f"hermes admin: {error}")
        return 1
    if as_json:
        _print(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))
        return 0 if answer.get("ok") else 1
    if not answer.get("ok"):
        _print(sys.stderr, f"hermes admin: {answer.get('error')}")
        return 1
    result = answer.get("result")
    _print(sys.stdout, render(command, result if isinstance(result, dict) else {}))
    return 0


def render(command: str, result: Mapping[str, object]) -> str:
    """A person's view of a command's result."""
    match command:
        case "status":
            return _render_status(result)
        case "sessions":
            return _render_sessions(result)
        case "reset":
            key, previous = result.get("session_key"), result.get("previous_session_id")
            return f"Session {key} reset (was {previous})."
        case "stop":
            return "The gateway is stopping."
        case _:
            return json.dumps(result, indent=2, sort_keys=True)


def _render_status(result: Mapping[str, object]) -> str:
    sessions = _mapping(result.get("sessions"))
    turns = _mapping(result.get("turns"))
    delivery = _mapping(result.get("delivery"))
    store = _mapping(result.get("store"))
    lines = [
        f"Uptime: {result.get('uptime_seconds')} s",
        f"Agent: {result.get('agent')}",
        "Platforms:",
    ]
    for platform in _list(result.get("platforms")):
        item = _mapping(platform)
        detail = f" ({item.get('detail')})" if item.get("detail") else ""
        lines.append(f"  {item.get('platform')}: {item.get('state')}{detail}")
    lines.append(
        f"Sessions: {sessions.get('live_sessions')} live, "
        f"{sessions.get('stopping')} stopping, "
        f"{sessions.get('buffered_messages')} messages buffered"
    )
    running = _list(turns.get("running"))
    lines.append(
        f"Turns: {len(running)} running, {turns.get('waiting')} waiting, "
        f"{turns.get('completed')} completed, {turns.get('failed')} failed"
    )
    for turn in running:
        item = _mapping(turn)
        flag = "  OVER TIMEOUT" if item.get("over_timeout") else ""
        lines.append(f"  {item.get('session_key')}: {item.get('running_seconds')} s{flag}")
    lines.append(
        f"Delivery: {delivery.get('in_flight')} in flight, {delivery.get('sent')} sent, "
        f"{delivery.get('failed')} failed"
    )
    lines.append(
        f"Store: {store.get('path')} ({store.get('pending_writes')} writes pending, "
        f"{store.get('commits')} commits)"
    )
    lines.append(f"Timers: {result.get('timers')}")
    return "\n".join(lines)


def _render_sessions(result: Mapping[str, object]) -> str:
    rows = [_mapping(item) for item in _list(result.get("sessions"))]
    if not rows:
        return "No sessions."
    lines = [
        f"{'SESSION KEY':<48} {'SESSION ID':<26} {'PLATFORM':<11} {'LAST ACTIVITY':<26} TOKENS"
    ]
    lines.extend(
        f"{row.get('session_key')!s:<48} {row.get('session_id')!s:<26} {row.get('platform')!s:<11} "
        f"{row.get('last_activity')!s:<26} {row.get('total_tokens')}"
        for row in rows
    )
    return "\n".join(lines)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _print(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
