"""Scenario 5, concurrent streaming turns: event-loop lag while 1,000 answers stream at once.

The real ``OpenAIAgent`` (built from a config with ``HERMES_MODEL``/``OPENAI_BASE_URL``)
streams from ``bench/fake_llm.py``, run as a separate process so the model's own work does not
share this process's GIL. Messages come in through the embedded platform, marked as shown
while written, so the runtime streams and buffers deltas exactly as for an SSE client (the
HTTP API would add its own loop and a thousand client connections in this process, blurring
what the figure is about).

Loop lag is sampled on the very loop that runs the turns: a ``ProbingAgent`` wraps the agent
and, with its first turn, starts a ticker task there that sleeps 10 ms again and again and
records how late it wakes. Nothing in the gateway is changed: the agent is ours to supply.
A second, end-to-end probe sends a tiny message (answered without the model) to a spare chat,
one after another, while the load runs: its latency is what any user would feel.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.agents import WARM_UP, LoopLagProbe, ProbingAgent
from bench.fake_llm import FakeModelProcess
from bench.load import Switchboard, closed_loop
from bench.measure import RssSampler, latency_ms, mib, settle_memory
from bench.pipeline import Pipeline
from bench.report import Figures, Results, ScenarioReport, row
from bench.runner import RunContext, Spec, contenders, progress, run_one
from hermes.adapters.agents.openai_agent import OpenAIAgent, OpenAIAgentSettings
from hermes.config import load_config

NAME = "streaming"
PROBE_PAUSE_S = 0.02


@dataclass(frozen=True, slots=True)
class Params:
    """Scale of the scenario."""

    turns: int
    chunks: int
    chunk_interval_s: float
    timeout_s: float


FULL = Params(turns=1000, chunks=20, chunk_interval_s=0.05, timeout_s=600.0)
QUICK = Params(turns=50, chunks=10, chunk_interval_s=0.02, timeout_s=60.0)


def make_agent(ctx: RunContext, base_url: str, probes: list[LoopLagProbe]) -> ProbingAgent:
    """The configured OpenAI-compatible agent, wrapped in a loop-lag probe."""
    environ = {"HERMES_MODEL": "bench-model", "OPENAI_BASE_URL": base_url}
    config = load_config(home=ctx.work_dir, environ=environ).config
    model = config.model
    if model.name is None or model.base_url is None:
        raise RuntimeError("the configuration did not take HERMES_MODEL and OPENAI_BASE_URL")
    inner = OpenAIAgent(
        OpenAIAgentSettings(
            model=model.name,
            base_url=model.base_url,
            api_key=None,
            system_prompt=config.agent.system_prompt,
            request_timeout=config.gateway.turn_timeout,
        )
    )
    probes.append(LoopLagProbe())
    return ProbingAgent(inner, probes[-1])


def measure(pipeline: Pipeline, board: Switchboard, params: Params, probe: LoopLagProbe) -> Figures:
    """Activate the sessions, then start every turn at once and probe until all are done."""
    chats = [f"turn-{index}" for index in range(params.turns)]
    warmup = closed_loop(pipeline, board, chats, 1, params.timeout_s, text=WARM_UP)
    first = closed_loop(pipeline, board, chats[:1], 1, params.timeout_s)  # the HTTP client
    board.side_prefix = "probe"
    rss_before = settle_memory()
    began = time.monotonic()
    with RssSampler() as sampler:
        load = board.phase()
        load_sent = time.perf_counter()
        for index, chat in enumerate(chats):
            load.expect(f"load:{index}", load_sent)
            pipeline.send(chat, f"load:{index}", "stream please")
        probe_latencies = _probe_until_done(pipeline, board, params)
    ended = time.monotonic()
    lags = probe.lags_between(began, ended)
    return {
        "sent": 2 * params.turns + 1 + len(probe_latencies),
        "answered": warmup.ok + first.ok + load.ok + board.side.ok,
        "turns_completed": load.ok,
        "all_turns_complete": load.ok == params.turns,
        "elapsed_s": ended - began,
        "loop_lag": latency_ms(lags),
        "loop_lag_p99_ms": latency_ms(lags)["p99_ms"],
        "probe": latency_ms(probe_latencies),
        "probe_p99_ms": latency_ms(probe_latencies)["p99_ms"],
        "rss_before_mib": mib(rss_before),
        "rss_peak_mib": mib(sampler.peak),
        "rss_growth_mib": mib(sampler.peak - rss_before),
    }


def _probe_until_done(pipeline: Pipeline, board: Switchboard, params: Params) -> list[float]:
    load = board.tracker
    deadline = time.monotonic() + params.timeout_s
    index = 0
    while load.answered < params.turns and time.monotonic() < deadline:
        message_id = f"probe:{index}"
        board.side.expect(message_id, time.perf_counter())
        pipeline.send(f"probe-{index % 10}", message_id, "ping")
        index += 1
        board.side.wait_answered(index, params.timeout_s)
        time.sleep(PROBE_PAUSE_S)
    load.wait_answered(params.turns, max(0.0, deadline - time.monotonic()))
    return board.side.latencies()


def run(ctx: RunContext) -> ScenarioReport:
    """Every contender against the same fake model process."""
    params = QUICK if ctx.quick else FULL
    results: Results = {}
    probes: list[LoopLagProbe] = []
    with FakeModelProcess(params.chunks, params.chunk_interval_s) as model:
        spec = Spec(label=NAME, agent=lambda: make_agent(ctx, model.base_url, probes), stream=True)
        for contender in contenders(ctx, spec):
            progress(f"{NAME}: {contender.name}, {params.turns} streaming turns at once")
            outcome = run_one(contender, lambda p, b: measure(p, b, params, probes[-1]))
            results[contender.name] = {**outcome.value, **outcome.extras}
    return ScenarioReport(
        scenario=NAME,
        parameters=asdict(params),
        results=results,
        rows=[
            row("loop lag p99 ms", results, "loop_lag_p99_ms"),
            row("probe reply p99 ms", results, "probe_p99_ms"),
            row("RSS growth MiB", results, "rss_growth_mib"),
            row("turns completed", results, "turns_completed"),
            row("elapsed s", results, "elapsed_s"),
        ],
    )
