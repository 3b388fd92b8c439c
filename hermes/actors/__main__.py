"""``python -m hermes.actors``: run the gateway in the foreground, or talk to a running one.

In order, and nothing else: parse arguments; load the configuration once; configure logging
(the only place that does); take the home's gateway lock; install SIGINT/SIGTERM handlers that
set an event (and pykka's traceback dump on SIGUSR1); tune the garbage collector for a
long-running process (``hermes.gc_tuning``); ``start_system``; wait on the event; and
in ``finally`` stop the system, which drains. ``admin`` is a thin client and starts no actors.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from pykka.debug import log_thread_tracebacks

from hermes.actors import admin_client
from hermes.actors.admin_cli import add_core_commands
from hermes.actors.admin_cli_operations import add_operation_commands
from hermes.actors.cron_cli import add_cron_commands
from hermes.actors.logs import configure_logging
from hermes.actors.pidlock import AlreadyRunningError, GatewayLock
from hermes.actors.system import SystemOverrides, start_system
from hermes.config import Config, ConfigError, load_config, resolve_home
from hermes.gc_tuning import tune_gc
from hermes.messages.ports import PlatformStartError, StorageError

logger = logging.getLogger("hermes")

EX_CONFIG: Final = 78
"""Exit code for a configuration error (sysexits.h), so supervisors stop retrying."""
EX_DATAERR: Final = 65
"""Exit code when the state database cannot be used (not SQLite, damaged, another program's,
newer than this code, unreadable): a restart cannot help, the operator must act. The file is
left as it was."""
EX_INTERRUPTED: Final = 130
ADMIN_COMMAND_GROUPS: Final = (add_core_commands, add_operation_commands, add_cron_commands)
"""Each adds its ``admin`` subcommands (see ``hermes.actors.admin_cli``)."""


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``[run]`` or ``admin ...``, with ``--home`` and ``--log-level``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=argparse.SUPPRESS,
        help="the data directory (default: $HERMES_HOME or ~/.hermes)",
    )
    common.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        default=argparse.SUPPRESS,
    )
    parser = argparse.ArgumentParser(
        prog="python -m hermes.actors", description="The Hermes gateway.", parents=[common]
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "run", parents=[common], help="run the gateway in the foreground (the default)"
    )
    admin = commands.add_parser(
        "admin", parents=[common], help="send a command to the running gateway"
    )
    admin.add_argument("--json", action="store_true", help="print the answer as one JSON document")
    actions = admin.add_subparsers(dest="action", required=True)
    for add_commands in ADMIN_COMMAND_GROUPS:
        add_commands(actions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    home: Path | None = getattr(args, "home", None)
    if args.command == "admin":
        return _admin(args, home)
    return _run(home, getattr(args, "log_level", None))


def _admin(args: argparse.Namespace, home: Path | None) -> int:
    socket_path = Config.defaults(resolve_home(home)).admin_socket
    return admin_client.run(socket_path, args.to_request(args), args.render, json_output=args.json)


def _run(home: Path | None, log_level: str | None) -> int:
    try:
        loaded = load_config(home=home)
    except ConfigError as error:
        sys.stderr.write(f"hermes: configuration error: {error}\n")
        return EX_CONFIG
    config = loaded.config
    os.umask(0o077)  # everything the gateway writes (state.db, logs) is its owner's alone
    config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    configure_logging(log_level or config.log_level, config.log_dir, config.secrets())
    for warning in loaded.warnings:
        logger.warning("configuration: %s", warning)
    lock = GatewayLock(config.lock_file, config.pid_file)
    try:
        lock.acquire()
    except AlreadyRunningError as error:
        logger.error("%s", error)  # noqa: TRY400  (the message is the whole story)
        return 1
    try:
        return _serve(config)
    finally:
        lock.release()


def _serve(config: Config) -> int:
    stop = _StopRequest()
    _install_signal_handlers(stop)
    tune_gc()
    try:
        system = start_system(config, SystemOverrides(request_stop=stop.by_admin))
    except StorageError as error:
        logger.error("cannot use the state database: %s", error)  # noqa: TRY400
        return EX_DATAERR
    except PlatformStartError as error:
        logger.error("%s", error)  # noqa: TRY400
        return 1
    url = system.http_api_url
    logger.info(
        "Hermes gateway running on %s%s. Ctrl-C or SIGTERM stops it.",
        config.home,
        f"; OpenAI-compatible API at {url}/v1" if url else "",
    )
    try:
        stop.wait()
    finally:
        logger.info(
            "%s; stopping: draining for up to %.0f s", stop.reason, config.gateway.shutdown_timeout
        )
        system.stop()
    logger.info("stopped")
    return 0


class _StopRequest:
    """Why and whether the gateway should stop; set from a signal handler or the admin socket.

    A signal handler runs on the main thread between two bytecodes, possibly while that thread
    holds a lock (a ``threading.Event``'s own, inside ``wait``): it must take no lock. So a
    request is a plain flag and one byte written to a pipe, and the main thread sleeps in a
    read of that pipe.
    """

    def __init__(self) -> None:
        self.reason = "stop requested"
        self.requested = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def request(self, reason: str) -> None:
        """Ask the main thread to stop (safe in a signal handler and from any thread)."""
        self.reason = reason
        self.requested = True
        with contextlib.suppress(BlockingIOError):  # a full pipe already wakes the reader
            os.write(self._write, b"!")

    def by_admin(self) -> None:
        self.request("admin stop")

    def wait(self) -> None:
        """Block until a stop is requested."""
        while not self.requested:
            os.read(self._read, 64)


def _install_signal_handlers(stop: _StopRequest) -> None:
    # A handler must not log either (re-entering a handler's stream breaks it): ``_serve`` logs.
    def on_signal(number: int, frame: FrameType | None) -> None:
        del frame
        if stop.requested:
            os.write(2, b"hermes: second signal, exiting without draining\n")
            os._exit(EX_INTERRUPTED)
        stop.request(f"{signal.Signals(number).name} received")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGUSR1, log_thread_tracebacks)


def entry_point() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":
    entry_point()
