"""``python -m tests.system.fault_gateway --home H --fail-write N``: the gateway, with a bad disk.

Exactly ``python -m hermes.actors`` (same arguments, lock, logging, signal handling, drain
and exit codes: it runs that ``main``), except that the state database is opened through
``SystemOverrides.open_storage`` as a ``FailingWriteStorage``: its ``apply`` raises
``StorageError`` on the Nth non-empty batch (and the ``--fail-count - 1`` batches after it),
as a full or failing disk would, and logs ``FAULT_LOGGED`` each time so the harness knows
the fault fired.

The CLI has no way to take ``SystemOverrides``, so this module hands its own to it by
replacing ``hermes.actors.__main__.start_system`` in this process only (a launcher for tests,
never imported by the gateway). Copying ``_run``/``_serve`` instead would let the launcher drift
from the real CLI, which is the thing under test.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from hermes.actors import System, SystemOverrides, start_system
from hermes.actors import __main__ as gateway_cli
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.config import Config
from hermes.messages.ports import StorageError
from hermes.messages.store import StoreWrite

logger = logging.getLogger("tests.fault_gateway")

FAULT_LOGGED: Final = "fault injection: disk write failed"
"""Logged (WARNING) each time the injected fault fires, followed by `` on batch N``."""


class WriteFault:
    """Which batches fail: the ``at``-th non-empty one and the ``count - 1`` after it."""

    def __init__(self, at: int, count: int = 1) -> None:
        if at < 1 or count < 1:
            raise ValueError("--fail-write and --fail-count count from 1")
        self.at, self.count = at, count
        self._batches = 0
        self._lock = threading.Lock()  # the Store's thread alone applies; cheap insurance

    def strikes(self) -> int | None:
        """Count one batch; its number if it must fail, else None."""
        with self._lock:
            self._batches += 1
            number = self._batches
        return number if self.at <= number < self.at + self.count else None

    def open(self, path: Path) -> SqliteStorage:
        """``SqliteStorage.open(path)``, with this fault on its writes."""
        storage = FailingWriteStorage.open(path)
        assert isinstance(storage, FailingWriteStorage)  # ``open`` builds ``cls``
        storage.fault = self
        return storage


class FailingWriteStorage(SqliteStorage):
    """A ``SqliteStorage`` whose ``apply`` fails as its ``fault`` says (nothing is written)."""

    fault: WriteFault | None = None

    def apply(self, writes: Sequence[StoreWrite]) -> None:
        """Apply ``writes`` in one transaction, unless the fault strikes this batch.

        Raises:
            StorageError: the fault struck (nothing of the batch was kept), or the database
                refused the batch.
        """
        number = self.fault.strikes() if self.fault is not None and writes else None
        if number is not None:
            logger.warning("%s on batch %d (%d writes)", FAULT_LOGGED, number, len(writes))
            raise StorageError(f"disk I/O error (injected on batch {number})")
        super().apply(writes)


def start_with_fault(
    fault: WriteFault, config: Config, overrides: SystemOverrides | None = None
) -> System:
    """``start_system`` with ``fault`` on the state database's writes."""
    overrides = dataclasses.replace(overrides or SystemOverrides(), open_storage=fault.open)
    return start_system(config, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--fail-write``/``--fail-count``; run the gateway CLI with the rest."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.system.fault_gateway",
        description="The Hermes gateway with an injected state-database write failure.",
    )
    parser.add_argument("--fail-write", type=int, required=True, metavar="N")
    parser.add_argument("--fail-count", type=int, default=1, metavar="K")
    args, rest = parser.parse_known_args(argv)
    fault = WriteFault(args.fail_write, args.fail_count)
    # The CLI's own name for it (imported there, not re-exported): see the module doc.
    gateway_cli.start_system = functools.partial(start_with_fault, fault)  # type: ignore[attr-defined]
    return gateway_cli.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
