"""Scenario 4, live sessions: memory per live session, and what activating a session costs.

Part 1, on each contender: activate sessions (one message each, all chats at once) until
1,000 and then 10,000 are live (passivation is set far away), reading RSS after each step
(``/proc/self/status`` VmRSS, after a garbage collection and ``malloc_trim``); at each step,
send one message to each of ``probes`` brand-new chats one at a time (activation latency) and
then to live chats one at a time (the same path without activation).

Part 2: a state database holding 1,000,000 sessions. One message each, one at a time, to
sessions that exist but are not live, then again to the same (now live) sessions: the
activation cost is the difference. The baselines read the same session through
``SqliteStorage.load_session`` when they activate it, which is what activation means for them.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import bigstore
from bench.agents import Latency, LatencyAgent
from bench.load import Switchboard, closed_loop, one_by_one
from bench.measure import CpuWall, latency_ms, mib, settle_memory, thread_count
from bench.pipeline import Pipeline
from bench.report import Figures, Results, Row, ScenarioReport, row
from bench.runner import RunContext, Spec, contenders, progress, run_one
from hermes.adapters.storage.sqlite_store import SqliteStorage

NAME = "live_sessions"
HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    live_counts: tuple[int, ...]
    probes: int
    store: bigstore.StoreSpec
    store_probes: int
    timeout_s: float


FULL = Params(
    live_counts=(1000, 10_000),
    probes=200,
    store=bigstore.StoreSpec(sessions=1_000_000, message_chars=170, journal=100_000),
    store_probes=1000,
    timeout_s=600.0,
)
QUICK = Params(
    live_counts=(100, 500),
    probes=30,
    store=bigstore.StoreSpec(sessions=20_000, message_chars=8, journal=1000),
    store_probes=50,
    timeout_s=60.0,
)


def grow(pipeline: Pipeline, board: Switchboard, params: Params) -> Figures:
    """Activate sessions step by step; RSS and activation latency at each step."""
    rss0 = settle_memory()
    figures: Figures = {"rss_start_mib": mib(rss0), "sent": 0, "answered": 0}
    created = 0
    for count in params.live_counts:
        chats = [f"live-{index}" for index in range(created, count)]
        with CpuWall() as clock:
            bulk = closed_loop(pipeline, board, chats, 1, params.timeout_s)
        created = count
        rss = settle_memory()
        new = one_by_one(pipeline, board, [f"new-{count}-{i}" for i in range(params.probes)], 60)
        live = random.Random(count).sample(range(count), params.probes)
        warm = one_by_one(pipeline, board, [f"live-{index}" for index in live], 60)
        figures[f"live_{count}"] = {
            "rss_mib": mib(rss),
            "rss_per_session_kib": (rss - rss0) / count / 1024,
            "threads": thread_count(),
            "bulk_activations_per_s": len(chats) / clock.wall,
            "activation": latency_ms(new),
            "live_key": latency_ms(warm),
        }
        figures["sent"] = int(figures["sent"]) + len(chats) + 2 * params.probes
        figures["answered"] = int(figures["answered"]) + bulk.ok + 2 * params.probes
    return figures


def from_store(pipeline: Pipeline, board: Switchboard, params: Params) -> Figures:
    """Activate existing sessions one at a time, then message them again while live."""
    indexes = random.Random(7).sample(range(params.store.sessions), params.store_probes)
    chats = [bigstore.chat_id(index) for index in indexes]
    cold = one_by_one(pipeline, board, chats, 60)
    live = one_by_one(pipeline, board, chats, 60)
    cold_ms, live_ms = latency_ms(cold), latency_ms(live)
    return {
        "sent": 2 * len(chats),
        "answered": len(cold) + len(live),
        "activation": cold_ms,
        "live_key": live_ms,
        "added_p50_ms": cold_ms["p50_ms"] - live_ms["p50_ms"],
        "added_p99_ms": cold_ms["p99_ms"] - live_ms["p99_ms"],
    }


class StoreLoader:
    """The baselines' activation: read the session from the big database (thread-safe)."""

    def __init__(self, database: Path) -> None:
        self._storage = SqliteStorage.open(database)
        self._lock = threading.Lock()

    def __call__(self, chat: str) -> object:
        with self._lock:
            return self._storage.load_session(bigstore.session_key(chat), None, HISTORY_LIMIT)

    def close(self) -> None:
        self._storage.close()


def run(ctx: RunContext) -> ScenarioReport:
    """Both parts, every contender."""
    params = QUICK if ctx.quick else FULL
    results: Results = {}
    spec = Spec(label=NAME, agent=lambda: LatencyAgent(Latency()))
    for contender in contenders(ctx, spec):
        progress(f"{NAME}: {contender.name}, growing to {params.live_counts} live sessions")
        outcome = run_one(contender, lambda p, b: grow(p, b, params))
        results[contender.name] = {**outcome.value, **outcome.extras}
    progress(f"{NAME}: preparing a store of {params.store.sessions} sessions (cached)")
    database = bigstore.prepared(ctx.cache_dir, params.store)
    loader = StoreLoader(database)
    try:
        store_spec = Spec(
            label=f"{NAME}-store",
            agent=lambda: LatencyAgent(Latency()),
            loader=loader,
            home=lambda: bigstore.copy_into(database, ctx.new_home(f"{NAME}-store")),
        )
        for contender in contenders(ctx, store_spec):
            progress(f"{NAME}: {contender.name}, activations from {params.store.sessions} sessions")
            outcome = run_one(contender, lambda p, b: from_store(p, b, params))
            results[f"{contender.name}_store"] = {**outcome.value, **outcome.extras}
    finally:
        loader.close()
    return ScenarioReport(
        scenario=NAME,
        parameters={**asdict(params), "database_bytes": database.stat().st_size},
        results=results,
        rows=_rows(results, params),
    )


def _rows(results: Results, params: Params) -> list[Row]:
    names = ("gateway", "asyncio", "pykka")
    rows = []
    for count in params.live_counts:
        step = {name: _dict(results[name].get(f"live_{count}")) for name in names}
        rows.append(row(f"RSS KiB/session @ {count}", step, "rss_per_session_kib"))
        rows.append(_nested(f"activation p50 ms @ {count}", step, "activation", "p50_ms"))
        rows.append(_nested(f"activation p99 ms @ {count}", step, "activation", "p99_ms"))
        rows.append(_nested(f"live-key p50 ms @ {count}", step, "live_key", "p50_ms"))
    store = {name: results[f"{name}_store"] for name in names}
    rows.append(
        row(f"store activation added p50 ms ({params.store.sessions})", store, "added_p50_ms")
    )
    rows.append(
        row(f"store activation added p99 ms ({params.store.sessions})", store, "added_p99_ms")
    )
    return rows


def _nested(metric: str, results: Results, key: str, stat: str) -> Row:
    return row(metric, {name: _dict(figures.get(key)) for name, figures in results.items()}, stat)


def _dict(value: object) -> Figures:
    return value if isinstance(value, dict) else {}
