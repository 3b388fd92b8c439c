"""A recording memory provider, for testing the SessionActor's use of memory in isolation."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hermes.messages.memory import MemoryScope
from hermes.messages.values import Sender


@dataclass
class FakeHandle:
    scope: str
    user_id: str

    async def profile(self) -> str:
        return f"profile of {self.user_id} in {self.scope}"

    async def search(self, query: str) -> str:
        return f"search {query!r} in {self.scope}"

    async def context(self, query: str) -> str:
        return f"context {query!r} in {self.scope}"

    async def conclude(self, conclusion: str) -> str:
        return f"saved {conclusion!r} in {self.scope}"


@dataclass
class FakeManager:
    scope: MemoryScope
    log: list[tuple[str, ...]]
    lock: threading.Lock
    drain_result: bool = True

    def for_user(self, sender: Sender) -> FakeHandle:
        return FakeHandle(scope=self.scope.scope, user_id=sender.user_id)

    def record(self, session_id: str, sender: Sender, inputs: tuple[str, ...], reply: str) -> None:
        self._log("record", session_id, sender.user_id, *inputs, reply)

    def end_session(self, session_id: str) -> None:
        self._log("end_session", session_id)

    def drain(self, timeout: float) -> bool:
        del timeout
        self._log("drain")
        return self.drain_result

    def close(self) -> None:
        self._log("close")

    def _log(self, *entry: str) -> None:
        with self.lock:
            self.log.append((self.scope.scope, *entry))


@dataclass
class FakeMemoryProvider:
    """Every manager's calls land in one ordered log: (scope, call, args...)."""

    description: str = "fake memory"
    log: list[tuple[str, ...]] = field(default_factory=list)
    opened: list[MemoryScope] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, scope: MemoryScope) -> FakeManager:
        with self.lock:
            self.opened.append(scope)
        return FakeManager(scope=scope, log=self.log, lock=self.lock)

    def close(self, timeout: float) -> None:
        del timeout
        self.closed = True

    def calls(self, name: str) -> list[tuple[str, ...]]:
        with self.lock:
            return [entry for entry in self.log if entry[1] == name]
