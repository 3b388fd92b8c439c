"""The admin socket against bad input: every bad request gets one clear error line, nothing is
carried out, nothing is printed, and the next client is served.

The server runs alone with two stand-in commands: ``echo`` (answers its arguments, and counts
its calls) and ``boom`` (fails as a bug would).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from hermes.actors.admin import MAX_REQUEST_BYTES, AdminCommands, AdminServer

READ_TIMEOUT = 0.5
SOCKET_TIMEOUT = 10.0


class Commands:
    """The stand-in commands, recording what was carried out."""

    def __init__(self) -> None:
        self.carried_out: list[Mapping[str, object]] = []
        self._lock = threading.Lock()

    def echo(self, args: Mapping[str, object]) -> dict[str, object]:
        with self._lock:
            self.carried_out.append(args)
        return {"echo": dict(args)}

    def boom(self, args: Mapping[str, object]) -> dict[str, object]:
        del args
        raise RuntimeError("a bug in a command")

    def unencodable(self, args: Mapping[str, object]) -> dict[str, object]:
        del args
        return {"a set": {1, 2}}


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def socket_path(tmp_path: Path, commands: Commands) -> Iterator[Path]:
    path = tmp_path / "admin.sock"
    admin = AdminCommands(
        handles=None,  # type: ignore[arg-type]  # only the stand-in commands run
        extra={"echo": commands.echo, "boom": commands.boom, "unencodable": commands.unencodable},
    )
    server = AdminServer(path, admin, read_timeout=READ_TIMEOUT)
    server.start()
    yield path
    server.stop()


def connect(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(SOCKET_TIMEOUT)
    conn.connect(str(path))
    return conn


def answer_of(conn: socket.socket) -> dict[str, object]:
    """The one answer line the server writes (read as a line: it may hang up with bytes unread)."""
    with conn.makefile("rb") as stream:
        line = stream.readline(1024 * 1024)
    assert line.endswith(b"\n"), line
    answer = json.loads(line)
    assert isinstance(answer, dict)
    return answer


def exchange(path: Path, payload: bytes) -> dict[str, object]:
    with connect(path) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
        return answer_of(conn)


def assert_still_serving(path: Path, commands: Commands, carried_out_before: int = 0) -> None:
    answer = exchange(path, b'{"command": "echo", "args": {"n": 1}}\n')
    assert answer == {"ok": True, "result": {"echo": {"n": 1}}}
    assert len(commands.carried_out) == carried_out_before + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BadRequest:
    """Bytes sent on the socket, and what the error must say."""

    payload: bytes
    fragment: str


def bad(case_id: str, payload: bytes, fragment: str):
    return pytest.param(BadRequest(payload=payload, fragment=fragment), id=case_id)


BAD_REQUESTS = [
    bad("garbage-bytes", b"\x00\x01\x02\xfe\xff\n", "one line of UTF-8 JSON (byte 3 is 0xfe)"),
    bad("latin-1", b'{"command": "\xe9cho"}\n', "one line of UTF-8 JSON (byte 13 is 0xe9)"),
    bad("not-json", b"not json\n", "a request is one line of JSON (Expecting value"),
    bad("truncated-json", b'{"command": "echo", \n', "a request is one line of JSON"),
    bad("empty-line", b"\n", "a request is one line of JSON"),
    bad("nothing-at-all", b"", "a request is one line of JSON"),
    bad("an-array", b'["echo"]\n', "a request is a JSON object"),
    bad("a-string", b'"echo"\n', "a request is a JSON object"),
    bad("no-command", b'{"args": {}}\n', 'a request is {"command": NAME, "args": {...}}'),
    bad("command-a-number", b'{"command": 7}\n', 'a request is {"command": NAME'),
    bad("args-a-list", b'{"command": "echo", "args": [1]}\n', 'a request is {"command": NAME'),
    bad("unknown-command", b'{"command": "explode"}\n', "unknown command 'explode' (boom, echo,"),
    bad("deep", b"[" * 20_000 + b"]" * 20_000 + b"\n", "nested too deeply"),
    bad("huge-int", b'{"command": "echo", "args": {"n": ' + b"9" * 5000 + b"}}\n", "JSON"),
    bad(
        "lone-surrogate",
        b'{"command": "echo", "args": {"k": "a\\ud800"}}\n',
        "must not hold unpaired surrogates",
    ),
    bad(
        "overlong-line",
        b'{"command": "echo", "args": {"k": "' + b"x" * (2 * MAX_REQUEST_BYTES) + b'"}}\n',
        f"request too large (over {MAX_REQUEST_BYTES:,} bytes on one line)",
    ),
    bad(
        "overlong-without-a-newline",
        b"x" * (3 * MAX_REQUEST_BYTES),
        f"request too large (over {MAX_REQUEST_BYTES:,} bytes on one line)",
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_an_error_and_the_next_client_is_served(
    socket_path, commands, capfd, case: BadRequest
):
    answer = exchange(socket_path, case.payload)

    assert answer["ok"] is False
    assert case.fragment in str(answer["error"])
    assert set(answer) == {"ok", "error"}
    assert commands.carried_out == []
    assert_still_serving(socket_path, commands)
    assert "Traceback" not in capfd.readouterr().err


def test_a_line_at_the_cap_is_read_whole(socket_path, commands):
    head, tail = b'{"command": "echo", "args": {"k": "', b'"}}\n'
    padding = b"x" * (MAX_REQUEST_BYTES - len(head) - len(tail))

    answer = exchange(socket_path, head + padding + tail)

    assert answer == {"ok": True, "result": {"echo": {"k": padding.decode()}}}


def test_a_failing_command_is_an_error_reply_and_a_log_line(socket_path, commands, capfd, caplog):
    answer = exchange(socket_path, b'{"command": "boom"}\n')

    assert answer == {
        "ok": False,
        "error": "the command failed inside the gateway (its log has the details)",
    }
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["admin socket: 'boom' failed"]
    assert failures[0].exc_info is not None
    assert "a bug in a command" in str(failures[0].exc_info[1])
    assert_still_serving(socket_path, commands)
    assert "Traceback" not in capfd.readouterr().err


def test_an_answer_that_is_not_json_is_an_error_reply(socket_path, commands, capfd):
    answer = exchange(socket_path, b'{"command": "unencodable"}\n')

    assert answer == {"ok": False, "error": "the gateway could not encode its answer"}
    assert_still_serving(socket_path, commands)
    assert "Traceback" not in capfd.readouterr().err


def test_a_stalled_client_holds_up_no_one_and_is_told_why(socket_path, commands):
    with connect(socket_path) as stalled:
        stalled.sendall(b'{"command": "echo", ')  # and nothing more

        assert_still_serving(socket_path, commands)
        answer = answer_of(stalled)  # the server gives up after READ_TIMEOUT

    assert answer == {"ok": False, "error": f"no complete request line within {READ_TIMEOUT:g} s"}
    assert commands.carried_out == [{"n": 1}]


def test_a_client_that_hangs_up_leaves_no_error(socket_path, commands, capfd, caplog):
    with connect(socket_path):
        pass
    with connect(socket_path) as halfway:
        halfway.sendall(b'{"command": "ec')

    assert_still_serving(socket_path, commands)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in capfd.readouterr().err
