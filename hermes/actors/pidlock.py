"""One gateway per home: an exclusive lock, plus a PID file that says who holds it.

The lock is an ``flock`` on ``gateway.lock``: the kernel releases it when the process dies, even
by ``kill -9``, so a crashed gateway never blocks the next start. ``gateway.pid`` (JSON: pid,
argv, start time) exists while the gateway runs, for operators and their tools.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path


class AlreadyRunningError(Exception):
    """Another gateway holds this home's lock."""


class GatewayLock:
    """Holds a home's gateway lock while the gateway runs."""

    def __init__(self, lock_file: Path, pid_file: Path) -> None:
        """Guard ``lock_file``; describe the holder in ``pid_file``."""
        self._lock_file = lock_file
        self._pid_file = pid_file
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write the PID file.

        Raises:
            AlreadyRunningError: another gateway runs on this home.
        """
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(fd)
            raise AlreadyRunningError(self._describe_holder()) from error
        self._fd = fd
        record = {
            "pid": os.getpid(),
            "kind": "hermes-gateway",
            "argv": sys.argv,
            "start_time": time.time(),
        }
        self._pid_file.write_text(json.dumps(record), encoding="utf-8")
        self._pid_file.chmod(0o600)

    def release(self) -> None:
        """Remove the PID file and release the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _describe_holder(self) -> str:
        home = self._lock_file.parent
        try:
            pid = json.loads(self._pid_file.read_text(encoding="utf-8")).get("pid")
        except (OSError, ValueError, AttributeError):
            pid = None
        who = f" (pid {pid})" if isinstance(pid, int) else ""
        return (
            f"another Hermes gateway is already running on {home}{who}; "
            f"stop it first with `python -m hermes.actors --home {home} admin stop`"
        )
