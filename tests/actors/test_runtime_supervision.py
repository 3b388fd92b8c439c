"""The AgentRuntime contains what a turn raises and never leaves a session stuck.

Real agents (a scripted one, and the OpenAIAgent with its tool loop against the fake LLM); the
sessions are recording probes. BaseExceptions raised in the turn, in a task the turn awaits, in
a worker thread, or by a memory tool end only their own turn; a turn that swallows cancellation
is reported by the stall watchdog after its grace period, and its slot is freed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pykka
import pytest

from hermes.actors.agent_runtime import AgentRuntime, RuntimeDeps
from hermes.adapters.agents.openai_agent import OpenAIAgent, OpenAIAgentSettings
from hermes.messages.agent import (
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
from tests.fakes.llm_server import FakeLLM, tool_results, tool_then_answer
from tests.fakes.memory import FakeHandle
from tests.fakes.recording import FakeClock, RecordingAddress
from tests.fakes.stubborn_agent import StubbornAgent
from tests.fakes.waiting import wait_until


class CustomAbort(BaseException):
    """A BaseException that is neither an exit nor an Exception."""


EXITS: dict[str, Callable[[], BaseException]] = {
    "system-exit": lambda: SystemExit(3),
    "keyboard-interrupt": KeyboardInterrupt,
    "generator-exit": GeneratorExit,
    "custom-base-exception": lambda: CustomAbort("library abort"),
}
"""Each kind of BaseException a turn may raise, by name."""


def exit_of(kind: str) -> BaseException:
    return EXITS[kind]()


class RaisingAgent:
    """Raises ``EXITS[kind]`` where the input says (``<where> <kind>``); ``wait`` is stubborn."""

    description = "raising"

    def __init__(self) -> None:
        self.stubborn = StubbornAgent()

    def release(self) -> None:
        self.stubborn.release()

    async def run_turn(self, context, on_delta):
        where, _, kind = context.inputs[-1].partition(" ")
        if where == "wait":
            return await self.stubborn.run_turn(context, on_delta)
        if where == "direct":
            raise exit_of(kind)
        if where == "gathered":  # a task of its own, as the tool loop makes per tool call
            await asyncio.gather(self._raise(kind))
        if where == "task":
            await asyncio.create_task(self._raise(kind))
        if where == "thread":
            await asyncio.to_thread(self._raise_now, kind)
        return TurnResult(text=f"answer to {context.inputs[-1]}")

    async def _raise(self, kind):
        await asyncio.sleep(0)
        raise exit_of(kind)

    def _raise_now(self, kind):
        raise exit_of(kind)

    async def aclose(self):
        pass


def context(turn_id: str, text: str, memory=None) -> TurnContext:
    return TurnContext(
        turn_id=turn_id,
        session_key=SessionKey(value=f"agent:main:embedded:dm:{turn_id}"),
        session_id="s",
        memory_scope="scope",
        origin=ChatAddress(platform=Platform.EMBEDDED, chat_id=turn_id),
        history=(),
        inputs=(text,),
        memory=memory,
    )


def start(runtime, turn_id, text, reply_to, *, memory=None, stream_to=None):
    runtime.address.tell(
        StartTurn(context=context(turn_id, text, memory), reply_to=reply_to, stream_to=stream_to)
    )


@pytest.fixture
def runtimes():
    """Starts runtimes for a test; releases stubborn agents first, then stops them all."""
    started: list[tuple[AgentRuntime, object]] = []

    def make(agent, *, slots=10, turn_timeout=5.0, cancel_grace=0.2) -> AgentRuntime:
        runtime = AgentRuntime(
            RuntimeDeps(
                agent=agent,
                clock=FakeClock(),
                max_concurrent_turns=slots,
                turn_timeout=turn_timeout,
                cancel_grace=cancel_grace,
            )
        )
        runtime.start()
        started.append((runtime, agent))
        return runtime

    yield make
    for runtime, agent in started:
        if isinstance(agent, StubbornAgent | RaisingAgent):
            agent.release()
        runtime.cancel_all(2.0)
        runtime.stop(2.0)


class Witness(pykka.ThreadingActor):
    """Any other actor of the gateway: pykka would stop it on an escaped SystemExit."""


@pytest.fixture
def witness_actor():
    ref = Witness.start()
    yield ref
    ref.stop(timeout=2.0)


# -- BaseException containment ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["direct", "gathered", "task", "thread"])
@pytest.mark.parametrize("kind", list(EXITS))
def test_a_base_exception_ends_only_its_own_turn(runtimes, witness_actor, caplog, where, kind):
    runtime = runtimes(RaisingAgent())
    session, other = RecordingAddress("session"), RecordingAddress("other")
    with caplog.at_level(logging.CRITICAL, logger="hermes.actors"):
        start(runtime, "t1", f"{where} {kind}", session)
        failed = session.expect(TurnFailed)
    assert failed.failure is TurnFailure.ERROR
    assert failed.detail.startswith("Sorry, I encountered an error (")
    assert "Try again or use /reset" in failed.detail
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any("t1" in m and "agent:main:embedded:dm:t1" in m for m in logged), logged
    start(runtime, "t2", "fine", other)
    assert other.expect(TurnCompleted).result.text == "answer to fine"
    assert witness_actor.is_alive()
    assert runtime.status(2.0).failed == 1


@pytest.mark.parametrize("kind", ["system-exit", "keyboard-interrupt"])
def test_the_user_reads_which_exit_ended_the_turn(runtimes, kind):
    runtime = runtimes(RaisingAgent())
    session = RecordingAddress()
    start(runtime, "t1", f"gathered {kind}", session)
    name = type(exit_of(kind)).__name__
    assert f"({name})" in session.expect(TurnFailed).detail


def test_a_turn_running_beside_the_exit_is_not_disturbed(runtimes):
    agent = RaisingAgent()
    runtime = runtimes(agent)
    beside = RecordingAddress("beside")
    start(runtime, "long", "wait", beside)
    wait_until(lambda: runtime.status(2.0).running, what="the long turn running")
    session = RecordingAddress("session")
    start(runtime, "t1", "task system-exit", session)
    session.expect(TurnFailed)
    agent.release()
    assert beside.expect(TurnCompleted).result.text == "late answer"


class ExitingMemory(FakeHandle):
    """A memory handle whose search raises an exit, as a tool calling ``sys.exit`` would."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(scope="scope", user_id="user")
        self.error = error

    async def search(self, query: str) -> str:
        del query
        raise self.error


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake


def openai_agent(llm) -> OpenAIAgent:
    return OpenAIAgent(
        OpenAIAgentSettings(
            model="fake-model",
            base_url=llm.base_url,
            api_key=None,
            system_prompt="You are a test.",
            max_retries=0,
        )
    )


@pytest.mark.parametrize("error", [SystemExit(2), KeyboardInterrupt()], ids=["exit", "interrupt"])
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_a_memory_tool_raising_an_exit_fails_its_turn_only(runtimes, llm, error, streamed):
    llm.script(tool_then_answer("memory_search", {"query": "hobbies"}, "done"))
    runtime = runtimes(openai_agent(llm))
    session, delivery = RecordingAddress("session"), RecordingAddress("delivery")
    stream_to = delivery if streamed else None
    start(
        runtime, "t1", "what do I like?", session, memory=ExitingMemory(error), stream_to=stream_to
    )
    failed = session.expect(TurnFailed, timeout=5.0)
    assert (failed.failure, failed.detail.split(")")[0]) == (
        TurnFailure.ERROR,
        f"Sorry, I encountered an error ({type(error).__name__}",
    )
    assert len(llm.received()) == 1, "the model is not asked again after the tool died"
    llm.script(None)
    other = RecordingAddress("other")
    start(runtime, "t2", "still there?", other, memory=FakeHandle(scope="s2", user_id="u2"))
    assert other.expect(TurnCompleted, timeout=5.0).result.text == "echo: still there?"


def test_a_working_memory_tool_still_answers(runtimes, llm):
    llm.script(tool_then_answer("memory_search", {"query": "hobbies"}, "you like chess"))
    runtime = runtimes(openai_agent(llm))
    session = RecordingAddress()
    start(runtime, "t1", "what do I like?", session, memory=FakeHandle(scope="s", user_id="u"))
    assert session.expect(TurnCompleted, timeout=5.0).result.text == "you like chess"
    assert "search 'hobbies'" in tool_results(llm.received()[-1])[0]["content"]


# -- the stall watchdog -----------------------------------------------------------------------


def test_a_turn_that_swallows_its_timeout_is_reported_and_frees_its_slot(runtimes, caplog):
    agent = StubbornAgent()
    runtime = runtimes(agent, slots=1, turn_timeout=0.2, cancel_grace=0.3)
    stuck, next_one = RecordingAddress("stuck"), RecordingAddress("next")
    began = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="hermes.actors"):
        start(runtime, "t1", "wait", stuck)
        start(runtime, "t2", "quick one", next_one)  # waits for the only slot
        failed = stuck.expect(TurnFailed, timeout=5.0)
    assert time.monotonic() - began >= 0.2 + 0.3
    assert failed.failure is TurnFailure.TIMEOUT
    assert "took longer" in failed.detail
    assert next_one.expect(TurnCompleted).result.text == "answer to quick one"
    (logged,) = [r.getMessage() for r in caplog.records if "did not end within" in r.getMessage()]
    assert "t1" in logged
    assert "agent:main:embedded:dm:t1" in logged
    assert "run_turn" in logged, "the log says where the stuck turn waits"
    assert agent.cancellations == 2, "cancelled by its timeout, then once more by the watchdog"


def test_stop_works_on_a_turn_that_swallows_cancellation(runtimes):
    agent = StubbornAgent()
    runtime = runtimes(agent, slots=1, cancel_grace=0.2)
    session = RecordingAddress()
    start(runtime, "t1", "wait", session)
    wait_until(lambda: runtime.status(2.0).running, what="the turn running")
    runtime.address.tell(CancelTurn(turn_id="t1"))
    assert session.expect(TurnFailed, timeout=5.0).failure is TurnFailure.CANCELLED
    start(runtime, "t2", "quick after stop", session)
    assert session.expect(TurnCompleted).result.text == "answer to quick after stop"


def test_an_abandoned_turn_shows_in_status_until_it_ends_and_its_answer_is_dropped(runtimes):
    agent = StubbornAgent()
    runtime = runtimes(agent, turn_timeout=0.1, cancel_grace=0.1)
    session, delivery = RecordingAddress("session"), RecordingAddress("delivery")
    start(runtime, "t1", "wait", session, stream_to=delivery)
    session.expect(TurnFailed, timeout=5.0)
    (turn,) = runtime.status(2.0).running
    assert (turn.turn_id, turn.overdue, turn.abandoned) == ("t1", True, True)
    assert turn.age_seconds >= 0.2
    agent.release()
    wait_until(lambda: not runtime.status(2.0).running, what="the abandoned turn ending")
    runtime.address.tell(StartTurn(context=context("t2", "quick"), reply_to=session))
    session.expect(TurnCompleted)
    assert [type(m).__name__ for m in session.messages] == ["TurnFailed", "TurnCompleted"]
    assert session.messages[1].turn_id == "t2", "the late answer of t1 was dropped"
    assert delivery.of_type(DeliverDelta) == []
    assert runtime.wait_idle(1.0)


def test_the_watchdog_cancels_once_more_and_a_turn_giving_in_then_ends(runtimes, caplog):
    agent = StubbornAgent()
    runtime = runtimes(agent, turn_timeout=0.1, cancel_grace=0.1)
    session = RecordingAddress()
    with caplog.at_level(logging.WARNING, logger="hermes.actors"):
        start(runtime, "t1", "once", session)
        assert session.expect(TurnFailed, timeout=5.0).failure is TurnFailure.TIMEOUT
        wait_until(lambda: not runtime.status(2.0).running, what="the turn giving in")
    assert any("abandoned turn t1" in r.getMessage() for r in caplog.records)
    assert len(session.messages) == 1


def test_status_marks_a_turn_past_its_timeout_overdue_before_the_watchdog_reports_it(runtimes):
    agent = StubbornAgent()
    runtime = runtimes(agent, turn_timeout=1.0, cancel_grace=30.0)
    session = RecordingAddress()
    start(runtime, "t1", "wait", session)
    (young,) = wait_until(lambda: runtime.status(2.0).running, what="the turn running")
    assert (young.overdue, young.abandoned) == (False, False)
    (old,) = wait_until(
        lambda: [t for t in runtime.status(2.0).running if t.overdue], what="the turn overdue"
    )
    assert (old.abandoned, old.age_seconds >= 1.0) == (False, True)
    assert session.messages == []
    agent.release()
    completed = session.expect(TurnCompleted)
    assert completed.result.text == "late answer", "a turn that ends in its grace is answered"


def test_cancel_all_at_shutdown_reports_stubborn_turns_within_the_grace(runtimes):
    agent = StubbornAgent()
    runtime = runtimes(agent, slots=2, cancel_grace=0.2)
    sessions = [RecordingAddress(f"s{i}") for i in range(3)]
    for index, session in enumerate(sessions):
        start(runtime, f"t{index}", "wait", session)
    wait_until(lambda: len(runtime.status(2.0).running) == 2, what="two turns running")
    began = time.monotonic()
    runtime.cancel_all(5.0)
    assert time.monotonic() - began < 2.0
    for session in sessions:
        assert session.expect(TurnFailed).failure is TurnFailure.CANCELLED
    assert runtime.wait_idle(0)
