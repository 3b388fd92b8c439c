from typing import Any

import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from hermes.adapters.platforms.openai_wire import (
    ChatRequest,
    CompletionIds,
    WireError,
    chunk_body,
    completion_body,
    error_body,
    models_body,
    parse_chat_request,
    usage_body,
    usage_chunk_body,
)
from hermes.messages.values import ChatMessage, Role, TokenUsage

IDS = CompletionIds(completion_id="chatcmpl-1", created=1_774_000_000, model="hermes")


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


def test_minimal_request() -> None:
    assert parse_chat_request({"messages": [user("hi")]}) == ChatRequest(
        text="hi", history=(), system_prompt=None, stream=False, include_usage=False, user=None
    )


def test_system_and_developer_messages_are_joined_into_the_system_prompt() -> None:
    request = parse_chat_request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Answer in French."},
                user("bonjour"),
            ]
        }
    )

    assert request.system_prompt == "Be brief.\n\nAnswer in French."
    assert request.history == ()
    assert request.text == "bonjour"


def test_history_is_the_user_and_assistant_messages_before_the_last() -> None:
    request = parse_chat_request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                user("one"),
                {"role": "assistant", "content": "two"},
                user("three"),
                {"role": "assistant", "content": "four"},
                user("five"),
            ]
        }
    )

    assert request.text == "five"
    assert request.system_prompt == "Be brief."
    assert request.history == (
        ChatMessage(role=Role.USER, content="one"),
        ChatMessage(role=Role.ASSISTANT, content="two"),
        ChatMessage(role=Role.USER, content="three"),
        ChatMessage(role=Role.ASSISTANT, content="four"),
    )


def test_text_parts_are_joined() -> None:
    request = parse_chat_request(
        {
            "messages": [
                {"role": "assistant", "content": [{"type": "text", "text": "earlier"}]},
                user([{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]),
            ]
        }
    )

    assert request.text == "first\nsecond"
    assert request.history == (ChatMessage(role=Role.ASSISTANT, content="earlier"),)


def test_null_content_is_empty_text() -> None:
    request = parse_chat_request({"messages": [{"role": "assistant", "content": None}, user("hi")]})

    assert request.history == (ChatMessage(role=Role.ASSISTANT, content=""),)


OPTION_CASES = [
    pytest.param({}, (False, False, None), id="defaults"),
    pytest.param({"stream": True}, (True, False, None), id="stream"),
    pytest.param({"stream": False}, (False, False, None), id="stream-false"),
    pytest.param({"stream": None}, (False, False, None), id="stream-null"),
    pytest.param(
        {"stream": True, "stream_options": {"include_usage": True}},
        (True, True, None),
        id="stream-with-usage",
    ),
    pytest.param(
        {"stream": True, "stream_options": {"include_usage": False}},
        (True, False, None),
        id="stream-without-usage",
    ),
    pytest.param(
        {"stream": True, "stream_options": {}}, (True, False, None), id="empty-stream-options"
    ),
    pytest.param({"stream_options": None}, (False, False, None), id="stream-options-null"),
    pytest.param({"user": "user-42"}, (False, False, "user-42"), id="user"),
    pytest.param({"user": None}, (False, False, None), id="user-null"),
    pytest.param(
        {"model": "gpt-x", "temperature": 0.2, "max_tokens": 10},
        (False, False, None),
        id="unused-fields-ignored",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), OPTION_CASES)
def test_request_options(extra: dict[str, object], expected: tuple[bool, bool, str | None]) -> None:
    request = parse_chat_request({"messages": [user("hi")], **extra})

    assert (request.stream, request.include_usage, request.user) == expected


ERROR_CASES = [
    pytest.param([], "body", id="body-is-a-list"),
    pytest.param("hi", "body", id="body-is-a-string"),
    pytest.param(None, "body", id="body-is-null"),
    pytest.param({}, "'messages'", id="messages-missing"),
    pytest.param({"messages": []}, "'messages'", id="messages-empty"),
    pytest.param({"messages": "hi"}, "'messages'", id="messages-not-a-list"),
    pytest.param({"messages": {"role": "user"}}, "'messages'", id="messages-an-object"),
    pytest.param({"messages": [user("a"), "hi"]}, "messages[1]", id="message-not-an-object"),
    pytest.param(
        {"messages": [{"role": "tool", "content": "x"}, user("a")]},
        "messages[0].role",
        id="bad-role",
    ),
    pytest.param({"messages": [{"content": "x"}]}, "messages[0].role", id="role-missing"),
    pytest.param(
        {"messages": [user("a"), {"role": "assistant", "content": "b"}]},
        "role 'user'",
        id="last-message-not-user",
    ),
    pytest.param(
        {"messages": [{"role": "system", "content": "x"}]},
        "role 'user'",
        id="only-a-system-message",
    ),
    pytest.param({"messages": [user(42)]}, "messages[0].content", id="content-a-number"),
    pytest.param(
        {"messages": [user({"text": "x"})]}, "messages[0].content", id="content-an-object"
    ),
    pytest.param(
        {"messages": [user([{"type": "image_url", "image_url": {"url": "x"}}])]},
        "messages[0].content",
        id="non-text-part",
    ),
    pytest.param({"messages": [user(["hi"])]}, "messages[0].content", id="part-not-an-object"),
    pytest.param(
        {"messages": [user([{"type": "text", "text": 1}])]},
        "messages[0].content",
        id="text-part-without-string",
    ),
    pytest.param(
        {"messages": [user("a"), user([{"type": "text"}])]},
        "messages[1].content",
        id="text-part-missing-text",
    ),
    pytest.param({"messages": [user("a")], "stream": "yes"}, "'stream'", id="stream-a-string"),
    pytest.param({"messages": [user("a")], "stream": 1}, "'stream'", id="stream-a-number"),
    pytest.param(
        {"messages": [user("a")], "stream_options": True},
        "'stream_options'",
        id="stream-options-not-an-object",
    ),
    pytest.param(
        {"messages": [user("a")], "stream_options": {"include_usage": "yes"}},
        "'include_usage'",
        id="include-usage-not-a-bool",
    ),
    pytest.param({"messages": [user("a")], "user": 42}, "'user'", id="user-not-a-string"),
]


@pytest.mark.parametrize(("body", "field"), ERROR_CASES)
def test_bad_request(body: object, field: str) -> None:
    with pytest.raises(WireError) as caught:
        parse_chat_request(body)

    assert caught.value.status == 400
    assert field in caught.value.message
    assert caught.value.error_type == "invalid_request_error"


def test_error_body_shape() -> None:
    error = WireError(401, "Invalid API key", code="invalid_api_key")

    assert error_body(error) == {
        "error": {
            "message": "Invalid API key",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_usage_body() -> None:
    assert usage_body(TokenUsage(input_tokens=12, output_tokens=5)) == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
    }
    assert usage_body(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_completion_body_shape() -> None:
    body: dict[str, Any] = completion_body(
        IDS, "Hello!", TokenUsage(input_tokens=3, output_tokens=2)
    )

    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert body["id"] == "chatcmpl-1"
    assert body["object"] == "chat.completion"
    assert body["created"] == 1_774_000_000
    assert body["model"] == "hermes"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_completion_body_parses_with_the_openai_client_types() -> None:
    parsed = ChatCompletion.model_validate(completion_body(IDS, "Hello!", None))

    assert parsed.choices[0].message.content == "Hello!"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 0


@pytest.mark.parametrize(
    ("delta", "finish_reason"),
    [
        pytest.param({"role": "assistant"}, None, id="role-chunk"),
        pytest.param({"content": "Hel"}, None, id="content-chunk"),
        pytest.param({}, "stop", id="final-chunk"),
    ],
)
def test_chunk_body_shape(delta: dict[str, str], finish_reason: str | None) -> None:
    body: dict[str, Any] = chunk_body(IDS, delta, finish_reason)

    assert set(body) == {"id", "object", "created", "model", "choices"}
    assert body["object"] == "chat.completion.chunk"
    assert (body["id"], body["created"], body["model"]) == ("chatcmpl-1", 1_774_000_000, "hermes")
    assert body["choices"] == [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    parsed = ChatCompletionChunk.model_validate(body)
    assert parsed.choices[0].finish_reason == finish_reason


def test_chunk_body_finish_reason_defaults_to_none() -> None:
    body: dict[str, Any] = chunk_body(IDS, {"content": "x"})

    assert body["choices"][0]["finish_reason"] is None


def test_usage_chunk_body_shape() -> None:
    body: dict[str, Any] = usage_chunk_body(IDS, TokenUsage(input_tokens=7, output_tokens=1))

    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert body["object"] == "chat.completion.chunk"
    assert body["choices"] == []
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
    parsed = ChatCompletionChunk.model_validate(body)
    assert parsed.usage is not None
    assert parsed.usage.prompt_tokens == 7


def test_models_body_shape() -> None:
    body: dict[str, Any] = models_body("hermes-agent", 1_774_000_000)

    assert body == {
        "object": "list",
        "data": [
            {
                "id": "hermes-agent",
                "object": "model",
                "created": 1_774_000_000,
                "owned_by": "hermes",
            }
        ],
    }
    assert Model.model_validate(body["data"][0]).id == "hermes-agent"
