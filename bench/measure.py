"""Measurement helpers: percentiles, process memory and CPU, a memory sampler thread.

Everything here reads the process from the outside (``/proc/self/status``, ``time``); nothing
reaches into the gateway.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Self

_STATUS: Final = Path("/proc/self/status")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99, max and mean of ``seconds``, in milliseconds, and the sample count."""
    if not seconds:
        return {"count": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    return {
        "count": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds) * 1000,
        "mean_ms": sum(seconds) / len(seconds) * 1000,
    }


def rss_bytes() -> int:
    """The process's resident set size (``VmRSS``), in bytes; 0 where /proc is missing."""
    return _status_kib("VmRSS") * 1024


def thread_count() -> int:
    """OS threads of this process (``Threads`` in /proc/self/status)."""
    return _status_kib("Threads")


def _status_kib(field: str) -> int:
    try:
        text = _STATUS.read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def settle_memory() -> int:
    """Collect garbage and hand freed heap back to the OS; return RSS afterwards.

    Memory freed by an earlier contender stays in the allocator's free lists and would make a
    later contender look cheaper, so every RSS baseline is taken after this.
    """
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name).malloc_trim(0)
    return rss_bytes()


class RssSampler:
    """Samples RSS on a thread of its own every ``interval`` seconds; keeps the peak."""

    def __init__(self, interval: float = 0.02) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler")
        self.peak = 0

    def __enter__(self) -> Self:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())


class CpuWall:
    """Wall-clock and process CPU time between ``__enter__`` and ``__exit__``."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._wall0 = 0.0
        self._cpu0 = 0.0

    def __enter__(self) -> Self:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0


def mib(size: float) -> float:
    """Bytes as MiB."""
    return size / (1024 * 1024)
