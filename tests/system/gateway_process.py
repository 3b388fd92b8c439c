"""Run the gateway the way a user does: ``python -m hermes.actors`` as a subprocess.

``GatewayProcess`` starts one gateway with a controlled environment and collects its
stderr on a reader thread, so a test can ``wait_for_log(pattern, timeout)`` without
sleeping. ``GatewayProcesses`` owns every gateway a test starts and SIGKILLs whatever
is still alive when it closes (use it from a fixture). ``run_admin`` runs the admin CLI.

    with GatewayProcesses() as gateways:
        gateway = gateways.start(tmp_path / "home")
        url = gateway.wait_ready()
        ...
        assert gateway.stop() == 0
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from hermes.config_table import SETTINGS

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
START_TIMEOUT: Final = 20.0
"""Seconds a gateway may take to start listening (imports included)."""
STOP_TIMEOUT: Final = 30.0
"""Seconds a gateway may take to drain and exit (the default shutdown timeout)."""
ADMIN_TIMEOUT: Final = 30.0
KILL_TIMEOUT: Final = 10.0
READY_LINE: Final = "Hermes gateway running on"
LISTENING: Final = re.compile(r"HTTP API listening on (http://\S+)")
_CONFIG_PREFIXES: Final = ("HERMES_", "API_SERVER_", "OPENAI_")


def gateway_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of this process's environment without any Hermes setting, plus ``extra``.

    The HTTP API is set to pick a free port (``API_SERVER_PORT=0``); ``extra`` may
    override that. The repository goes first on ``PYTHONPATH`` so ``hermes`` imports
    from the working tree whatever the child's working directory.
    """
    setting_names = {setting.env for setting in SETTINGS}
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_CONFIG_PREFIXES) and name not in setting_names
    }
    python_path = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    env["API_SERVER_PORT"] = "0"
    env.update(extra or {})
    return env


def gateway_command(home: Path, *args: str) -> list[str]:
    """``python -m hermes.actors --home HOME ARGS...`` with this interpreter."""
    return [sys.executable, "-m", "hermes.actors", "--home", str(home), *args]


def run_admin(
    home: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = ADMIN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hermes.actors --home HOME admin ARGS...`` to completion."""
    return subprocess.run(
        gateway_command(home, "admin", *args),
        env=gateway_env(env),
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class LogBuffer:
    """Collects a byte stream's lines on a daemon thread; waits for patterns in them."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        """Start reading ``stream`` until its end."""
        self._stream = stream
        self._lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        """Everything read so far."""
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in the text, waiting up to ``timeout`` for it.

        Raises:
            AssertionError: no match within ``timeout``, or the stream ended first.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        found: list[re.Match[str]] = []

        def matched_or_closed() -> bool:
            match = regex.search("".join(self._lines))
            if match is not None:
                found.append(match)
            return match is not None or self._closed

        with self._changed:
            self._changed.wait_for(matched_or_closed, timeout)
            text = "".join(self._lines)
            closed = self._closed
        if found:
            return found[-1]
        why = "the output ended" if closed else f"{timeout} s passed"
        raise AssertionError(f"{regex.pattern!r} never appeared ({why}); the output was:\n{text}")

    def wait_closed(self, timeout: float) -> bool:
        """Wait until the stream ended (the process and its children closed it)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._closed, timeout)

    def close(self, timeout: float) -> None:
        """Join the reader (the writer must be gone) and close the stream."""
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._stream.close()

    def _read(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                with self._changed:
                    self._lines.append(raw.decode("utf-8", errors="replace"))
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._closed = True
                self._changed.notify_all()


class GatewayProcess:
    """One ``python -m hermes.actors`` process, its stderr collected in ``log``."""

    def __init__(
        self, home: Path, *, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
    ) -> None:
        """Start the gateway on ``home`` with ``gateway_env(env)``; ``args`` follow.

        The working directory is ``home``'s parent, so a stray relative write lands in
        the test's temporary directory and never in the repository.
        """
        self.home = home
        self._url: str | None = None
        self._proc = subprocess.Popen(
            gateway_command(home, *args),
            env=gateway_env(env),
            cwd=home.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # A session of its own: a Ctrl-C meant for pytest does not reach it, and
            # the tests send every signal explicitly.
            start_new_session=True,
        )
        assert self._proc.stderr is not None
        self._stderr = LogBuffer(self._proc.stderr, f"gateway-{self._proc.pid}-stderr")

    @property
    def pid(self) -> int:
        """The gateway's process id."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._proc.poll()

    @property
    def log(self) -> str:
        """The gateway's stderr so far."""
        return self._stderr.text

    @property
    def url(self) -> str:
        """The HTTP API's base URL (``wait_ready`` first)."""
        if self._url is None:
            raise AssertionError("call wait_ready() before using the url")
        return self._url

    def wait_for_log(
        self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT
    ) -> re.Match[str]:
        """Wait for ``pattern`` on stderr; see ``LogBuffer.wait_for``."""
        return self._stderr.wait_for(pattern, timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """Wait until the gateway runs (HTTP API, admin socket); return the URL."""
        self.wait_for_log(re.escape(READY_LINE), timeout)
        self._url = self.wait_for_log(LISTENING, timeout).group(1)
        return self._url

    def send_signal(self, number: signal.Signals) -> None:
        """Send ``number`` to the gateway."""
        self._proc.send_signal(number)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the exit, then for the rest of stderr; return the exit code.

        Raises:
            subprocess.TimeoutExpired: it still runs after ``timeout``.
        """
        code = self._proc.wait(timeout)
        self._stderr.wait_closed(KILL_TIMEOUT)
        return code

    def stop(self, timeout: float = STOP_TIMEOUT, number: signal.Signals = signal.SIGTERM) -> int:
        """Send ``number`` (SIGTERM) and wait up to ``timeout`` for the exit code."""
        self.send_signal(number)
        return self.wait(timeout)

    def close(self) -> None:
        """SIGKILL the gateway if it still runs, reap it and release its pipe."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(KILL_TIMEOUT)
        self._stderr.close(KILL_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class GatewayProcesses:
    """Every gateway one test starts; ``close`` kills and reaps whatever is left."""

    def __init__(self) -> None:
        """Own no gateway yet."""
        self._started: list[GatewayProcess] = []

    def start(
        self, home: Path, *, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
    ) -> GatewayProcess:
        """Start a gateway on ``home`` (see ``GatewayProcess``) without waiting."""
        gateway = GatewayProcess(home, env=env, args=args)
        self._started.append(gateway)
        return gateway

    def close(self) -> None:
        """Close every gateway started, the last first."""
        started, self._started = self._started, []
        with contextlib.ExitStack() as stack:  # one failing close must not skip the rest
            for gateway in started:
                stack.callback(gateway.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
