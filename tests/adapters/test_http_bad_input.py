"""The HTTP API adapter against bad input: every refusal is a 4xx in the OpenAI error shape,
nothing reaches the Router, and the next good request is answered.

The adapter runs alone on loopback; a stub Router answers each routed message at once, playing
Delivery, so a good request completes without the rest of the gateway.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hermes.adapters.platforms.http_api import MAX_BODY_BYTES, HttpApiPlatform, HttpApiSettings
from hermes.adapters.platforms.inbound_text import MAX_MESSAGE_CHARS
from hermes.messages.delivery import OutboundMessage, SendOutbound
from hermes.messages.router import RouteInbound
from tests.fakes.recording import RecordingAddress

API_KEY = "adapter-test-key"
BODY_TIMEOUT = 0.5
TIMEOUT = 10.0


class AnsweringRouter:
    """Records what is routed and answers it with ``echo: TEXT``, as Delivery would."""

    def __init__(self) -> None:
        self.routed: list[RouteInbound] = []
        self.adapter: HttpApiPlatform | None = None
        self._lock = threading.Lock()

    def tell(self, message: RouteInbound) -> None:
        with self._lock:
            self.routed.append(message)
        assert self.adapter is not None
        inbound = message.message
        reply = OutboundMessage(target=inbound.origin, text=f"echo: {inbound.text}")
        self.adapter.address.tell(
            SendOutbound(
                delivery_id=f"d-{inbound.message_id}",
                message=reply,
                chunks=(reply.text,),
                reply_to=RecordingAddress("delivery"),
            )
        )


@pytest.fixture
def router() -> AnsweringRouter:
    return AnsweringRouter()


@pytest.fixture
def api(router: AnsweringRouter) -> Iterator[HttpApiPlatform]:
    adapter = HttpApiPlatform(
        HttpApiSettings(
            host="127.0.0.1",
            port=0,
            key=API_KEY,
            model_name="hermes-agent",
            reply_timeout=TIMEOUT,
            body_timeout=BODY_TIMEOUT,
        )
    )
    router.adapter = adapter
    adapter.start(router)
    yield adapter
    adapter.close(5.0)


@pytest.fixture
def http(api: HttpApiPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=api.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=TIMEOUT
    ) as client:
        yield client


def good(http: httpx.Client, text: str = "still there?") -> str:
    response = http.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": text}]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object of ``response``, checking its shape."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def body_of(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def read_response(conn: socket.socket) -> bytes:
    """Read one response, head and body (by its Content-Length), or what came before EOF."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = conn.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\nContent-Length: *(\d+)", head)
    assert length is not None, head
    while len(body) < int(length.group(1)):
        chunk = conn.recv(65536)
        assert chunk, answer
        body += chunk
    return head + b"\r\n\r\n" + body


def raw_exchange(api: HttpApiPlatform, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; return the first response, head and body.

    The connection stays open for writing: aiohttp takes a half-close for a client gone.
    """
    with socket.create_connection(("127.0.0.1", port_of(api)), timeout=TIMEOUT) as conn:
        conn.sendall(data)
        return read_response(conn)


def port_of(api: HttpApiPlatform) -> int:
    return int(api.url.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A request body, and what the refusal of it must say."""

    body: bytes
    fragment: str
    param: str | None = None
    status: int = 400


def refused(case_id: str, body: bytes, fragment: str, param: str | None = None, status: int = 400):
    return pytest.param(
        Refusal(body=body, fragment=fragment, param=param, status=status), id=case_id
    )


BAD_BODIES = [
    refused("truncated-json", b'{"messages": [', "not valid JSON"),
    refused("empty-body", b"", "not valid JSON"),
    refused(
        "latin-1-inside-a-string",
        b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
        "byte 46 is not UTF-8 (0xe9)",
    ),
    refused("utf-16", '{"messages": []}'.encode("utf-16"), "byte 0 is not UTF-8 (0xff)"),
    refused("a-string-body", b'"just a string"', "JSON object"),
    refused("null-body", b"null", "JSON object"),
    refused("an-array-body", b"[]", "JSON object"),
    refused("no-messages", b"{}", "'messages' must be a non-empty array", "messages"),
    refused(
        "empty-messages", body_of(messages=[]), "'messages' must be a non-empty array", "messages"
    ),
    refused(
        "messages-an-object",
        body_of(messages={"role": "user", "content": "hi"}),
        "'messages' must be a non-empty array",
        "messages",
    ),
    refused(
        "message-a-string", body_of(messages=["hi"]), "messages[0] must be an object", "messages[0]"
    ),
    refused(
        "role-missing",
        body_of(messages=[{"content": "hi"}]),
        "messages[0].role must be one of",
        "messages[0].role",
    ),
    refused(
        "role-a-list",
        body_of(messages=[{"role": ["user"], "content": "hi"}]),
        "messages[0].role must be one of",
        "messages[0].role",
    ),
    refused(
        "content-an-object",
        body_of(messages=[user({"text": "hi"})]),
        "must be a string or an array of parts",
        "messages[0].content",
    ),
    refused(
        "only-an-image-part",
        body_of(messages=[user([{"type": "image_url", "image_url": {"url": "x"}}])]),
        "only text parts are supported, and there are none",
        "messages[0].content",
    ),
    refused(
        "a-part-not-an-object",
        body_of(messages=[user([{"type": "text", "text": "a"}, "b"])]),
        "each part must be an object",
        "messages[0].content",
    ),
    refused(
        "model-a-number",
        body_of(model=4, messages=[user("hi")]),
        "'model' must be a string",
        "model",
    ),
    refused(
        "lone-surrogate-escape",
        b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}',
        "unpaired surrogate \\ud800 at character 1",
        "messages[0].content",
    ),
    refused(
        "message-over-the-cap",
        body_of(messages=[user("x" * (MAX_MESSAGE_CHARS + 1))]),
        f"the limit is {MAX_MESSAGE_CHARS:,}",
        "messages[0].content",
    ),
    refused(
        "parts-over-the-cap-together",
        body_of(messages=[user("a"), user([{"type": "text", "text": "x" * 60_000}] * 2)]),
        f"the limit is {MAX_MESSAGE_CHARS:,}",
        "messages[1].content",
    ),
    refused("deep", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    refused("huge-int", b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
    refused(
        "body-over-the-cap",
        b'{"messages": [' + b'{"role": "user", "content": "' + b"x" * MAX_BODY_BYTES + b'"}]}',
        f"the limit is {MAX_BODY_BYTES:,} bytes",
        status=413,
    ),
]


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_bad_body_is_refused_and_the_next_request_is_answered(http, router, case: Refusal):
    response = http.post(
        "/v1/chat/completions", content=case.body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == case.status, response.text
    error = error_of(response)
    assert case.fragment in error["message"]
    assert error["param"] == case.param
    assert error["type"] == "invalid_request_error"
    assert router.routed == []
    assert good(http) == "echo: still there?"
    assert len(router.routed) == 1


def test_the_text_parts_are_answered_and_other_parts_skipped(http, router):
    parts = [
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
        {"type": "text", "text": "what is"},
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
        {"type": "text", "text": "in the picture?"},
    ]
    response = http.post("/v1/chat/completions", json={"messages": [user(parts)]})

    assert response.status_code == 200, response.text
    assert [r.message.text for r in router.routed] == ["what is\nin the picture?"]


def test_a_message_at_the_cap_and_a_utf8_byte_order_mark_are_accepted(http):
    assert good(http, "y" * MAX_MESSAGE_CHARS) == "echo: " + "y" * MAX_MESSAGE_CHARS
    body = b"\xef\xbb\xbf" + body_of(messages=[user("with a BOM")])
    response = http.post("/v1/chat/completions", content=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: with a BOM"


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(api, router):
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {API_KEY}\r\n".encode()
        + f"Content-Length: {MAX_BODY_BYTES * 100}\r\n\r\n".encode()
        + b'{"messages": '
    )
    answer = raw_exchange(api, request)  # with the body unsent: the server must not wait

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    message = json.loads(body)["error"]["message"]
    assert f"body is too large ({MAX_BODY_BYTES * 100:,} bytes)" in message
    assert router.routed == []


def test_a_body_that_stalls_gets_a_408_without_holding_up_others(api, http, router):
    with socket.create_connection(("127.0.0.1", port_of(api)), timeout=TIMEOUT) as stalled:
        stalled.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Length: 500\r\n\r\n".encode()
            + b'{"messages": [{"role": "user", '
        )
        assert good(http, "meanwhile") == "echo: meanwhile"
        answer = read_response(stalled)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert f"did not arrive within {BODY_TIMEOUT:g} s" in json.loads(body)["error"]["message"]
    assert [r.message.text for r in router.routed] == ["meanwhile"]


def test_a_client_that_hangs_up_mid_body_leaves_no_error_behind(api, http, router, caplog):
    caplog.set_level(logging.INFO)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {API_KEY}\r\nContent-Length: 500\r\n\r\n".encode()
        + b'{"messages": [{"role": "user", '
    )
    with socket.create_connection(("127.0.0.1", port_of(api)), timeout=TIMEOUT) as conn:
        conn.sendall(request)
    assert good(http) == "echo: still there?"
    assert [r.message.text for r in router.routed] == ["still there?"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@dataclass(frozen=True, slots=True, kw_only=True)
class WrongRoute:
    """A method and path the API does not serve, and what the answer must say."""

    method: str
    path: str
    status: int
    fragment: str
    allow: str | None


WRONG_ROUTES = [
    WrongRoute(
        method="GET",
        path="/v1/chat/completions",
        status=405,
        fragment="GET is not allowed on /v1/chat/completions",
        allow="POST",
    ),
    WrongRoute(
        method="PUT", path="/v1/chat/completions", status=405, fragment="(POST)", allow="POST"
    ),
    WrongRoute(
        method="POST",
        path="/v1/models",
        status=405,
        fragment="POST is not allowed on /v1/models",
        allow="GET,HEAD",
    ),
    WrongRoute(
        method="DELETE",
        path="/health",
        status=405,
        fragment="DELETE is not allowed on /health",
        allow="GET,HEAD",
    ),
    WrongRoute(
        method="GET",
        path="/v1/engines",
        status=404,
        fragment="no such endpoint: /v1/engines",
        allow=None,
    ),
    WrongRoute(method="POST", path="/", status=404, fragment="no such endpoint: /", allow=None),
]


@pytest.mark.parametrize("case", WRONG_ROUTES, ids=lambda case: f"{case.method} {case.path}")
def test_wrong_methods_and_paths_get_json_errors(http, router, case: WrongRoute):
    response = http.request(case.method, case.path)

    assert response.status_code == case.status
    assert case.fragment in error_of(response)["message"]
    assert response.headers.get("Allow") == case.allow
    assert router.routed == []
    assert good(http) == "echo: still there?"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadHeader:
    """A raw header value, and how the API must refuse it."""

    name: bytes
    value: bytes
    status: int
    fragment: str


BAD_HEADERS = [
    pytest.param(
        BadHeader(
            name=b"X-Hermes-Session-Id",
            value=b"conv\xff1",
            status=400,
            fragment="UTF-8 text without control characters",
        ),
        id="session-id-not-utf8",
    ),
    pytest.param(
        BadHeader(
            name=b"X-Hermes-Session-Key",
            value=b"key\xc3",
            status=400,
            fragment="UTF-8 text without control characters",
        ),
        id="session-key-cut-utf8",
    ),
    pytest.param(
        BadHeader(
            name=b"X-Hermes-Session-Id",
            value=b"k" * 257,
            status=400,
            fragment="at most 256 characters",
        ),
        id="session-id-too-long",
    ),
    pytest.param(
        BadHeader(
            name=b"X-Hermes-Session-Id",
            value=b"a\tb",
            status=400,
            fragment="without control characters",
        ),
        id="session-id-with-a-tab",
    ),
    pytest.param(
        BadHeader(
            name=b"Authorization",
            value=b"Bearer \xff" + API_KEY.encode(),
            status=401,
            fragment="Invalid API key",
        ),
        id="key-not-utf8",
    ),
    pytest.param(
        BadHeader(
            name=b"Authorization", value=b"Bearer wrong-key", status=401, fragment="Invalid API key"
        ),
        id="wrong-key",
    ),
    pytest.param(
        BadHeader(
            name=b"Authorization",
            value=b"Basic " + API_KEY.encode(),
            status=401,
            fragment="Invalid API key",
        ),
        id="not-bearer",
    ),
    pytest.param(
        BadHeader(name=b"Authorization", value=b"", status=401, fragment="Invalid API key"),
        id="empty",
    ),
]


@pytest.mark.parametrize("case", BAD_HEADERS)
def test_bad_header_values_are_refused(api, http, router, case: BadHeader):
    headers = {b"Authorization": f"Bearer {API_KEY}".encode(), case.name: case.value}
    head = b"".join(name + b": " + val + b"\r\n" for name, val in headers.items())
    body = body_of(messages=[user("hi")])
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + head
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = raw_exchange(api, request)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(f"HTTP/1.1 {case.status}".encode()), answer[:300]
    assert case.fragment in json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["message"]
    assert router.routed == []
    assert good(http) == "echo: still there?"


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n", id="tls"),
        pytest.param(b"HELLO\r\n\r\n", id="not-http"),
        pytest.param(b"GET /health HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", id="nul-in-a-header"),
        pytest.param(b"GET /v1/\xff HTTP/1.1\r\nHost: x\r\n\r\n", id="bad-byte-in-the-path"),
        pytest.param(
            b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", id="huge-header"
        ),
        pytest.param(
            b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
            id="bad-content-length",
        ),
    ],
)
def test_unparsable_http_gets_a_400_and_one_quiet_log_line(
    api, http, router, caplog, request_bytes
):
    caplog.set_level(logging.DEBUG)

    answer = raw_exchange(api, request_bytes)

    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), answer[:200]
    assert router.routed == []
    assert good(http) == "echo: still there?"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
    refused = [r.getMessage() for r in caplog.records if "unparsable HTTP" in r.getMessage()]
    assert len(refused) == 1
    assert all("\\x" not in line and "aaaa" not in line for line in refused)
