"""The whole gateway, embedded with start_system, driven over real HTTP by the real openai client.

The model behind it is a fake OpenAI-compatible server on loopback (tests/fakes/llm_server.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.config import load_config

API_KEY = "test-gateway-key"


@pytest.fixture
def gateway(tmp_path, llm):
    systems = []

    def start(with_key: bool = True, **env: str):
        environ = {
            "API_SERVER_PORT": "0",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "sk-upstream-secret",
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            **env,
        }
        if with_key:
            environ["API_SERVER_KEY"] = API_KEY
        config = load_config(home=tmp_path / "home", environ=environ).config
        system = start_system(config, SystemOverrides(admin_socket=False))
        systems.append(system)
        return system

    yield start
    llm.release("slow")
    for system in systems:
        system.stop()


def client(system, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{system.http_api_url}/v1", api_key=key, max_retries=0, timeout=30
    )


def chat(api: openai.OpenAI, text: str, *, session_id=None, session_key=None, history=()):
    headers = {}
    if session_id is not None:
        headers["X-Hermes-Session-Id"] = session_id
    if session_key is not None:
        headers["X-Hermes-Session-Key"] = session_key
    raw = api.chat.completions.with_raw_response.create(
        model="hermes-agent",
        messages=[*history, {"role": "user", "content": text}],
        extra_headers=headers,
    )
    return raw.headers, raw.parse().choices[0].message.content


def contents(body) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] != "system"]


def post_raw(system, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310  (loopback only)
        f"{system.http_api_url}/v1/chat/completions",
        data=body,
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_and_models(gateway):
    system = gateway()
    with urllib.request.urlopen(f"{system.http_api_url}/health", timeout=5) as response:  # noqa: S310  # noqa: S310
        assert json.loads(response.read()) == {"status": "ok", "platform": "hermes-agent"}
    models = client(system).models.list()
    assert [m.id for m in models.data] == ["hermes-agent"]


def test_a_session_id_continues_its_conversation_and_ignores_body_history(gateway, llm):
    api = client(gateway())
    headers, answer = chat(api, "my name is Ada", session_id="conv-1")
    assert answer == "echo: my name is Ada"
    assert headers["X-Hermes-Session-Id"] == "conv-1"
    bogus = [{"role": "user", "content": "INVENTED"}, {"role": "assistant", "content": "NOPE"}]
    headers, answer = chat(api, "what is my name?", session_id="conv-1", history=bogus)
    assert answer == "echo: what is my name?"
    assert headers["X-Hermes-Session-Id"] == "conv-1"
    assert contents(llm.received()[-1]) == [
        "my name is Ada",
        "echo: my name is Ada",
        "what is my name?",
    ]


def test_a_session_key_is_echoed_and_is_a_conversation_of_its_own(gateway, llm):
    api = client(gateway())
    headers, _ = chat(api, "first", session_key="agent:main:webui:dm:user-42")
    assert headers["X-Hermes-Session-Key"] == "agent:main:webui:dm:user-42"
    first_id = headers["X-Hermes-Session-Id"]
    assert first_id
    headers, _ = chat(api, "second", session_key="agent:main:webui:dm:user-42")
    assert headers["X-Hermes-Session-Id"] == first_id
    assert contents(llm.received()[-1]) == ["first", "echo: first", "second"]
    headers, answer = chat(api, "/new", session_key="agent:main:webui:dm:user-42")
    assert "Session reset" in answer
    headers, _ = chat(api, "third", session_key="agent:main:webui:dm:user-42")
    assert headers["X-Hermes-Session-Id"] != first_id
    assert contents(llm.received()[-1]) == ["third"]


def test_both_headers_pin_the_conversation_and_echo_the_memory_scope(gateway, llm):
    api = client(gateway())
    headers, _ = chat(api, "hi", session_id="ui-conv-7", session_key="agent:main:webui:dm:user-42")
    assert headers["X-Hermes-Session-Id"] == "ui-conv-7"
    assert headers["X-Hermes-Session-Key"] == "agent:main:webui:dm:user-42"
    _, answer = chat(api, "/new", session_id="ui-conv-7")
    assert "cannot be reset" in answer


def test_without_headers_a_request_is_stateless(gateway, llm):
    system = gateway()
    api = client(system)
    history = [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    headers, answer = chat(api, "c", history=history)
    assert answer == "echo: c"
    assert "X-Hermes-Session-Id" not in headers
    body = llm.received()[-1]
    assert contents(body) == ["a", "b", "c"]
    assert "be terse" in body["messages"][0]["content"]
    chat(api, "d")
    assert contents(llm.received()[-1]) == ["d"]
    assert system.admin.run({"command": "sessions"})["result"] == {"sessions": []}


def test_two_requests_on_one_session_run_one_after_the_other(gateway, llm):
    api = client(gateway())
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(chat, api, "[hold:slow] first", session_id="serial")
        llm.wait_for_requests(1)
        second = pool.submit(chat, api, "second", session_id="serial")
        llm.release("slow")
        first.result(timeout=20)
        second.result(timeout=20)
    bodies = llm.received()
    assert len(bodies) == 2
    assert contents(bodies[1]) == ["[hold:slow] first", "echo: [hold:slow] first", "second"]


def test_twenty_sessions_in_parallel_are_not_delayed_by_a_slow_one(gateway, llm):
    api = client(gateway())
    with ThreadPoolExecutor(20) as pool:
        slow = pool.submit(chat, api, "[hold:slow] take your time", session_id="slow-session")
        llm.wait_for_requests(1)
        fast = [pool.submit(chat, api, f"quick {i}", session_id=f"fast-{i}") for i in range(19)]
        answers = [future.result(timeout=20)[1] for future in fast]
        assert not slow.done()
        llm.release("slow")
        assert slow.result(timeout=20)[1] == "echo: [hold:slow] take your time"
    assert answers == [f"echo: quick {i}" for i in range(19)]


def test_a_restart_keeps_transcripts(gateway, llm):
    system = gateway()
    chat(client(system), "remember the number 42", session_id="durable")
    system.stop()
    restarted = gateway()
    chat(client(restarted), "which number?", session_id="durable")
    assert contents(llm.received()[-1]) == [
        "remember the number 42",
        "echo: remember the number 42",
        "which number?",
    ]


def test_streaming_in_the_openai_wire_format(gateway, llm):
    api = client(gateway())
    raw = api.chat.completions.with_raw_response.create(
        model="hermes-agent",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Hermes-Session-Id": "streamed"},
    )
    assert raw.headers["X-Hermes-Session-Id"] == "streamed"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 15
    assert llm.received()[-1]["stream"] is True


def test_a_provider_error_is_a_502_and_stays_out_of_the_transcript(gateway, llm):
    api = client(gateway())
    with pytest.raises(openai.APIStatusError) as raised:
        chat(api, "[fail:400] this breaks", session_id="errs")
    assert raised.value.status_code == 502
    assert "The request failed" in raised.value.message
    chat(api, "this works", session_id="errs")
    assert contents(llm.received()[-1]) == ["this works"]


def test_commands_work_over_http(gateway):
    api = client(gateway())
    chat(api, "hello", session_key="cmd-user")
    _, status = chat(api, "/status", session_key="cmd-user")
    assert "Session: " in status
    assert "Agent running: no" in status


def test_a_wrong_key_is_refused_with_401(gateway):
    system = gateway()
    with pytest.raises(openai.AuthenticationError):
        chat(client(system, key="wrong"), "hi")
    with pytest.raises(openai.AuthenticationError):
        client(system, key="wrong").models.list()


def test_session_headers_need_a_configured_key(gateway):
    api = client(gateway(with_key=False), key="anything")
    assert chat(api, "open without headers")[1] == "echo: open without headers"
    with pytest.raises(openai.PermissionDeniedError):
        chat(api, "hi", session_id="x")


def test_an_overlong_session_header_is_a_400(gateway):
    with pytest.raises(openai.BadRequestError):
        chat(client(gateway()), "hi", session_key="k" * 257)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b"{}", "'messages'"),
        (b'{"messages": []}', "'messages'"),
        (b'{"messages": [{"role": "assistant", "content": "x"}]}', "last message"),
        (b'{"messages": [{"role": "wizard", "content": "x"}]}', "role"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "'stream'"),
        (b"\xff\xfe", "not valid JSON"),
    ],
    ids=[
        "bad-json",
        "array",
        "no-messages",
        "empty",
        "last-not-user",
        "bad-role",
        "bad-content",
        "bad-stream",
        "bad-utf8",
    ],
)
def test_malformed_requests_get_a_400_and_the_server_keeps_serving(gateway, body, fragment):
    system = gateway()
    status, payload = post_raw(system, body)
    assert status == 400
    assert fragment in payload["error"]["message"]
    assert payload["error"]["type"] == "invalid_request_error"
    assert chat(client(system), "still there?")[1] == "echo: still there?"


def test_an_unknown_path_is_a_json_404(gateway):
    system = gateway()
    request = urllib.request.Request(f"{system.http_api_url}/v1/nothing-here")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    assert raised.value.code == 404
    assert "error" in json.loads(raised.value.read())
