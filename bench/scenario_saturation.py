"""Scenario 1, saturation: how many messages per second end to end, and CPU per message.

Every chat runs a closed loop (its next message leaves when the previous is answered), so the
number of messages in flight equals the number of chats. The agent answers at once (latency
0), so what is measured is the contender's own cost; the gateway's Store is durable (SQLite
WAL, group commit). A warm-up round activates every session first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Final

from bench.agents import Latency, LatencyAgent
from bench.load import Switchboard, closed_loop
from bench.measure import CpuWall, latency_ms
from bench.pipeline import Pipeline
from bench.report import Figures, Results, ScenarioReport, row
from bench.runner import RunContext, Spec, contenders, progress, run_one

NAME = "saturation"
VARIANTS: Final = {"gateway_no_memory": {"HERMES_MEMORY_PROVIDER": "none"}}
"""The gateway once more without long-term memory (on by default): what memory costs."""


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    chats: int
    per_chat: int
    timeout_s: float


FULL = Params(chats=1000, per_chat=30, timeout_s=600.0)
QUICK = Params(chats=50, per_chat=20, timeout_s=60.0)


def measure(pipeline: Pipeline, board: Switchboard, params: Params) -> Figures:
    """Warm up, then run the closed loop; the figures of one contender."""
    chats = [f"chat-{index}" for index in range(params.chats)]
    warmup = closed_loop(pipeline, board, chats, 1, params.timeout_s)
    with CpuWall() as clock:
        tracker = closed_loop(pipeline, board, chats, params.per_chat, params.timeout_s)
    count = params.chats * params.per_chat
    return {
        "messages": count,
        "sent": count + params.chats,
        "answered": warmup.ok + tracker.ok,
        "failed": tracker.failed + warmup.failed,
        "elapsed_s": clock.wall,
        "msgs_per_s": count / clock.wall,
        "cpu_s": clock.cpu,
        "cpu_us_per_msg": clock.cpu / count * 1e6,
        "cores_busy": clock.cpu / clock.wall,
        "latency": latency_ms(tracker.latencies()),
    }


def gateway_rate(ctx: RunContext) -> float:
    """The gateway's saturation rate: from this run's saturation scenario, or measured now."""
    if "gateway_msgs_per_s" not in ctx.shared:
        progress("paced load needs the gateway's saturation rate: measuring it")
        params = QUICK if ctx.quick else FULL
        gateway = contenders(ctx, _spec())[0]
        outcome = run_one(gateway, lambda p, b: measure(p, b, params))
        ctx.shared["gateway_msgs_per_s"] = float(outcome.value["msgs_per_s"])
    return ctx.shared["gateway_msgs_per_s"]


def run(ctx: RunContext) -> ScenarioReport:
    """Run every contender; the gateway's rate is kept for the paced scenario."""
    params = QUICK if ctx.quick else FULL
    results: Results = {}
    for contender in contenders(ctx, _spec(VARIANTS)):
        progress(f"{NAME}: {contender.name}, {params.chats} chats x {params.per_chat} messages")
        outcome = run_one(contender, lambda p, b: measure(p, b, params))
        results[contender.name] = {**outcome.value, **outcome.extras}
        for key in ("p50_ms", "p99_ms"):
            results[contender.name][f"latency_{key}"] = outcome.value["latency"][key]
    ctx.shared["gateway_msgs_per_s"] = float(results["gateway"]["msgs_per_s"])
    return ScenarioReport(
        scenario=NAME,
        parameters={
            **asdict(params),
            "agent_latency_s": 0.0,
            "warmup_per_chat": 1,
            "variants": VARIANTS,
        },
        results=results,
        rows=[
            row("msgs/s", results, "msgs_per_s"),
            row("CPU us/msg", results, "cpu_us_per_msg"),
            row("cores busy", results, "cores_busy"),
            row("closed-loop latency p50 ms", results, "latency_p50_ms"),
            row("closed-loop latency p99 ms", results, "latency_p99_ms"),
        ],
    )


def _spec(variants: Mapping[str, Mapping[str, str]] | None = None) -> Spec:
    return Spec(label=NAME, agent=lambda: LatencyAgent(Latency()), variants=variants or {})
