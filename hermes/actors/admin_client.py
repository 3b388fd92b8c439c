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
from hermes.actors.admin_cli import Render, Request

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


def run(path: Path, request_: Request, render: Render, *, json_output: bool) -> int:
    """Carry out one admin request and print the outcome; returns the exit code."""
    command, args = request_
    try:
        answer = request(path, command, args)
    except AdminRequestError as error:
        _print(sys.stderr, f"hermes admin: {error}")
        return 1
    if json_output:
        _print(sys.stdout, json.dumps(answer, indent=2, sort_keys=True))
        return 0 if answer.get("ok") else 1
    if not answer.get("ok"):
        _print(sys.stderr, f"hermes admin: {answer.get('error')}")
        return 1
    result = answer.get("result")
    _print(sys.stdout, render(result if isinstance(result, dict) else {}))
    return 0


def _print(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
