"""Scenario 3, head-of-line blocking: do slow turns in some sessions delay the other chats?

Fast chats send at a steady rate (open loop, as in the paced scenario) twice on the same
contender: once alone, once while the slow chats each keep one long turn running (a closed
loop: a slow chat's next message leaves when its previous one is answered, so every slow turn
is in flight for the whole measurement; we wait until all of them are). The figure is the fast
chats' p99 with the slow sessions against without them. The slow replies still in flight at
the end are waited for, so every message is answered.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.agents import Latency, LatencyAgent
from bench.load import ClosedLoop, Pacing, RepliesMissingError, Switchboard, closed_loop, paced
from bench.measure import latency_ms
from bench.pipeline import Pipeline
from bench.report import Figures, Results, Row, ScenarioReport
from bench.runner import RunContext, Spec, contenders, progress, run_one

NAME = "head_of_line"
SLOW = "slow-"


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    slow_chats: int
    slow_turn_s: float
    fast_chats: int
    fast_rate: float
    fast_seconds: float
    fast_latency_s: float
    timeout_s: float


FULL = Params(
    slow_chats=500,
    slow_turn_s=30.0,
    fast_chats=1000,
    fast_rate=500.0,
    fast_seconds=10.0,
    fast_latency_s=0.02,
    timeout_s=600.0,
)
QUICK = Params(
    slow_chats=50,
    slow_turn_s=1.0,
    fast_chats=100,
    fast_rate=250.0,
    fast_seconds=0.8,
    fast_latency_s=0.02,
    timeout_s=60.0,
)


def measure(pipeline: Pipeline, board: Switchboard, params: Params, agent: LatencyAgent) -> Figures:
    """Fast load alone, then with every slow turn running."""
    fast = [f"fast-{index}" for index in range(params.fast_chats)]
    slow = [f"{SLOW}{index}" for index in range(params.slow_chats)]
    pacing = Pacing(rate=params.fast_rate, count=round(params.fast_rate * params.fast_seconds))
    warmup = closed_loop(pipeline, board, fast, 1, params.timeout_s)
    alone = paced(pipeline, board, fast, pacing, params.timeout_s)
    board.side_prefix = SLOW
    slow_loop = ClosedLoop(pipeline, board.side, slow, per_chat=1_000_000)
    slow_loop.start()
    if not agent.wait_waiting(params.slow_chats, params.timeout_s):
        raise RepliesMissingError("the slow turns did not all start")
    crowded = paced(pipeline, board, fast, pacing, params.timeout_s)
    slow_loop.stop()
    if not board.side.wait_idle(params.slow_turn_s + params.timeout_s):
        raise RepliesMissingError("slow replies missing")
    fast_sent = params.fast_chats + 2 * pacing.count
    return {
        "sent": fast_sent + slow_loop.sent,
        "answered": warmup.ok + alone.tracker.ok + crowded.tracker.ok + board.side.ok,
        "slow_turns_completed": board.side.answered,
        "alone": _figures(alone.tracker.latencies(), params, alone.offered_rate),
        "with_slow": _figures(crowded.tracker.latencies(), params, crowded.offered_rate),
    }


def run(ctx: RunContext) -> ScenarioReport:
    """Run every contender, alone and with the slow sessions."""
    params = QUICK if ctx.quick else FULL
    agents: list[LatencyAgent] = []

    def agent() -> LatencyAgent:
        latency = Latency(
            seconds=params.fast_latency_s, slow_prefix=SLOW, slow_seconds=params.slow_turn_s
        )
        agents.append(LatencyAgent(latency))
        return agents[-1]

    results: Results = {}
    for contender in contenders(ctx, Spec(label=NAME, agent=agent)):
        progress(
            f"{NAME}: {contender.name}, {params.fast_chats} fast chats at {params.fast_rate}/s "
            f"beside {params.slow_chats} turns of {params.slow_turn_s} s"
        )
        outcome = run_one(contender, lambda p, b: measure(p, b, params, agents[-1]))
        results[contender.name] = {**outcome.value, **outcome.extras}
    return ScenarioReport(
        scenario=NAME,
        parameters=asdict(params),
        results=results,
        rows=[
            _row("fast p99 ms alone", results, "alone"),
            _row("fast p99 ms with slow", results, "with_slow"),
            _ratio_row(results),
        ],
    )


def _figures(latencies: list[float], params: Params, offered: float) -> Figures:
    added = [seconds - params.fast_latency_s for seconds in latencies]
    return {"offered_rate": offered, "added_latency": latency_ms(added)}


def _p99(figures: dict[str, object], phase: str) -> float:
    entry = figures.get(phase)
    summary = entry.get("added_latency") if isinstance(entry, dict) else None
    return float(summary.get("p99_ms", math.nan)) if isinstance(summary, dict) else math.nan


def _row(metric: str, results: Results, phase: str) -> Row:
    return Row(metric, {name: _p99(figures, phase) for name, figures in results.items()})


def _ratio_row(results: Results) -> Row:
    values = {}
    for name, figures in results.items():
        alone = _p99(figures, "alone")
        values[name] = _p99(figures, "with_slow") / alone if alone > 0 else math.nan
        figures["p99_with_slow_over_alone"] = values[name]
    return Row("p99 with slow / alone", values)
