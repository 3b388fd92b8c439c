import asyncio
import socket
from collections.abc import Iterator

import pytest

from hermes.adapters.agents._openai_errors import CONTEXT_OVERFLOW
from hermes.adapters.agents.openai_agent import (
    EMPTY_ANSWER,
    NO_KEY_PLACEHOLDER,
    OpenAIAgent,
    OpenAIAgentSettings,
)
from hermes.messages.agent import AgentError, TurnContext, TurnResult
from hermes.messages.ports import DeltaSink
from hermes.messages.values import ChatAddress, ChatMessage, Platform, Role, SessionKey, TokenUsage
from tests.fakes.llm_server import FakeLLM, Reply

# Deliberately not shaped like "sk-…", so only exact-key redaction can hide it.
API_KEY = "test-secret-key-0123456789"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def make_settings(base_url: str, api_key: str | None = API_KEY) -> OpenAIAgentSettings:
    return OpenAIAgentSettings(
        model="fake-model",
        base_url=base_url,
        api_key=api_key,
        system_prompt="You are Hermes.",
        request_timeout=10.0,
        max_retries=0,
    )


def make_context(
    *inputs: str, history: tuple[ChatMessage, ...] = (), system_prompt: str | None = None
) -> TurnContext:
    return TurnContext(
        turn_id="turn-1",
        session_key=SessionKey(value="agent:main:api_server:dm:u1"),
        session_id="session-1",
        memory_scope="agent:main:api_server:dm:u1",
        origin=ChatAddress(platform=Platform.API_SERVER, chat_id="u1"),
        history=history,
        inputs=inputs,
        system_prompt=system_prompt,
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
