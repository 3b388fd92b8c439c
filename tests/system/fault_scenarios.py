"""The scenarios of the fault-injection suite: what goes wrong, how big a run is, its seeded
plan, and the flaky fake model (``fault_harness`` plays them).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass
from typing import Final

from tests.fakes.llm_server import Body, Reply, last_user_text, reply_from_markers


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """What goes wrong in a run."""

    name: str
    title: str
    stops: int = 3
    """Stops per 200 messages (kill -9, or SIGTERM when ``graceful``)."""
    graceful: bool = False
    llm_failure_rate: float = 0.0
    send_rejection_rate: float = 0.0
    fail_writes: int = 0
    """The Store's disk write fails this many times in a row (``fault_gateway``), in the first
    gateway that gets as far as the plan's batch number. The Store tries a batch 3 times, so 1
    is absorbed by a retry and 3 make it give a batch up."""
    storm: bool = False
    """Every update is delivered twice."""


SCENARIOS: Final = (
    Scenario(name="kill", title="kill -9 at random moments"),
    Scenario(name="llm", title="kill -9, model failing 20% of requests", llm_failure_rate=0.2),
    Scenario(name="send", title="kill -9, Telegram refusing 20% of sends", send_rejection_rate=0.2),
    Scenario(name="disk", title="kill -9, one Store disk write failing", fail_writes=1),
    Scenario(name="storm", title="every update delivered twice, no kills", stops=0, storm=True),
    Scenario(name="drain", title="SIGTERM restarts (graceful drain)", graceful=True),
    Scenario(name="disk3", title="kill -9, a Store batch failing every attempt", fail_writes=3),
)
BY_NAME: Final = {scenario.name: scenario for scenario in SCENARIOS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Size:
    """How big a run is."""

    messages: int = 200
    chats: int = 20
    pace: float = 0.06
    """Mean seconds between two messages (each gap drawn from 0 to twice this)."""
    model_delay: float = 0.3
    """The fake model takes from 0 to this many seconds per request (seeded), so that a stop
    finds turns in flight."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A run's schedule, all drawn from its seed: who writes when, when the plug is pulled."""

    sends: tuple[tuple[float, int, int], ...]
    """(seconds from the start, chat, seq) in time order."""
    stops: tuple[tuple[float, float], ...]
    """(seconds from the start, seconds the gateway stays down)."""
    fail_write_at: int
    """The Store batch that fails (``disk``), counted from a gateway's start."""
    seed: int


def plan_run(scenario: Scenario, size: Size, seed: int) -> Plan:
    """The schedule of ``scenario`` at ``size`` for ``seed`` (the same seed, the same run)."""
    dice = random.Random(seed)  # noqa: S311  (a reproducible scenario, not a secret)
    order = [chat for chat in range(size.chats) for _ in range(size.messages // size.chats)]
    order += dice.sample(range(size.chats), size.messages - len(order))
    dice.shuffle(order)
    sent_so_far = dict.fromkeys(range(size.chats), 0)
    sends, at = [], 0.0
    for chat in order:
        at += dice.uniform(0.0, 2 * size.pace)
        sent_so_far[chat] += 1
        sends.append((at, chat, sent_so_far[chat]))
    count = round(scenario.stops * size.messages / 200)
    segment = at / count if count else 0.0
    stops = tuple(
        (segment * (k + dice.uniform(0.2, 0.8)), dice.uniform(0.1, 1.5)) for k in range(count)
    )
    return Plan(sends=tuple(sends), stops=stops, fail_write_at=dice.randint(5, 60), seed=seed)


class FlakyModel:
    """A ``FakeLLM`` rule: the default echo after a seeded delay of up to ``delay`` seconds;
    ``rate`` of the requests (seeded) fail with a 500 that names the message."""

    def __init__(self, rate: float, delay: float, seed: int) -> None:
        self._rate, self._delay = rate, delay
        self._dice = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()
        self.failures = 0

    def __call__(self, body: Body) -> Reply:
        with self._lock:
            delay = self._dice.uniform(0.0, self._delay)
            failed = self._dice.random() < self._rate
            self.failures += int(failed)
        if not failed:
            return dataclasses.replace(reply_from_markers(body), delay=delay)
        # Quoting the message lets the verdict tie the error notice to it (fault_verdict).
        text = last_user_text(body)
        return Reply(status=500, delay=delay, error_message=f"injected failure answering {text!r}")
