"""Scenario 6, the Store: transcript appends per second, and start-up with a big database.

Appends: ``RecordTurn`` writes shaped as a session sends them after a turn (the session entry
and two transcript messages), told by several threads at once (sessions are many actors) to
(a) the gateway's ``StoreActor``, which commits whatever arrived together in one transaction
(group commit), (b) a bench actor that commits each write alone through the same
``SqliteStorage.apply``, and (c) no actor at all: the calling thread applies 100 writes per
transaction, the database's own ceiling. Timed from the first write to the answer of a read
queued behind the last one (the Store commits before it reads).

Start-up: ``start_system`` until it returns (platforms started, ready for messages), then the
first reply, on a copy of a big state.db and on an empty one.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pykka

from bench import bigstore
from bench.agents import Latency, LatencyAgent
from bench.gateway_pipeline import GatewayPipeline, GatewaySetup
from bench.load import Switchboard, one_by_one
from bench.report import Figures, Results, Row, ScenarioReport
from bench.runner import RunContext, progress
from hermes.actors.store import StoreActor
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.messages.store import (
    GetSessionRecord,
    GetStoreStatus,
    RecordTurn,
    SessionRecord,
    StoreStatus,
)
from hermes.messages.values import ChatAddress, ChatMessage, Platform, Role, SessionKey

NAME = "store"
ASK_TIMEOUT = 600.0
DIRECT_BATCH = 100


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    writes: int
    sessions: int
    producers: int
    store: bigstore.StoreSpec
    startups: int


FULL = Params(
    writes=100_000,
    sessions=1000,
    producers=8,
    store=bigstore.StoreSpec(sessions=1_000_000, message_chars=170, journal=100_000),
    startups=3,
)
QUICK = Params(
    writes=3000,
    sessions=100,
    producers=4,
    store=bigstore.StoreSpec(sessions=20_000, message_chars=8, journal=1000),
    startups=2,
)


class CommitEachWrite(pykka.ThreadingActor):
    """The variant without group commit: one transaction per write, in arrival order."""

    def __init__(self, storage: SqliteStorage) -> None:
        super().__init__()
        self._storage = storage

    def on_receive(self, message: Any) -> object:
        if isinstance(message, GetSessionRecord):
            return self._storage.get_session(message.session_key)
        self._storage.apply((message,))
        return None

    def on_stop(self) -> None:
        self._storage.close()


def turn_writes(params: Params) -> list[RecordTurn]:
    """The writes, as sessions send them after each turn."""
    now = datetime.now(UTC)
    messages = (
        ChatMessage(role=Role.USER, content="hello, how are you today?"),
        ChatMessage(role=Role.ASSISTANT, content="re: hello, how are you today? " * 4),
    )
    writes = []
    for index in range(params.writes):
        chat = f"chat-{index % params.sessions}"
        record = SessionRecord(
            session_key=SessionKey(value=f"agent:main:embedded:dm:{chat}"),
            session_id=f"s-{index % params.sessions}",
            created_at=now,
            updated_at=now,
            origin=ChatAddress(platform=Platform.EMBEDDED, chat_id=chat),
        )
        writes.append(RecordTurn(record=record, messages=messages))
    return writes


def appends_through(actor: pykka.ActorRef[Any], writes: list[RecordTurn], producers: int) -> float:
    """Seconds for ``producers`` threads to tell every write, and for all to be committed."""
    shares = [writes[index::producers] for index in range(producers)]
    threads = [
        threading.Thread(target=_tell_all, args=(actor, share), name=f"bench-producer-{index}")
        for index, share in enumerate(shares)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    actor.ask(GetSessionRecord(session_key=writes[-1].record.session_key), timeout=ASK_TIMEOUT)
    return time.perf_counter() - began


def _tell_all(actor: pykka.ActorRef[Any], writes: list[RecordTurn]) -> None:
    for write in writes:
        actor.tell(write)


def appends(ctx: RunContext, params: Params) -> Results:
    """Appends per second for the three ways of writing."""
    writes = turn_writes(params)
    results: Results = {}
    for name, actor_class in (("group_commit", StoreActor), ("commit_each", CommitEachWrite)):
        progress(f"{NAME}: {params.writes} appends, {name}")
        actor = actor_class.start(SqliteStorage.open(ctx.new_home(name) / "state.db"))
        try:
            seconds = appends_through(actor, writes, params.producers)
            status = (
                actor.ask(GetStoreStatus(), timeout=ASK_TIMEOUT) if name == "group_commit" else None
            )
        finally:
            actor.stop()
        results[name] = {"seconds": seconds, "appends_per_s": params.writes / seconds}
        if isinstance(status, StoreStatus):
            results[name]["writes_per_commit"] = status.writes / max(1, status.commits)
    progress(f"{NAME}: {params.writes} appends, {DIRECT_BATCH} per transaction, no actor")
    storage = SqliteStorage.open(ctx.new_home("direct") / "state.db")
    try:
        began = time.perf_counter()
        for start in range(0, len(writes), DIRECT_BATCH):
            storage.apply(writes[start : start + DIRECT_BATCH])
        seconds = time.perf_counter() - began
    finally:
        storage.close()
    results[f"direct_{DIRECT_BATCH}"] = {
        "seconds": seconds,
        "appends_per_s": params.writes / seconds,
    }
    return results


def startup(home: Path, params: Params) -> Figures:
    """Start the gateway on ``home`` ``startups`` times; median start, first reply, stop."""
    starts, firsts, stops = [], [], []
    for _ in range(params.startups):
        board = Switchboard()
        pipeline = GatewayPipeline(GatewaySetup(home=home, agent=LatencyAgent(Latency())))
        pipeline.start(board.sink)
        try:
            firsts += one_by_one(pipeline, board, ["first"], 60)
        finally:
            extras = pipeline.stop()
        starts.append(pipeline.startup_s)
        stops.append(float(extras["stop_s"]))
    size = (home / "state.db").stat().st_size
    return {
        "database_mib": size / 2**20,
        "startup_s": statistics.median(starts),
        "first_reply_ms": statistics.median(firsts) * 1000,
        "stop_s": statistics.median(stops),
        "all_startups_s": starts,
        "sent": params.startups,
        "answered": len(firsts),
    }


def run(ctx: RunContext) -> ScenarioReport:
    """Appends, then start-up times."""
    params = QUICK if ctx.quick else FULL
    results: Results = appends(ctx, params)
    progress(f"{NAME}: preparing a store of {params.store.sessions} sessions (cached)")
    database = bigstore.prepared(ctx.cache_dir, params.store)
    big_home = bigstore.copy_into(database, ctx.new_home("startup-big"))
    progress(f"{NAME}: start-up, {database.stat().st_size / 2**20:.0f} MiB state.db and empty")
    results["startup_big"] = startup(big_home, params)
    results["startup_empty"] = startup(ctx.new_home("startup-empty"), params)
    writers = ("group_commit", "commit_each", f"direct_{DIRECT_BATCH}")
    rows = [Row("appends/s", {name: results[name]["appends_per_s"] for name in writers})]
    rows += [
        Row(metric, {"big": results["startup_big"][key], "empty": results["startup_empty"][key]})
        for metric, key in (
            ("startup s", "startup_s"),
            ("first reply ms", "first_reply_ms"),
            ("stop s", "stop_s"),
        )
    ]
    return ScenarioReport(
        scenario=NAME,
        parameters={**asdict(params), "database_bytes": database.stat().st_size},
        results=results,
        rows=rows,
    )
