"""Test doubles at the narrowest boundary: a recording ``Address`` and a controllable clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hermes.messages.address import AddressClosedError

T = TypeVar("T")


class RecordingAddress:
    """An ``Address`` of any protocol that records every message (Akka's TestProbe)."""

    def __init__(self, name: str = "probe") -> None:
        self.name = name
        self._messages: list[Any] = []
        self._condition = threading.Condition()
        self.closed = False

    def tell(self, message: Any) -> None:
        if self.closed:
            raise AddressClosedError(f"{self.name} is closed")
        with self._condition:
            self._messages.append(message)
            self._condition.notify_all()

    @property
    def messages(self) -> list[Any]:
        with self._condition:
            return list(self._messages)

    def of_type(self, cls: type[T]) -> list[T]:
        return [m for m in self.messages if isinstance(m, cls)]

    def expect(self, cls: type[T], timeout: float = 2.0, count: int = 1) -> T:
        """Wait until ``count`` messages of ``cls`` arrived; return the last of them."""
        with self._condition:
            ok = self._condition.wait_for(
                lambda: sum(isinstance(m, cls) for m in self._messages) >= count, timeout
            )
            if not ok:
                seen = [type(m).__name__ for m in self._messages]
                raise AssertionError(
                    f"{self.name}: no {count}x {cls.__name__} within {timeout} s; got {seen}"
                )
            return [m for m in self._messages if isinstance(m, cls)][count - 1]

    def clear(self) -> None:
        with self._condition:
            self._messages.clear()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)
