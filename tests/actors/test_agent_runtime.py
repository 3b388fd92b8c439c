"""The real AgentRuntime with scripted agents; sessions are recording probes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hermes.actors.agent_runtime import AgentRuntime, RuntimeDeps
from hermes.messages.agent import (
    AgentError,
    CancelTurn,
    StartTurn,
    TurnCompleted,
    TurnContext,
    TurnFailed,
    TurnFailure,
    TurnResult,
)
from hermes.messages.delivery import DeliverDelta
from hermes.messages.values import ChatAddress, Platform, SessionKey
from tests.fakes.recording import FakeClock, RecordingAddress


class ScriptedAgent:
    """Answers by the first word of the input: wait, fail, crash, exit, stream, or echo."""

    description = "scripted"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self.closed = False
        self._lock = threading.Lock()

    async def run_turn(self, context, on_delta):
        command = context.inputs[-1].split()[0]
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if command == "wait":
                while not self.release.is_set():  # noqa: ASYNC110  (set from the test's thread)
                    await asyncio.sleep(0.005)
            if command == "fail":
                raise AgentError("The request failed: scripted")
            if command == "crash":
                raise RuntimeError("bug")
            if command == "exit":
                raise SystemExit(3)
            if command == "stream" and on_delta is not None:
                for piece in ("He", "llo", "!"):
                    on_delta(piece)
                return TurnResult(text="Hello!")
            return TurnResult(text=f"echo {context.inputs[-1]}")
        finally:
            with self._lock:
                self.running -= 1

    async def aclose(self):
        self.closed = True


def context(turn_id: str, text: str) -> TurnContext:
    return TurnContext(
        turn_id=turn_id,
        session_key=SessionKey(value=f"agent:main:embedded:dm:{turn_id}"),
        session_id="s",
        memory_scope="scope",
        origin=ChatAddress(platform=Platform.EMBEDDED, chat_id=turn_id),
        history=(),
        inputs=(text,),
    )


@pytest.fixture
def agent():
    return ScriptedAgent()


@pytest.fixture
def runtime_factory(agent):
    runtimes: list[AgentRuntime] = []

    def make(max_concurrent_turns: int = 10, turn_timeout: float = 5.0) -> AgentRuntime:
        runtime = AgentRuntime(
            RuntimeDeps(
                agent=agent,
                clock=FakeClock(),
                max_concurrent_turns=max_concurrent_turns,
                turn_timeout=turn_timeout,
            )
        )
        runtime.start()
        runtimes.append(runtime)
        return runtime

    yield make
    agent.release.set()
    for runtime in runtimes:
        runtime.cancel_all(2.0)
        runtime.stop(2.0)


def start(runtime, turn_id, text, reply_to, stream_to=None):
    runtime.address.tell(
        StartTurn(context=context(turn_id, text), reply_to=reply_to, stream_to=stream_to)
    )


def test_a_turn_completes(runtime_factory):
    runtime = runtime_factory()
    session = RecordingAddress()
    start(runtime, "t1", "hello", session)
    done = session.expect(TurnCompleted)
    assert (done.turn_id, done.result.text) == ("t1", "echo hello")
    assert runtime.status(2.0).completed == 1


def test_a_slow_turn_does_not_delay_another(runtime_factory, agent):
    runtime = runtime_factory()
    slow, fast = RecordingAddress("slow"), RecordingAddress("fast")
    start(runtime, "slow", "wait", slow)
    start(runtime, "fast", "quick", fast)
    fast.expect(TurnCompleted)
    assert slow.messages == []
    agent.release.set()
    slow.expect(TurnCompleted)


def test_at_most_max_concurrent_turns_run(runtime_factory, agent):
    runtime = runtime_factory(max_concurrent_turns=2)
    sessions = [RecordingAddress(f"s{i}") for i in range(5)]
    for index, session in enumerate(sessions):
        start(runtime, f"t{index}", "wait", session)
    status = runtime.status(2.0)
    assert len(status.running) <= 2
    agent.release.set()
    for session in sessions:
        session.expect(TurnCompleted)
    assert agent.peak == 2


def test_cancel_ends_the_turn_cancelled(runtime_factory):
    runtime = runtime_factory()
    session = RecordingAddress()
    start(runtime, "t1", "wait", session)
    runtime.address.tell(CancelTurn(turn_id="t1"))
    failed = session.expect(TurnFailed)
    assert failed.failure is TurnFailure.CANCELLED


def test_a_turn_past_its_timeout_fails_with_a_notice(runtime_factory):
    runtime = runtime_factory(turn_timeout=0.05)
    session = RecordingAddress()
    start(runtime, "t1", "wait", session)
    failed = session.expect(TurnFailed)
    assert failed.failure is TurnFailure.TIMEOUT
    assert "took longer" in failed.detail


def test_agent_errors_reach_the_user_text(runtime_factory):
    runtime = runtime_factory()
    session = RecordingAddress()
    start(runtime, "t1", "fail", session)
    failed = session.expect(TurnFailed)
    assert (failed.failure, failed.detail) == (TurnFailure.ERROR, "The request failed: scripted")


def test_a_bug_in_the_agent_becomes_a_generic_error(runtime_factory):
    runtime = runtime_factory()
    session = RecordingAddress()
    start(runtime, "t1", "crash", session)
    failed = session.expect(TurnFailed)
    assert failed.failure is TurnFailure.ERROR
    assert "RuntimeError" in failed.detail


def test_system_exit_inside_a_turn_is_contained(runtime_factory):
    runtime = runtime_factory()
    session = RecordingAddress()
    start(runtime, "t1", "exit", session)
    assert session.expect(TurnFailed).failure is TurnFailure.ERROR
    start(runtime, "t2", "still alive?", session)
    assert session.expect(TurnCompleted).result.text == "echo still alive?"


def test_streamed_text_is_gathered_and_sent_before_the_completion(runtime_factory):
    runtime = runtime_factory()
    session, delivery = RecordingAddress("session"), RecordingAddress("delivery")
    start(runtime, "t1", "stream", session, stream_to=delivery)
    session.expect(TurnCompleted)
    deltas = delivery.of_type(DeliverDelta)
    assert deltas, "no partial text was sent"
    assert "".join(d.text for d in deltas) == "Hello!"
    assert len(deltas) < 3  # gathered, not one message per token


def test_a_turn_whose_session_has_stopped_is_logged_not_raised(runtime_factory):
    runtime = runtime_factory()
    gone = RecordingAddress("gone")
    gone.closed = True
    start(runtime, "t1", "hello", gone)
    witness = RecordingAddress("witness")
    start(runtime, "t2", "after", witness)
    witness.expect(TurnCompleted)


def test_stop_closes_the_agent(agent):
    runtime = AgentRuntime(
        RuntimeDeps(agent=agent, clock=FakeClock(), max_concurrent_turns=1, turn_timeout=1.0)
    )
    runtime.start()
    runtime.stop(2.0)
    assert agent.closed
