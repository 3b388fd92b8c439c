import asyncio
import socket
from collections.abc import Iterator

import pytest

from hermes.adapters.agents._openai_errors import CONTEXT_OVERFLOW
from hermes.adapters.agents.openai_agent import (
    EMPTY_ANSWER,
    FLUSH_DONE,
    FLUSH_INSTRUCTIONS,
    FLUSH_SKIPPED,
    FLUSH_TEXT_LIMIT,
    NO_KEY_PLACEHOLDER,
    OpenAIAgent,
    OpenAIAgentSettings,
)
from hermes.adapters.agents.tool_loop import TOOL_LIMIT_NOTICE
from hermes.messages.agent import AgentError, TurnContext, TurnPurpose, TurnResult
from hermes.messages.memory import MemoryHandle
from hermes.messages.ports import DeltaSink
from hermes.messages.values import ChatAddress, ChatMessage, Platform, Role, SessionKey, TokenUsage
from tests.adapters.test_memory_tools import RecordingMemory
from tests.fakes.llm_server import (
    FakeLLM,
    Reply,
    ToolCallSpec,
    last_user_text,
    offered_tools,
    tool_results,
    tool_then_answer,
)

# Deliberately not shaped like "sk-…", so only exact-key redaction can hide it.
API_KEY = "test-secret-key-0123456789"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def make_settings(
    base_url: str, api_key: str | None = API_KEY, max_tool_rounds: int = 6
) -> OpenAIAgentSettings:
    return OpenAIAgentSettings(
        model="fake-model",
        base_url=base_url,
        api_key=api_key,
        system_prompt="You are Hermes.",
        request_timeout=10.0,
        max_retries=0,
        max_tool_rounds=max_tool_rounds,
    )


def make_context(
    *inputs: str,
    history: tuple[ChatMessage, ...] = (),
    system_prompt: str | None = None,
    memory: MemoryHandle | None = None,
    purpose: TurnPurpose = TurnPurpose.REPLY,
    user: str = "u1",
) -> TurnContext:
    return TurnContext(
        turn_id=f"turn-{user}",
        session_key=SessionKey(value=f"agent:main:api_server:dm:{user}"),
        session_id=f"session-{user}",
        memory_scope=f"agent:main:api_server:dm:{user}",
        origin=ChatAddress(platform=Platform.API_SERVER, chat_id=user),
        history=history,
        inputs=inputs,
        system_prompt=system_prompt,
        memory=memory,
        purpose=purpose,
    )


def run_turn(
    settings: OpenAIAgentSettings, context: TurnContext, on_delta: DeltaSink | None = None
) -> TurnResult:
    async def turn() -> TurnResult:
        agent = OpenAIAgent(settings)
        try:
            return await agent.run_turn(context, on_delta)
        finally:
            await agent.aclose()

    return asyncio.run(turn())


def failed_turn(settings: OpenAIAgentSettings, context: TurnContext, *, streaming: bool) -> str:
    deltas: list[str] = []
    with pytest.raises(AgentError) as caught:
        run_turn(settings, context, deltas.append if streaming else None)
    assert deltas == []
    return caught.value.user_message


def test_non_streaming_reply_and_usage(llm):
    result = run_turn(make_settings(llm.base_url), make_context("hello"))

    assert result == TurnResult(
        text="echo: hello", usage=TokenUsage(input_tokens=10, output_tokens=5)
    )
    (body,) = llm.wait_for_requests(1)
    assert body["model"] == "fake-model"
    assert not body.get("stream")


def test_streaming_deltas_concatenate_to_the_text_and_usage_is_read(llm):
    llm.script(lambda _body: Reply(text="a fairly long streamed answer", usage=(7, 3)))
    deltas: list[str] = []

    result = run_turn(make_settings(llm.base_url), make_context("hi"), deltas.append)

    assert len(deltas) > 1
    assert "".join(deltas) == result.text == "a fairly long streamed answer"
    assert result.usage == TokenUsage(input_tokens=7, output_tokens=3)
    (body,) = llm.wait_for_requests(1)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_messages_hold_system_prompts_history_and_inputs_in_order(llm):
    history = (
        ChatMessage(role=Role.USER, content="first question"),
        ChatMessage(role=Role.ASSISTANT, content="first answer"),
    )
    context = make_context("second", "third", history=history, system_prompt="Answer in French.")

    result = run_turn(make_settings(llm.base_url), context)

    (body,) = llm.wait_for_requests(1)
    assert body["messages"] == [
        {"role": "system", "content": "You are Hermes.\n\nAnswer in French."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second"},
        {"role": "user", "content": "third"},
    ]
    assert result.text == "echo: third"


def test_system_message_is_only_the_configured_prompt_without_a_turn_prompt(llm):
    run_turn(make_settings(llm.base_url), make_context("hi"))

    (body,) = llm.wait_for_requests(1)
    assert body["messages"][0] == {"role": "system", "content": "You are Hermes."}


def test_api_key_is_sent_as_a_bearer_token(llm):
    run_turn(make_settings(llm.base_url), make_context("hi"))

    (body,) = llm.wait_for_requests(1)
    assert body["_authorization"] == f"Bearer {API_KEY}"


def test_a_placeholder_is_sent_when_no_key_is_configured(llm):
    run_turn(make_settings(llm.base_url, api_key=None), make_context("hi"))

    (body,) = llm.wait_for_requests(1)
    assert body["_authorization"] == f"Bearer {NO_KEY_PLACEHOLDER}"


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("status", "hint"), [(500, "server error"), (429, "rate limiting"), (401, "check the API key")]
)
def test_http_errors_become_agent_errors_with_a_hint(llm, status, hint, streaming):
    context = make_context(f"[fail:{status}] hi")

    message = failed_turn(make_settings(llm.base_url), context, streaming=streaming)

    assert message.startswith(f"The request failed: HTTP {status}: ")
    assert hint in message
    assert message.endswith("Try again or use /reset to start a fresh session.")
    assert API_KEY not in message


def test_a_key_echoed_by_the_provider_is_redacted(llm):
    message = failed_turn(make_settings(llm.base_url), make_context("[fail:401]"), streaming=False)

    # The fake's 401 text quotes the bearer token it received.
    assert "Incorrect API key provided: ***" in message
    assert API_KEY not in message


def test_openai_shaped_keys_are_redacted_even_when_not_the_configured_key(llm):
    leaked = "sk-proj-abcdefghijklmnop1234"
    llm.script(lambda _body: Reply(status=500, error_message=f"upstream key {leaked}"))

    message = failed_turn(make_settings(llm.base_url), make_context("hi"), streaming=False)

    assert leaked not in message
    assert "upstream key ***" in message


def test_long_provider_details_are_cut_to_300_characters(llm):
    llm.script(lambda _body: Reply(status=500, error_message="x" * 1000))

    message = failed_turn(make_settings(llm.base_url), make_context("hi"), streaming=False)

    detail = message.removeprefix("The request failed: ").split(" The provider")[0]
    assert len(detail) == 300
    assert detail.endswith("…")


@pytest.mark.parametrize("streaming", [False, True])
def test_context_length_error_maps_to_the_overflow_text(llm, streaming):
    message = failed_turn(
        make_settings(llm.base_url), make_context("[overflow]"), streaming=streaming
    )

    assert message == CONTEXT_OVERFLOW
    assert "/compress" not in message


def test_a_400_mentioning_the_context_without_a_code_is_an_overflow(llm):
    llm.script(
        lambda _body: Reply(status=400, error_message="Input is too long for requested model.")
    )

    message = failed_turn(make_settings(llm.base_url), make_context("hi"), streaming=False)

    assert message == CONTEXT_OVERFLOW


def test_a_plain_400_is_a_rejection_unless_the_history_is_long(llm):
    llm.script(lambda _body: Reply(status=400, error_message="Unknown parameter."))
    settings = make_settings(llm.base_url)
    long_history = tuple(ChatMessage(role=Role.USER, content=f"m{i}") for i in range(51))

    short = failed_turn(settings, make_context("hi"), streaming=False)
    long = failed_turn(settings, make_context("hi", history=long_history), streaming=False)

    assert short.startswith("The request failed: HTTP 400: Unknown parameter.")
    assert "The provider rejected the request." in short
    assert long == CONTEXT_OVERFLOW


@pytest.mark.parametrize("streaming", [False, True])
def test_unreachable_endpoint_names_the_base_url(streaming):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"

    message = failed_turn(make_settings(base_url), make_context("hi"), streaming=streaming)

    assert message.startswith(f"Could not reach the model endpoint at {base_url}")
    assert API_KEY not in message


@pytest.mark.parametrize("streaming", [False, True])
def test_empty_answer_becomes_no_response_generated(llm, streaming):
    llm.script(lambda _body: Reply(text=""))
    deltas: list[str] = []

    result = run_turn(
        make_settings(llm.base_url), make_context("hi"), deltas.append if streaming else None
    )

    assert result.text == EMPTY_ANSWER
    assert deltas == []


def test_cancelling_a_held_turn_raises_cancelled_error_promptly(llm):
    settings = make_settings(llm.base_url)

    async def scenario() -> TurnResult:
        agent = OpenAIAgent(settings)
        try:
            task = asyncio.create_task(agent.run_turn(make_context("[hold:x] hi"), None))
            await asyncio.to_thread(llm.wait_for_requests, 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=2.0)
            assert task.cancelled()
            llm.release("x")
            # The same agent (and its connection pool) still serves the next turn.
            return await agent.run_turn(make_context("after"), None)
        finally:
            await agent.aclose()

    assert asyncio.run(scenario()).text == "echo: after"
    assert len(llm.received()) == 2


def test_a_held_turn_answers_once_released(llm):
    settings = make_settings(llm.base_url)

    async def scenario() -> tuple[bool, TurnResult]:
        agent = OpenAIAgent(settings)
        try:
            task = asyncio.create_task(agent.run_turn(make_context("[hold:y] hi"), None))
            await asyncio.to_thread(llm.wait_for_requests, 1)
            done_before_release = task.done()
            llm.release("y")
            return done_before_release, await asyncio.wait_for(task, timeout=5.0)
        finally:
            await agent.aclose()

    done_before_release, result = asyncio.run(scenario())

    assert not done_before_release
    assert result.text == "echo: [hold:y] hi"


def test_description_names_model_and_endpoint_but_no_secret():
    settings = make_settings("https://user:hunter2@llm.example/v1?key=abc")

    description = OpenAIAgent(settings).description

    assert description == "openai-compatible model fake-model at https://llm.example/v1"
    assert API_KEY not in description


def test_one_agent_refuses_a_second_event_loop(llm):
    agent = OpenAIAgent(make_settings(llm.base_url))

    async def turn() -> TurnResult:
        return await agent.run_turn(make_context("hi"), None)

    first_loop = asyncio.new_event_loop()
    try:
        assert first_loop.run_until_complete(turn()).text == "echo: hi"
        with pytest.raises(RuntimeError, match="second event loop"):
            asyncio.run(turn())
    finally:
        first_loop.run_until_complete(agent.aclose())
        first_loop.close()


# --- memory tools ------------------------------------------------------------------------

MEMORY_TOOLS = ["memory_profile", "memory_search", "memory_context", "memory_conclude"]


def streamed(streaming: bool) -> tuple[list[str], DeltaSink | None]:
    deltas: list[str] = []
    return deltas, deltas.append if streaming else None


@pytest.mark.parametrize("streaming", [False, True])
def test_the_model_searches_memory_then_answers(llm, streaming):
    llm.script(tool_then_answer("memory_search", {"query": "favourite drink"}, "You like tea."))
    memory = RecordingMemory("alice")
    deltas, on_delta = streamed(streaming)

    result = run_turn(make_settings(llm.base_url), make_context("hi", memory=memory), on_delta)

    assert result == TurnResult(
        text="You like tea.", usage=TokenUsage(input_tokens=20, output_tokens=10)
    )
    if streaming:
        assert "".join(deltas) == "You like tea."
    assert memory.calls == [("search", "favourite drink")]
    first, second = llm.wait_for_requests(2)
    assert offered_tools(first) == offered_tools(second) == MEMORY_TOOLS
    assert bool(first.get("stream")) is bool(second.get("stream")) is streaming
    asked = second["messages"][-2]
    assert asked["role"] == "assistant"
    (call,) = asked["tool_calls"]
    assert call["function"] == {
        "name": "memory_search",
        "arguments": '{"query": "favourite drink"}',
    }
    assert tool_results(second) == [
        {"role": "tool", "tool_call_id": call["id"], "content": "alice search: favourite drink"}
    ]
    assert second["messages"][:-2] == first["messages"]


@pytest.mark.parametrize("streaming", [False, True])
def test_several_calls_of_one_round_all_go_back_in_order(llm, streaming):
    calls: tuple[ToolCallSpec, ...] = (
        ("memory_profile", {}),
        ("memory_search", {"query": "tea"}),
        ("memory_conclude", {"conclusion": "Drinks tea daily."}),
    )
    llm.script(lambda body: Reply(text="noted") if tool_results(body) else Reply(tool_calls=calls))
    memory = RecordingMemory("m")
    _, on_delta = streamed(streaming)

    result = run_turn(make_settings(llm.base_url), make_context("hi", memory=memory), on_delta)

    assert result.text == "noted"
    assert sorted(memory.calls) == sorted(
        [("profile", ""), ("search", "tea"), ("conclude", "Drinks tea daily.")]
    )
    _, second = llm.wait_for_requests(2)
    ids = [call["id"] for call in second["messages"][-4]["tool_calls"]]
    assert len(set(ids)) == 3
    assert tool_results(second) == [
        {"role": "tool", "tool_call_id": ids[0], "content": "m profile: "},
        {"role": "tool", "tool_call_id": ids[1], "content": "m search: tea"},
        {"role": "tool", "tool_call_id": ids[2], "content": "m conclude: Drinks tea daily."},
    ]


def test_content_written_before_tool_calls_is_streamed_and_kept(llm):
    def rule(body):
        if tool_results(body):
            return Reply(text="You like tea.")
        return Reply(text="Let me check.", tool_calls=(("memory_profile", {}),))

    llm.script(rule)
    deltas: list[str] = []

    result = run_turn(
        make_settings(llm.base_url), make_context("hi", memory=RecordingMemory()), deltas.append
    )

    assert result.text == "Let me check.\n\nYou like tea."
    assert "".join(deltas) == result.text
    _, second = llm.wait_for_requests(2)
    assert second["messages"][-2]["content"] == "Let me check."


def test_an_unavailable_memory_goes_back_to_the_model_as_text(llm):
    llm.script(
        lambda body: (
            Reply(text=f"saw: {tool_results(body)[0]['content']}")
            if tool_results(body)
            else Reply(tool_calls=(("memory_context", {"query": "who am I?"}),))
        )
    )
    memory = RecordingMemory(failure="honcho did not answer")

    result = run_turn(make_settings(llm.base_url), make_context("hi", memory=memory))

    assert result.text.startswith("saw: Error: memory is unavailable")
    assert "honcho did not answer" in result.text
    assert memory.calls == [("context", "who am I?")]


@pytest.mark.parametrize("streaming", [False, True])
def test_bad_arguments_json_goes_back_to_the_model_as_text(llm, streaming):
    llm.script(tool_then_answer("memory_search", '{"query": "tea"', "sorry"))
    memory = RecordingMemory()
    _, on_delta = streamed(streaming)

    result = run_turn(make_settings(llm.base_url), make_context("hi", memory=memory), on_delta)

    assert result.text == "sorry"
    assert memory.calls == []
    _, second = llm.wait_for_requests(2)
    (tool_message,) = tool_results(second)
    assert tool_message["content"].startswith("Error: the arguments are not valid JSON")


def always_search(body):
    if body.get("tools"):
        return Reply(tool_calls=(("memory_search", {"query": "more"}),))
    return Reply(text="final answer")


@pytest.mark.parametrize("streaming", [False, True])
def test_the_round_limit_stops_a_model_that_calls_tools_forever(llm, streaming):
    llm.script(always_search)
    memory = RecordingMemory()
    deltas, on_delta = streamed(streaming)

    result = run_turn(
        make_settings(llm.base_url, max_tool_rounds=3), make_context("hi", memory=memory), on_delta
    )

    assert result.text == "final answer"
    if streaming:
        assert "".join(deltas) == "final answer"
    assert result.usage == TokenUsage(input_tokens=40, output_tokens=20)
    bodies = llm.wait_for_requests(4)
    assert len(bodies) == 4
    assert [offered_tools(body) for body in bodies] == [MEMORY_TOOLS] * 3 + [[]]
    assert "tools" not in bodies[3]
    assert len(tool_results(bodies[3])) == 3
    assert len(memory.calls) == 3


def test_a_model_that_still_will_not_answer_gets_a_short_notice(llm):
    llm.script(lambda _body: Reply(tool_calls=(("memory_search", {"query": "more"}),)))
    memory = RecordingMemory()

    result = run_turn(
        make_settings(llm.base_url, max_tool_rounds=2), make_context("hi", memory=memory)
    )

    assert result.text == TOOL_LIMIT_NOTICE
    assert len(llm.wait_for_requests(3)) == 3
    assert len(memory.calls) == 2


def test_no_tools_are_sent_without_memory(llm):
    result = run_turn(make_settings(llm.base_url), make_context("hi"))

    assert result.text == "echo: hi"
    (body,) = llm.wait_for_requests(1)
    assert "tools" not in body


def test_a_failure_in_a_later_round_is_an_agent_error(llm):
    llm.script(
        lambda body: (
            Reply(status=500) if tool_results(body) else Reply(tool_calls=(("memory_profile", {}),))
        )
    )

    message = failed_turn(
        make_settings(llm.base_url), make_context("hi", memory=RecordingMemory()), streaming=False
    )

    assert message.startswith("The request failed: HTTP 500")
    assert API_KEY not in message


def test_max_tool_rounds_must_not_be_negative():
    with pytest.raises(ValueError, match="max_tool_rounds"):
        make_settings("http://127.0.0.1:1/v1", max_tool_rounds=-1)


# --- the flush turn -----------------------------------------------------------------------

TRANSCRIPT = (
    ChatMessage(role=Role.USER, content="I only drink green tea."),
    ChatMessage(role=Role.ASSISTANT, content="Noted!"),
)
FLUSH_PROMPT = "[System: the session is ending; save what matters.]"


def flush_context(memory: MemoryHandle | None) -> TurnContext:
    return make_context(FLUSH_PROMPT, history=TRANSCRIPT, memory=memory, purpose=TurnPurpose.FLUSH)


def test_a_flush_turn_saves_with_the_memory_tools_and_does_not_stream(llm):
    llm.script(tool_then_answer("memory_conclude", {"conclusion": "Drinks green tea."}, "Saved."))
    memory = RecordingMemory()
    deltas: list[str] = []

    result = run_turn(make_settings(llm.base_url), flush_context(memory), deltas.append)

    assert result.text == "Saved."
    assert deltas == []
    assert memory.calls == [("conclude", "Drinks green tea.")]
    first, second = llm.wait_for_requests(2)
    for body in (first, second):
        assert not body.get("stream")
        assert offered_tools(body) == MEMORY_TOOLS
    assert first["messages"] == [
        {"role": "system", "content": FLUSH_INSTRUCTIONS},
        {"role": "user", "content": "I only drink green tea."},
        {"role": "assistant", "content": "Noted!"},
        {"role": "user", "content": FLUSH_PROMPT},
    ]
    assert "memory_conclude" in FLUSH_INSTRUCTIONS
    assert "You are Hermes." not in str(first["messages"])


def test_a_flush_turn_without_memory_makes_no_request(llm):
    deltas: list[str] = []

    result = run_turn(make_settings(llm.base_url), flush_context(None), deltas.append)

    assert result == TurnResult(text=FLUSH_SKIPPED)
    assert deltas == []
    assert llm.received() == []


def test_a_flush_turn_stops_at_the_round_limit_without_a_final_call(llm):
    llm.script(always_search)
    memory = RecordingMemory()

    result = run_turn(make_settings(llm.base_url, max_tool_rounds=2), flush_context(memory))

    assert result.text == FLUSH_DONE
    assert len(llm.received()) == 2
    assert len(memory.calls) == 2


def test_a_flush_turn_text_is_kept_short(llm):
    llm.script(lambda _body: Reply(text="x" * 5000))

    result = run_turn(make_settings(llm.base_url), flush_context(RecordingMemory()))

    assert result.text == "x" * FLUSH_TEXT_LIMIT


# --- isolation ------------------------------------------------------------------------------


def test_fifty_concurrent_turns_each_reach_only_their_own_memory(llm):
    def rule(body):
        results = tool_results(body)
        if results:
            return Reply(text=" | ".join(result["content"] for result in results))
        who = last_user_text(body)
        calls = (
            ("memory_search", {"query": who}),
            ("memory_conclude", {"conclusion": f"{who} likes tea"}),
        )
        # Every first round waits until all fifty turns are in flight at once.
        return Reply(hold="all-in", tool_calls=calls)

    llm.script(rule)
    count = 50
    memories = [RecordingMemory(f"memory-{i}") for i in range(count)]
    settings = make_settings(llm.base_url)

    async def scenario() -> list[TurnResult]:
        agent = OpenAIAgent(settings)
        try:
            turns = [
                asyncio.create_task(
                    agent.run_turn(
                        make_context(f"user-{i}", memory=memories[i], user=f"user-{i}"),
                        (lambda _piece: None) if i % 2 else None,
                    )
                )
                for i in range(count)
            ]
            await asyncio.to_thread(llm.wait_for_requests, count, 10.0)
            assert not any(turn.done() for turn in turns)
            llm.release("all-in")
            return await asyncio.wait_for(asyncio.gather(*turns), timeout=30.0)
        finally:
            await agent.aclose()

    results = asyncio.run(scenario())

    for i, (memory, result) in enumerate(zip(memories, results, strict=True)):
        assert memory.calls == [("search", f"user-{i}"), ("conclude", f"user-{i} likes tea")]
        assert result.text == (
            f"memory-{i} search: user-{i} | memory-{i} conclude: user-{i} likes tea"
        )
    assert len(llm.received()) == 2 * count
