from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import stat
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from hermes.actors.__main__ import EX_CONFIG
from hermes.adapters.agents.echo_agent import NO_MODEL_NOTICE
from tests.fakes.telegram_server import FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until
from tests.system.gateway_process import START_TIMEOUT, GatewayProcess, GatewayProcesses, run_admin

SESSION_KEY = "agent:main:webui:dm:u1"
API_KEY = "test-key"
QUICK_EXIT_TIMEOUT = 15.0
"""A gateway that refuses to start must say so within this many seconds."""
SOCKET_TIMEOUT = 10.0
ANSWER_LIMIT = 1024 * 1024


@pytest.fixture
def gateways() -> Iterator[GatewayProcesses]:
    with GatewayProcesses() as started:
        yield started


def _get_json(url: str) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT) as response:  # noqa: S310  (a loopback http URL the test built)
        return response.status, json.loads(response.read())


def _client(gateway: GatewayProcess, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=api_key, max_retries=0, timeout=SOCKET_TIMEOUT * 2
    )


def _chat(gateway: GatewayProcess, text: str, api_key: str = "unused", **headers: str) -> str:
    with _client(gateway, api_key) as client:
        completion = client.chat.completions.create(
            model="hermes-agent",
            messages=[{"role": "user", "content": text}],
            extra_headers=headers or None,
        )
    content = completion.choices[0].message.content
    assert content is not None
    return content


def _admin_json(home: Path, *args: str) -> dict[str, object]:
    done = run_admin(home, "--json", *args)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    assert answer["ok"] is True, answer
    result = answer["result"]
    assert isinstance(result, dict)
    return result


def _session_ids(home: Path) -> dict[str, str]:
    sessions = _admin_json(home, "sessions")["sessions"]
    assert isinstance(sessions, list)
    return {item["session_key"]: item["session_id"] for item in sessions}


def _admin_socket_request(path: Path, payload: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(SOCKET_TIMEOUT)
        conn.connect(str(path))
        # The gateway may answer and hang up before it has read everything we send.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
        # The protocol is one JSON line each way: read the answer's line, not to EOF
        # (a peer that hung up with our bytes unread may end the stream with a reset).
        with conn.makefile("rb") as stream:
            line = stream.readline(ANSWER_LIMIT)
    assert line.endswith(b"\n"), line
    answer = json.loads(line)
    assert isinstance(answer, dict)
    return answer


def _assert_no_errors(log: str) -> None:
    # "--- Logging error ---" is how the logging module reports a handler that raised.
    for sign in ("Traceback", "--- Logging error ---", " ERROR "):
        assert sign not in log, log


@pytest.fixture
def closed_port() -> Iterator[int]:
    # Bound, so nothing else takes it, but never listening: connections are refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_starts_with_no_configuration_serves_and_stops_on_sigterm(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    url = gateway.wait_ready()

    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":0")
    assert f"HTTP API listening on {url}" in gateway.log
    assert f"OpenAI-compatible API at {url}/v1" in gateway.log
    assert "agent: echo (no model configured)" in gateway.log
    pid_record = json.loads((home / "gateway.pid").read_text(encoding="utf-8"))
    assert pid_record["pid"] == gateway.pid
    assert (home / "admin.sock").exists()

    assert _get_json(f"{url}/health") == (200, {"status": "ok", "platform": "hermes-agent"})
    reply = _chat(gateway, "hello from a subprocess test")
    assert NO_MODEL_NOTICE in reply
    assert "You said: hello from a subprocess test" in reply

    started = time.monotonic()
    assert gateway.stop(timeout=30.0) == 0, gateway.log
    assert time.monotonic() - started < 30.0
    assert "SIGTERM received" in gateway.log
    _assert_no_errors(gateway.log)
    assert not (home / "gateway.pid").exists()
    assert not (home / "admin.sock").exists()


def test_ctrl_c_exits_zero(tmp_path: Path, gateways: GatewayProcesses) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    gateway.wait_ready()

    assert gateway.stop(number=signal.SIGINT) == 0, gateway.log
    assert "SIGINT received" in gateway.log
    _assert_no_errors(gateway.log)
    assert not (home / "gateway.pid").exists()
    assert not (home / "admin.sock").exists()


def test_second_gateway_on_the_same_home_refuses_to_start(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    first = gateways.start(home)
    url = first.wait_ready()

    second = gateways.start(home)
    code = second.wait(QUICK_EXIT_TIMEOUT)

    assert code != 0
    assert "already running" in second.log
    assert f"pid {first.pid}" in second.log
    assert "Traceback" not in second.log
    assert first.returncode is None
    assert json.loads((home / "gateway.pid").read_text(encoding="utf-8"))["pid"] == first.pid
    assert (home / "admin.sock").exists()
    assert _get_json(f"{url}/health")[0] == 200
    assert "Uptime:" in run_admin(home, "status").stdout
    assert first.stop() == 0, first.log


@dataclass(frozen=True, slots=True, kw_only=True)
class BadConfig:
    file_name: str | None = None
    content: str = ""
    env: dict[str, str] = field(default_factory=dict)
    expected: tuple[str, ...]
    """Parts the one error line must contain, besides the source."""


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            BadConfig(
                file_name="config.yaml",
                content="busy_input_mode: sometimes\n",
                expected=("busy_input_mode", "'sometimes'", "interrupt"),
            ),
            id="bad-value-in-config-yaml",
        ),
        pytest.param(
            BadConfig(
                file_name="config.yaml",
                content="api_server:\n  port: [1,\n  host: }\n",
                expected=("(file)", "valid YAML", "line 3"),
            ),
            id="unparsable-yaml",
        ),
        pytest.param(
            BadConfig(
                env={"API_SERVER_PORT": "70000"},
                expected=("API_SERVER_PORT", "api_server.port", "70000"),
            ),
            id="port-out-of-range-in-env",
        ),
        pytest.param(
            BadConfig(
                file_name="gateway.json",
                content="{not json\n",
                expected=("(file)", "valid JSON", "line 1"),
            ),
            id="gateway-json-not-json",
        ),
    ],
)
def test_bad_configuration_exits_78_with_one_clear_line(
    tmp_path: Path, gateways: GatewayProcesses, case: BadConfig
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    if case.file_name is not None:
        (home / case.file_name).write_text(case.content, encoding="utf-8")
    gateway = gateways.start(home, env=case.env)

    assert gateway.wait(QUICK_EXIT_TIMEOUT) == EX_CONFIG, gateway.log
    lines = gateway.log.strip().splitlines()
    assert len(lines) == 1, gateway.log
    line = lines[0]
    assert "configuration error" in line
    source = str(home / case.file_name) if case.file_name else "environment variable"
    assert source in line
    for part in case.expected:
        assert part in line
    assert not (home / "gateway.pid").exists()
    assert not (home / "admin.sock").exists()


def test_admin_cli_against_a_running_gateway(tmp_path: Path, gateways: GatewayProcesses) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home, env={"API_SERVER_KEY": API_KEY})
    gateway.wait_ready()

    status = run_admin(home, "status")
    assert status.returncode == 0, status.stderr
    assert "api_server: running" in status.stdout
    assert "Agent: echo (no model configured)" in status.stdout

    result = _admin_json(home, "status")
    expected_keys = {
        "uptime_seconds",
        "platforms",
        "sessions",
        "turns",
        "delivery",
        "store",
        "timers",
    }
    assert expected_keys <= result.keys()
    assert result["platforms"] == [{"platform": "api_server", "state": "running", "detail": ""}]

    reply = _chat(gateway, "remember me", API_KEY, **{"X-Hermes-Session-Key": SESSION_KEY})
    assert "You said: remember me" in reply

    sessions = run_admin(home, "sessions")
    assert sessions.returncode == 0, sessions.stderr
    assert SESSION_KEY in sessions.stdout
    before = _session_ids(home)
    assert SESSION_KEY in before
    active = run_admin(home, "sessions", "--active", "5")
    assert active.returncode == 0, active.stderr
    assert SESSION_KEY in active.stdout

    reset = run_admin(home, "reset", SESSION_KEY)
    assert reset.returncode == 0, reset.stderr
    assert SESSION_KEY in reset.stdout
    assert before[SESSION_KEY] in reset.stdout
    gateway.wait_for_log(f"session {SESSION_KEY} ended \\(admin\\)")
    after = _session_ids(home)
    assert after[SESSION_KEY] != before[SESSION_KEY]

    missing = run_admin(home, "reset", "no-such-key")
    assert missing.returncode == 1
    assert "no session has the key 'no-such-key'" in missing.stderr

    stop = run_admin(home, "stop")
    assert stop.returncode == 0, stop.stderr
    assert "stopping" in stop.stdout
    assert gateway.wait() == 0, gateway.log
    assert not (home / "gateway.pid").exists()


def test_admin_socket_is_private_and_lives_in_the_home(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    gateway.wait_ready()

    admin_socket = gateway.wait_for_log(r"admin socket at (\S+)").group(1)
    path = Path(admin_socket)
    assert path == home / "admin.sock"
    mode = path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert gateway.stop() == 0, gateway.log


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_admin_without_a_running_gateway_says_so(tmp_path: Path, as_json: bool) -> None:
    args = ("--json", "status") if as_json else ("status",)
    done = run_admin(tmp_path, *args)

    assert done.returncode == 1
    assert "no gateway is running" in done.stderr
    assert str(tmp_path / "admin.sock") in done.stderr
    assert "Traceback" not in done.stderr


def test_garbage_on_the_admin_socket_gets_an_error_and_the_gateway_keeps_serving(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    gateway.wait_ready()
    path = home / "admin.sock"

    not_json = _admin_socket_request(path, b"not json\n")
    assert not_json["ok"] is False
    assert "JSON" in str(not_json["error"])

    not_an_object = _admin_socket_request(path, b"[1, 2]\n")
    assert not_an_object["ok"] is False

    overlong = _admin_socket_request(path, b'{"command": "' + b"x" * 100_000 + b'"}\n')
    assert overlong["ok"] is False
    assert str(overlong["error"]).startswith("request too large (over 65,536 bytes")

    status = run_admin(home, "status")
    assert status.returncode == 0, status.stderr
    assert "api_server: running" in status.stdout
    assert gateway.returncode is None
    assert gateway.stop() == 0, gateway.log


def test_admin_cli_with_an_overlong_request_fails_cleanly(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    gateway.wait_ready()

    done = run_admin(home, "reset", "k" * 100_000)

    assert done.returncode == 1
    assert "request too large" in done.stderr
    assert "Traceback" not in done.stderr
    assert run_admin(home, "status").returncode == 0
    assert gateway.stop() == 0, gateway.log


def test_secrets_never_reach_the_log(
    tmp_path: Path, gateways: GatewayProcesses, closed_port: int
) -> None:
    home = tmp_path / "home"
    api_key = "hermes-api-key-3f9c1a7e5b"
    model_key = "sk-model-key-8d2e6b0c4a"
    gateway = gateways.start(
        home,
        env={
            "API_SERVER_KEY": api_key,
            "OPENAI_API_KEY": model_key,
            "HERMES_MODEL": "gpt-test",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
        },
        args=("--log-level", "DEBUG"),
    )
    gateway.wait_ready()
    assert "agent: echo" not in gateway.log

    # Nothing listens on the model's port, so the turn fails and the failure is logged.
    with pytest.raises(openai.APIStatusError):
        _chat(gateway, f"please leak {api_key}", api_key)
    gateway.wait_for_log("(?i)fail")
    assert gateway.stop() == 0, gateway.log

    file_log = (home / "logs" / "gateway.log").read_text(encoding="utf-8")
    assert "gpt-test" in gateway.log
    for secret in (api_key, model_key):
        assert secret not in gateway.log
        assert secret not in file_log


def test_home_created_by_the_gateway_is_private(tmp_path: Path, gateways: GatewayProcesses) -> None:
    home = tmp_path / "fresh-home"
    assert not home.exists()
    gateway = gateways.start(home)
    gateway.wait_ready()

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "logs").stat().st_mode) == 0o700
    assert gateway.stop() == 0, gateway.log


def test_sigkilled_gateway_leaves_a_home_the_next_one_can_use(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    crashed = gateways.start(home)
    crashed.wait_ready()
    crashed.send_signal(signal.SIGKILL)
    assert crashed.wait() == -signal.SIGKILL

    restarted = gateways.start(home)
    restarted.wait_ready(START_TIMEOUT)
    assert json.loads((home / "gateway.pid").read_text(encoding="utf-8"))["pid"] == restarted.pid
    assert run_admin(home, "status").returncode == 0
    assert restarted.stop() == 0, restarted.log
    assert (home / "state.db").exists()


def _admin_answer(home: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_admin(home, "--json", *args)
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict), done.stdout
    return done.returncode, answer


def _telegram_state(home: Path) -> object:
    platforms = _admin_json(home, "status")["platforms"]
    assert isinstance(platforms, list)
    return next((p["state"] for p in platforms if p["platform"] == "telegram"), None)


def _unauthorized(home: Path) -> int:
    sessions = _admin_json(home, "status")["sessions"]
    assert isinstance(sessions, dict)
    count = sessions["unauthorized_dropped"]
    assert isinstance(count, int)
    return count


ALICE = FakeUser(1001, "Alice")
DAVE = FakeUser(1004, "Dave")


def _pair_over_the_cli(home: Path, gateway: GatewayProcess, telegram: FakeTelegram) -> str:
    telegram.send_text(private_chat(ALICE), ALICE, "hello?")
    (offer,) = telegram.wait_for_sent(1, chat_id=ALICE.id)
    match = re.search(r"Your pairing code is ([A-Z2-9]{8})", offer.text)
    assert match, offer.text
    code = match.group(1)

    listed = _admin_json(home, "pairing", "list")
    rows = listed["pending"]
    assert isinstance(rows, list)
    (pending,) = rows
    assert pending["user_id"] == str(ALICE.id)
    assert code not in json.dumps(listed)
    assert code not in gateway.log

    wrong_code, wrong = _admin_answer(home, "pairing", "approve", "telegram", "WRONG234")
    assert wrong_code == 1
    assert wrong["ok"] is False
    assert "4 more failed approvals" in str(wrong["error"])
    text = run_admin(home, "pairing", "approve", "telegram", "WRONG234")
    assert text.returncode == 1
    assert "no pending code on telegram matches" in text.stderr

    approved = _admin_json(home, "pairing", "approve", "telegram", code.lower())
    assert approved["user_id"] == str(ALICE.id)
    assert approved["approved"] is True
    assert "approved" in telegram.wait_for_sent(2, chat_id=ALICE.id)[1].text
    listing = run_admin(home, "pairing", "list")
    assert listing.returncode == 0, listing.stderr
    assert "Approved users:" in listing.stdout
    assert str(ALICE.id) in listing.stdout
    return code


def _send_over_the_cli(home: Path, telegram: FakeTelegram) -> None:
    sent = _admin_json(home, "send", f"telegram:{ALICE.id}", "the", "daily", "digest")
    assert sent["delivered"] is True
    assert telegram.wait_for_sent(3, chat_id=ALICE.id)[2].text == "the daily digest"
    failed_code, failed = _admin_answer(home, "send", "telegram:424242", "anyone?")
    assert failed_code == 1
    assert "not delivered to telegram:424242" in str(failed["error"])


def _reload_over_the_cli(home: Path, telegram: FakeTelegram) -> None:
    (home / "config.yaml").write_text(
        f"telegram:\n  allowed_users: [{ALICE.id}]\ngateway:\n  turn_timeout: 99\n",
        encoding="utf-8",
    )
    reloaded = _admin_json(home, "reload")
    assert reloaded == {
        "applied": ["telegram.allowed_users"],
        "needs_restart": ["gateway.turn_timeout"],
    }
    before = _unauthorized(home)
    telegram.send_text(private_chat(DAVE), DAVE, "hello?")
    wait_until(lambda: _unauthorized(home) == before + 1, 10.0, "dave ignored")
    assert [m.chat_id for m in telegram.sent] == [ALICE.id] * 3
    again = run_admin(home, "reload")
    assert "in force only after a restart: gateway.turn_timeout" in again.stdout

    (home / "config.yaml").write_text("telegram: [unclosed\n", encoding="utf-8")
    bad_code, bad = _admin_answer(home, "reload")
    assert bad_code == 1
    assert "the configuration was not reloaded" in str(bad["error"])


def test_admin_cli_pairing_send_and_reload_against_a_running_gateway(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    with FakeTelegram(bot_username="hermes_bot") as telegram:
        gateway = gateways.start(
            home,
            env={
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_BASE_URL": telegram.base_url,
                "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            },
        )
        gateway.wait_ready()
        wait_until(lambda: _telegram_state(home) == "running", START_TIMEOUT, "telegram")

        code = _pair_over_the_cli(home, gateway, telegram)
        _send_over_the_cli(home, telegram)
        _reload_over_the_cli(home, telegram)

        revoked = _admin_json(home, "pairing", "revoke", "telegram", str(ALICE.id))
        assert revoked == {
            "platform": "telegram",
            "user_id": str(ALICE.id),
            "revoked": True,
            "withdrew_code": False,
        }
        assert gateway.stop() == 0, gateway.log
    _assert_no_errors(gateway.log)
    assert code not in (home / "logs" / "gateway.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ("pairing", "list"),
        ("pairing", "approve", "telegram", "ABCDEFGH"),
        ("pairing", "revoke", "telegram", "42"),
        ("send", "telegram", "hi"),
        ("reload",),
    ],
    ids=["pairing-list", "pairing-approve", "pairing-revoke", "send", "reload"],
)
def test_operator_commands_without_a_running_gateway_say_so(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = run_admin(tmp_path, "--json", *args)

    assert done.returncode == 1
    assert "no gateway is running" in done.stderr
    assert "Traceback" not in done.stderr
