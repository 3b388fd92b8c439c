"""Scenario 2, paced load: the latency the contender adds at a steady, sub-saturation rate.

Messages leave at a fixed rate, round robin over the chats, whatever the replies do (open
loop); each chat's messages are far enough apart that it is idle when the next one arrives.
Latency runs from the moment a message was *due* to its reply, minus the agent's latency, so
a pacer delayed by a busy process does not hide the delay. Two rates: half of the gateway's
saturation rate (measured in this run) and 1,000 msgs/s; every contender gets the same rates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.agents import Latency, LatencyAgent
from bench.load import Pacing, Switchboard, closed_loop, paced
from bench.measure import latency_ms
from bench.pipeline import Pipeline
from bench.report import Figures, Results, Row, ScenarioReport
from bench.runner import RunContext, Spec, contenders, progress, run_one
from bench.scenario_saturation import gateway_rate

NAME = "paced"


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    chats: int
    seconds_per_rate: float
    fixed_rate: float
    agent_latency_s: float
    timeout_s: float


FULL = Params(
    chats=1000, seconds_per_rate=10.0, fixed_rate=1000.0, agent_latency_s=0.02, timeout_s=600.0
)
QUICK = Params(
    chats=200, seconds_per_rate=1.0, fixed_rate=1000.0, agent_latency_s=0.02, timeout_s=60.0
)


def measure(pipeline: Pipeline, board: Switchboard, params: Params, rates: list[float]) -> Figures:
    """Warm up, then run each rate in turn."""
    chats = [f"chat-{index}" for index in range(params.chats)]
    warmup = closed_loop(pipeline, board, chats, 1, params.timeout_s)
    figures: Figures = {"sent": params.chats, "answered": warmup.ok}
    for rate in rates:
        count = max(1, round(rate * params.seconds_per_rate))
        run = paced(pipeline, board, chats, Pacing(rate=rate, count=count), params.timeout_s)
        added = [seconds - params.agent_latency_s for seconds in run.tracker.latencies()]
        figures[_label(rate)] = {
            "target_rate": rate,
            "offered_rate": run.offered_rate,
            "max_pacer_lag_ms": run.max_pacer_lag_s * 1000,
            "added_latency": latency_ms(added),
            "failed": run.tracker.failed,
        }
        figures["sent"] = int(figures["sent"]) + count
        figures["answered"] = int(figures["answered"]) + run.tracker.ok
    return figures


def run(ctx: RunContext) -> ScenarioReport:
    """Run every contender at both rates."""
    params = QUICK if ctx.quick else FULL
    rates = [round(gateway_rate(ctx) / 2), params.fixed_rate]
    spec = Spec(label=NAME, agent=lambda: LatencyAgent(Latency(seconds=params.agent_latency_s)))
    results: Results = {}
    for contender in contenders(ctx, spec):
        progress(f"{NAME}: {contender.name} at {rates} msgs/s over {params.chats} chats")
        outcome = run_one(contender, lambda p, b: measure(p, b, params, rates))
        results[contender.name] = {**outcome.value, **outcome.extras}
    rows = [
        _row(f"added {stat} ms @ {rate:.0f}/s", results, _label(rate), stat)
        for rate in rates
        for stat in ("p50", "p99", "max")
    ]
    return ScenarioReport(
        scenario=NAME, parameters={**asdict(params), "rates": rates}, results=results, rows=rows
    )


def _label(rate: float) -> str:
    return f"rate_{rate:.0f}"


def _row(metric: str, results: Results, label: str, stat: str) -> Row:
    values = {}
    for name, figures in results.items():
        at_rate = figures.get(label)
        summary = at_rate.get("added_latency") if isinstance(at_rate, dict) else None
        values[name] = (
            summary.get(f"{stat}_ms", math.nan) if isinstance(summary, dict) else math.nan
        )
    return Row(metric, values)
