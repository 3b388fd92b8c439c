"""The aiohttp chat-completions client: wire reading, retries, timeouts, cancellation.

Network tests talk to the fake OpenAI-compatible server on loopback (tests/fakes/llm_server.py).
"""

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email.utils import formatdate

import aiohttp
import pytest
from openai.types.chat import ChatCompletionMessageParam

from hermes.adapters.agents.chat_client import (
    MAX_RETRY_DELAY,
    ChatClient,
    ChatClientSettings,
    parse_retry_after,
    retry_delay,
    should_retry,
)
from hermes.adapters.agents.chat_wire import (
    ChatConnectionError,
    ChatStatusError,
    ChatTimeoutError,
    MalformedAnswerError,
    ProviderError,
    StreamedAnswer,
    parse_completion,
)
from hermes.adapters.agents.openai_agent import OpenAIAgent, OpenAIAgentSettings
from hermes.adapters.agents.tool_loop import ModelReply, ToolCall
from hermes.messages.agent import AgentError, TurnResult
from hermes.messages.values import TokenUsage
from tests.adapters.test_openai_agent import make_context
from tests.fakes.llm_server import FakeLLM, Reply

API_KEY = "test-secret-key-0123456789"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def client_settings(base_url: str, **overrides) -> ChatClientSettings:
    settings = ChatClientSettings(
        base_url=base_url,
        api_key=API_KEY,
        model="fake-model",
        request_timeout=10.0,
        max_retries=0,
        initial_retry_delay=0.001,
    )
    return replace(settings, **overrides)


def ask(settings: ChatClientSettings, deltas: list[str] | None = None) -> ModelReply:
    async def scenario() -> ModelReply:
        client = ChatClient(settings)
        try:
            on_delta = deltas.append if deltas is not None else None
            return await client.ask(MESSAGES, None, on_delta)
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def agent_settings(base_url: str, **overrides) -> OpenAIAgentSettings:
    settings = OpenAIAgentSettings(
        model="fake-model",
        base_url=base_url,
        api_key=API_KEY,
        system_prompt="You are Hermes.",
        request_timeout=10.0,
        max_retries=0,
    )
    return replace(settings, **overrides)


def failed_turn(settings: OpenAIAgentSettings, text: str = "hi", deltas=None) -> str:
    async def scenario() -> TurnResult:
        agent = OpenAIAgent(settings)
        try:
            on_delta = deltas.append if deltas is not None else None
            return await agent.run_turn(make_context(text), on_delta)
        finally:
            await agent.aclose()

    with pytest.raises(AgentError) as caught:
        asyncio.run(scenario())
    return caught.value.user_message


def free_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def sse(*events: object, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def content_chunk(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}}], "usage": None}


USAGE_CHUNK = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


# --- reading a stream (no network) -----------------------------------------------------------


def read(body: bytes, read_size: int | None = None) -> tuple[ModelReply, list[str]]:
    deltas: list[str] = []
    answer = StreamedAnswer(deltas.append)
    size = read_size or len(body) or 1
    for start in range(0, len(body), size):
        if answer.feed(body[start : start + size]):
            break
    return answer.finish(), deltas


@pytest.mark.parametrize("read_size", [None, 1, 7])
def test_a_stream_reads_the_same_however_its_bytes_are_split(read_size):
    body = sse(content_chunk("Hel"), content_chunk("lo"), USAGE_CHUNK)

    reply, deltas = read(body, read_size)

    assert deltas == ["Hel", "lo"]
    assert reply == ModelReply(content="Hello", usage=TokenUsage(input_tokens=3, output_tokens=2))


def test_comments_other_fields_crlf_and_multi_line_data_are_read_as_sse():
    first = json.dumps(content_chunk("a"))
    body = (
        ": keep-alive comment\r\n\r\n"
        "event: message\r\nid: 7\r\nretry: 100\r\n"
        f"data: {first}\r\n\r\n"
        'data: {"choices": [{"index": 0,\n'
        'data:  "delta": {"content": "b"}}]}\n\n'
        "data: [DONE]\n\n"
        f"data: {json.dumps(content_chunk('after done'))}\n\n"
    ).encode()

    reply, deltas = read(body)

    assert deltas == ["a", "b"]
    assert reply.content == "ab"


def test_a_stream_that_ends_without_done_or_a_last_blank_line_keeps_its_last_event():
    body = sse(content_chunk("x"), done=False) + f"data: {json.dumps(content_chunk('y'))}".encode()

    reply, deltas = read(body)

    assert deltas == ["x", "y"]
    assert reply.content == "xy"


def test_other_choices_are_ignored_and_tool_calls_are_put_together():
    opening = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}
    rest = {"index": 0, "function": {"arguments": '{"a": 1}'}}
    body = sse(
        {"choices": [{"index": 1, "delta": {"content": "other"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [opening]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [rest]}}]},
    )

    reply, deltas = read(body)

    assert deltas == []
    assert reply.tool_calls == (ToolCall(call_id="call_1", name="f", arguments='{"a": 1}'),)


@pytest.mark.parametrize(
    "event",
    [
        b"data: {not json\n\n",
        b"data: [1, 2]\n\n",
        b'data: {"choices": [1]}\n\n',
        b'data: {"choices": [{"delta": {"content": 5}}]}\n\n',
        b'data: {"choices": [{"delta": {"tool_calls": [{"function": {}}]}}]}\n\n',
        b"data: \xff\xfe\n\n",
    ],
    ids=["bad-json", "not-object", "bad-choice", "content-not-text", "no-index", "not-utf8"],
)
def test_an_unreadable_event_is_a_malformed_answer(event):
    with pytest.raises(MalformedAnswerError):
        read(sse(content_chunk("ok"), done=False) + event)


def test_an_error_object_in_the_stream_is_a_provider_error():
    error = {"error": {"message": "overloaded", "code": "server_busy"}}

    with pytest.raises(ProviderError, match="overloaded") as caught:
        read(sse(content_chunk("part"), error))

    assert caught.value.code == "server_busy"


# --- reading a whole completion (no network) ---------------------------------------------------


def test_a_completion_gives_content_function_calls_and_usage():
    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        },
                        {"id": "c2", "type": "custom", "custom": {"name": "g", "input": ""}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1},
    }

    reply = parse_completion(json.dumps(body).encode())

    assert reply == ModelReply(
        content="",
        tool_calls=(ToolCall(call_id="c1", name="f", arguments="{}"),),
        usage=TokenUsage(input_tokens=4, output_tokens=1),
    )


@pytest.mark.parametrize(
    "raw",
    [b"<html>bad gateway</html>", b"[]", b'{"choices": [{"message": 3}]}', b'{"choices": [{}]}'],
    ids=["html", "list", "bad-message", "no-message"],
)
def test_a_body_that_is_not_a_completion_is_malformed(raw):
    with pytest.raises(MalformedAnswerError):
        parse_completion(raw)


def test_a_200_error_body_is_a_provider_error():
    with pytest.raises(ProviderError, match="quota"):
        parse_completion(b'{"error": {"message": "quota", "type": "x"}}')


# --- the retry rules (no network) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (408, {}, True),
        (409, {}, True),
        (429, {}, True),
        (500, {}, True),
        (529, {}, True),
        (400, {}, False),
        (401, {}, False),
        (404, {}, False),
        (400, {"x-should-retry": "true"}, True),
        (503, {"x-should-retry": "false"}, False),
    ],
)
def test_which_statuses_are_retried(status, headers, expected):
    assert should_retry(status, headers) is expected


def test_retry_after_is_read_in_milliseconds_seconds_or_as_a_date():
    now = 1_000_000.0

    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now) == 30.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_the_server_delay_is_used_only_when_sensible():
    assert retry_delay(0, 3.0, 0.5) == 3.0
    assert retry_delay(0, 60.0, 0.5) == 60.0
    for unusable in (None, 0.0, -1.0, 61.0, float("inf"), float("nan")):
        assert 0.375 <= retry_delay(0, unusable, 0.5) <= 0.5


def test_backoff_doubles_up_to_the_cap_with_at_most_a_quarter_off():
    delays = [retry_delay(n, None, 0.5) for n in range(6)]

    for n, delay in enumerate(delays):
        ceiling = min(0.5 * 2**n, MAX_RETRY_DELAY)
        assert 0.75 * ceiling <= delay <= ceiling
    assert retry_delay(5000, None, 0.5) <= MAX_RETRY_DELAY


# --- over the network ---------------------------------------------------------------------------


def test_the_request_carries_the_wire_fields_and_headers(llm):
    deltas: list[str] = []

    ask(client_settings(llm.base_url), deltas)
    ask(client_settings(llm.base_url))

    streamed, plain = llm.wait_for_requests(2)
    assert streamed["_authorization"] == f"Bearer {API_KEY}"
    assert {key: streamed[key] for key in ("model", "messages", "stream", "stream_options")} == {
        "model": "fake-model",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "tools" not in streamed
    assert plain["stream"] is False
    assert "stream_options" not in plain


def test_sequential_requests_reuse_one_connection(llm):
    async def scenario() -> None:
        client = ChatClient(client_settings(llm.base_url))
        try:
            for streaming in (True, False, True):
                await client.ask(MESSAGES, None, (lambda _: None) if streaming else None)
        finally:
            await client.aclose()

    asyncio.run(scenario())

    assert len(set(llm.peer_ports())) == 1


def test_a_429_is_retried_after_the_servers_retry_after(llm):
    answers = iter([Reply(status=429, headers=(("Retry-After", "0.3"),))])
    llm.script(lambda _body: next(answers, None))
    began = time.monotonic()

    reply = ask(client_settings(llm.base_url, max_retries=2))

    assert reply.content == "echo: hi"
    assert len(llm.received()) == 2
    # The backoff alone would have waited about a millisecond.
    assert time.monotonic() - began >= 0.3


@pytest.mark.parametrize("streaming", [False, True])
def test_500s_until_the_retries_run_out_give_the_users_text(llm, streaming):
    llm.script(lambda _body: Reply(status=500, headers=(("retry-after-ms", "10"),)))

    message = failed_turn(
        agent_settings(llm.base_url, max_retries=2), deltas=[] if streaming else None
    )

    assert message.startswith("The request failed: HTTP 500: ")
    assert "The provider had a server error." in message
    assert len(llm.received()) == 3


def test_a_400_is_not_retried(llm):
    llm.script(lambda _body: Reply(status=400, error_message="Unknown parameter."))

    with pytest.raises(ChatStatusError) as caught:
        ask(client_settings(llm.base_url, max_retries=2))

    assert caught.value.status_code == 400
    assert len(llm.received()) == 1


def test_a_refused_connection_is_retried_then_reported(caplog):
    caplog.set_level(logging.INFO, logger="hermes.adapters.agents.chat_client")
    with pytest.raises(ChatConnectionError) as caught:
        ask(client_settings(free_port_url(), max_retries=2))

    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    retries = [r for r in caplog.records if "after a connection error" in r.getMessage()]
    assert len(retries) == 2
    message = failed_turn(agent_settings(free_port_url()))
    assert message.startswith("Could not reach the model endpoint at http://127.0.0.1:")


@pytest.mark.parametrize("streaming", [False, True])
def test_no_answer_within_the_timeout_is_reported_as_such(llm, streaming):
    try:
        message = failed_turn(
            agent_settings(llm.base_url, request_timeout=0.2),
            "[hold:never] hi",
            deltas=[] if streaming else None,
        )
    finally:
        llm.release("never")

    assert message.startswith("The model endpoint at http://127.0.0.1:")
    assert "did not answer in time" in message


def test_a_stream_that_stalls_after_deltas_times_out_without_a_retry(llm):
    llm.script(lambda _body: Reply(text="a long answer", hold="stall", hold_after=2))
    deltas: list[str] = []
    try:
        with pytest.raises(ChatTimeoutError):
            ask(client_settings(llm.base_url, max_retries=2, request_timeout=0.3), deltas)
    finally:
        llm.release("stall")

    assert deltas
    assert len(llm.received()) == 1


def test_a_stream_broken_after_deltas_is_not_retried(llm):
    llm.script(lambda _body: Reply(text="a long answer", cut_after=3))
    deltas: list[str] = []

    message = failed_turn(agent_settings(llm.base_url, max_retries=2), deltas=deltas)

    assert deltas
    assert message.startswith("Could not reach the model endpoint")
    assert len(llm.received()) == 1


def test_a_stream_broken_before_any_delta_is_retried(llm):
    # Chunk 0 only says the role; the break comes before any content.
    answers = iter([Reply(text="lost", cut_after=1)])
    llm.script(lambda _body: next(answers, None))
    deltas: list[str] = []

    reply = ask(client_settings(llm.base_url, max_retries=1), deltas)

    assert "".join(deltas) == reply.content == "echo: hi"
    assert len(llm.received()) == 2


def test_a_malformed_stream_line_is_an_agent_error(llm):
    llm.script(lambda _body: Reply(text="fine so far", inject=((2, b"data: {oops\n\n"),)))
    deltas: list[str] = []

    message = failed_turn(agent_settings(llm.base_url, max_retries=2), deltas=deltas)

    assert "sent an answer that could not be read: a stream event is not JSON" in message
    assert len(llm.received()) == 1


def test_a_non_json_200_body_is_an_agent_error(llm):
    llm.script(lambda _body: Reply(raw_body=b"<html>Welcome to nginx</html>"))

    message = failed_turn(agent_settings(llm.base_url))

    assert "sent an answer that could not be read: the answer is not JSON" in message
    assert "nginx" in message


def test_a_server_that_ignores_stream_true_still_answers(llm):
    completion = {"choices": [{"index": 0, "message": {"content": "whole"}}], "usage": None}
    llm.script(
        lambda _body: Reply(raw_body=json.dumps(completion).encode(), raw_type="application/json")
    )
    deltas: list[str] = []

    reply = ask(client_settings(llm.base_url), deltas)

    assert deltas == ["whole"]
    assert reply.content == "whole"


def test_cancelling_mid_stream_hangs_up_and_raises(llm):
    llm.script(lambda _body: Reply(text="a long streamed answer", hold="mid", hold_after=2))

    async def scenario() -> list[str]:
        client = ChatClient(client_settings(llm.base_url))
        deltas: list[str] = []
        got_delta = asyncio.Event()

        def on_delta(piece: str) -> None:
            deltas.append(piece)
            got_delta.set()

        try:
            task = asyncio.create_task(client.ask(MESSAGES, None, on_delta))
            await asyncio.wait_for(got_delta.wait(), timeout=5.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=2.0)
            await asyncio.to_thread(llm.wait_for_disconnects, 1)
            return deltas
        finally:
            llm.release("mid")
            await client.aclose()

    assert asyncio.run(scenario())
    assert llm.disconnects() == 1


def test_an_env_proxy_is_used(llm, monkeypatch):
    # The fake answers a proxied request too, so a reply proves the proxy was used:
    # the endpoint's own host does not exist.
    proxy = llm.base_url.removesuffix("/v1")
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)

    reply = ask(client_settings("http://llm.invalid/v1"))

    assert reply.content == "echo: hi"


def test_the_key_is_never_in_a_user_text_or_a_log(llm, caplog):
    caplog.set_level(logging.DEBUG)
    echo = f"key {API_KEY} is not allowed"
    scripted = {
        "status": Reply(status=429, error_message=echo, headers=(("retry-after-ms", "1"),)),
        "stream": Reply(text="ok", inject=((1, f"data: {{{API_KEY}\n\n".encode()),)),
        "body": Reply(raw_body=f"<p>{API_KEY}</p>".encode()),
        "provider": Reply(
            raw_body=json.dumps({"error": {"message": echo}}).encode(), raw_type="application/json"
        ),
    }
    llm.script(lambda body: scripted[body["messages"][-1]["content"]])
    settings = agent_settings(llm.base_url, max_retries=1)

    texts = [failed_turn(settings, name, deltas=[]) for name in scripted]
    texts.append(failed_turn(agent_settings(free_port_url(), max_retries=1)))

    assert len(llm.received()) == 5
    logged = [record.getMessage() for record in caplog.records]
    assert any("retrying the model request" in line for line in logged)
    for text in texts + logged:
        assert API_KEY not in text


def test_a_body_without_a_single_event_is_not_a_stream():
    with pytest.raises(MalformedAnswerError, match="not a stream"):
        read(b"<html>502 Bad Gateway</html>")


def test_an_empty_body_is_an_empty_answer():
    reply, deltas = read(b"")

    assert (reply.content, deltas) == ("", [])


def test_a_crlf_split_between_two_reads_is_one_line_end():
    first = json.dumps(content_chunk("a")).encode()
    body = b"data: " + first + b"\r\ndata:  \r\n\r\ndata: [DONE]\r\n\r\n"

    for cut in range(len(body)):
        answer = StreamedAnswer(lambda _piece: None)
        answer.feed(body[:cut])
        answer.feed(body[cut:])
        assert answer.done
        assert answer.finish().content == "a"


@pytest.mark.parametrize("streaming", [False, True])
def test_a_body_over_a_mebibyte_is_sent_whole(llm, streaming):
    # Raw bytes that large make aiohttp warn (an error under this suite's settings).
    long_text = "x" * (1 << 20)
    answers = iter([Reply(status=503, headers=(("retry-after-ms", "1"),))])
    llm.script(lambda _body: next(answers, None) or Reply(text="read it"))

    async def scenario() -> ModelReply:
        client = ChatClient(client_settings(llm.base_url, max_retries=1))
        try:
            messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": long_text}]
            return await client.ask(messages, None, (lambda _: None) if streaming else None)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()).content == "read it"
    first, retried = llm.wait_for_requests(2)
    assert first["messages"][0]["content"] == retried["messages"][0]["content"] == long_text


def test_a_malformed_base_url_is_reported_not_raised():
    message = failed_turn(agent_settings("http://127.0.0.1:notaport/v1", max_retries=2))

    assert message.startswith("Could not reach the model endpoint at http://127.0.0.1:notaport/v1")


def test_a_plan_usage_limit_says_when_it_resets(llm):
    error = {"message": "The usage limit has been reached", "type": "usage_limit_reached"}
    body = json.dumps({"error": {**error, "resets_in_seconds": 7200}}).encode()
    llm.script(lambda _body: Reply(status=429, raw_body=body, raw_type="application/json"))

    message = failed_turn(agent_settings(llm.base_url))

    assert message.startswith("The request failed: HTTP 429: The usage limit has been reached.")
    assert "⏱️ The plan usage limit was reached; it resets in ~2h." in message


def test_an_error_body_that_is_not_json_is_quoted_as_text(llm):
    llm.script(lambda _body: Reply(status=502, raw_body=b"  Bad Gateway (nginx)\n"))

    message = failed_turn(agent_settings(llm.base_url))

    assert message.startswith("The request failed: HTTP 502: Bad Gateway (nginx). ")


class _Flag(logging.Handler):
    """Sets ``event`` when a record with ``words`` in its message is logged."""

    def __init__(self, words: str):
        super().__init__()
        self.words = words
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


def test_a_retry_wait_can_be_cancelled(llm):
    llm.script(lambda _body: Reply(status=429, headers=(("Retry-After", "30"),)))
    flag = _Flag("retrying the model request in 30.00 s")
    log = logging.getLogger("hermes.adapters.agents.chat_client")
    log.addHandler(flag)
    log.setLevel(logging.INFO)

    async def scenario() -> None:
        client = ChatClient(client_settings(llm.base_url, max_retries=2))
        try:
            task = asyncio.create_task(client.ask(MESSAGES, None, None))
            # Logged just before the 30 s wait starts, with no await in between.
            assert await asyncio.to_thread(flag.event.wait, 5.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=2.0)
        finally:
            await client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        log.removeHandler(flag)
        log.setLevel(logging.NOTSET)
    assert len(llm.received()) == 1
