from datetime import UTC, datetime

import pytest

from hermes.messages.values import (
    ChatAddress,
    ChatType,
    Conversation,
    InboundMessage,
    Platform,
    Sender,
    SessionKey,
)
from hermes.policies.session_keys import SessionRoute, derive_session_key, route_for

RECEIVED_AT = datetime(2026, 3, 20, 14, 15, 2, tzinfo=UTC)


def inbound(
    *,
    platform: Platform = Platform.TELEGRAM,
    chat_type: ChatType = ChatType.DM,
    chat_id: str = "42",
    thread_id: str | None = None,
    user_id: str = "55555",
    message_id: str = "m-1",
    conversation: Conversation | None = None,
) -> InboundMessage:
    return InboundMessage(
        message_id=message_id,
        origin=ChatAddress(
            platform=platform, chat_id=chat_id, chat_type=chat_type, thread_id=thread_id
        ),
        sender=Sender(user_id=user_id),
        text="hello",
        received_at=RECEIVED_AT,
        conversation=conversation,
    )


CHAT_KEY_CASES = [
    pytest.param(inbound(chat_id="42"), True, "agent:main:telegram:dm:42", id="telegram-dm"),
    pytest.param(
        inbound(platform=Platform.DISCORD, chat_id="9001"),
        True,
        "agent:main:discord:dm:9001",
        id="discord-dm",
    ),
    pytest.param(
        inbound(chat_id="42", thread_id="7"),
        True,
        "agent:main:telegram:dm:42:7",
        id="dm-with-thread",
    ),
    pytest.param(
        inbound(chat_id="42"),
        False,
        "agent:main:telegram:dm:42",
        id="dm-ignores-group-sessions-per-user",
    ),
    pytest.param(
        inbound(chat_type=ChatType.GROUP, chat_id="-100123"),
        True,
        "agent:main:telegram:group:-100123:55555",
        id="group-per-user",
    ),
    pytest.param(
        inbound(chat_type=ChatType.GROUP, chat_id="-100123", thread_id="17"),
        True,
        "agent:main:telegram:group:-100123:17:55555",
        id="telegram-forum-topic-reference-example",
    ),
    pytest.param(
        inbound(platform=Platform.DISCORD, chat_type=ChatType.CHANNEL, chat_id="C1", user_id="U1"),
        True,
        "agent:main:discord:channel:C1:U1",
        id="channel-per-user",
    ),
    pytest.param(
        inbound(
            platform=Platform.DISCORD,
            chat_type=ChatType.THREAD,
            chat_id="T1",
            thread_id="T1",
            user_id="U1",
        ),
        True,
        "agent:main:discord:thread:T1:T1:U1",
        id="discord-auto-thread-reference-example",
    ),
    pytest.param(
        inbound(chat_type=ChatType.GROUP, chat_id="-100123"),
        False,
        "agent:main:telegram:group:-100123",
        id="group-shared",
    ),
    pytest.param(
        inbound(chat_type=ChatType.GROUP, chat_id="-100123", thread_id="17"),
        False,
        "agent:main:telegram:group:-100123:17",
        id="forum-topic-shared",
    ),
    pytest.param(
        inbound(platform=Platform.DISCORD, chat_type=ChatType.CHANNEL, chat_id="C1"),
        False,
        "agent:main:discord:channel:C1",
        id="channel-shared",
    ),
]


@pytest.mark.parametrize(("message", "per_user", "expected"), CHAT_KEY_CASES)
def test_chat_session_key(message: InboundMessage, per_user: bool, expected: str) -> None:
    route = route_for(message, group_sessions_per_user=per_user)

    assert route.key.value == expected
    assert route.memory_scope == expected
    assert route.pinned_session_id is None
    assert route.ephemeral is False
    assert derive_session_key(message, group_sessions_per_user=per_user) == route.key


def test_two_users_in_one_group_get_different_keys() -> None:
    alice = inbound(chat_type=ChatType.GROUP, chat_id="-100123", user_id="1")
    bob = inbound(chat_type=ChatType.GROUP, chat_id="-100123", user_id="2")

    assert derive_session_key(alice, group_sessions_per_user=True) != derive_session_key(
        bob, group_sessions_per_user=True
    )


def test_two_users_in_one_group_share_the_key_when_not_per_user() -> None:
    alice = inbound(chat_type=ChatType.GROUP, chat_id="-100123", user_id="1")
    bob = inbound(chat_type=ChatType.GROUP, chat_id="-100123", user_id="2")

    assert derive_session_key(alice, group_sessions_per_user=False) == derive_session_key(
        bob, group_sessions_per_user=False
    )


@pytest.mark.parametrize("per_user", [True, False], ids=["per-user", "shared"])
def test_same_user_in_two_groups_gets_different_keys(per_user: bool) -> None:
    first = inbound(chat_type=ChatType.GROUP, chat_id="-1001", user_id="7")
    second = inbound(chat_type=ChatType.GROUP, chat_id="-1002", user_id="7")

    assert derive_session_key(first, group_sessions_per_user=per_user) != derive_session_key(
        second, group_sessions_per_user=per_user
    )


def test_same_chat_id_on_two_platforms_gets_different_keys() -> None:
    on_telegram = inbound(platform=Platform.TELEGRAM, chat_id="42")
    on_discord = inbound(platform=Platform.DISCORD, chat_id="42")

    assert derive_session_key(on_telegram, group_sessions_per_user=True) != derive_session_key(
        on_discord, group_sessions_per_user=True
    )


def test_the_key_does_not_depend_on_message_id_or_text() -> None:
    first = inbound(chat_type=ChatType.GROUP, chat_id="-100123", message_id="1")
    second = inbound(chat_type=ChatType.GROUP, chat_id="-100123", message_id="2")

    assert derive_session_key(first, group_sessions_per_user=True) == derive_session_key(
        second, group_sessions_per_user=True
    )


def api_request(conversation: Conversation | None, message_id: str = "req-1") -> InboundMessage:
    return inbound(
        platform=Platform.API_SERVER,
        chat_id="http",
        message_id=message_id,
        conversation=conversation,
    )


API_ROUTE_CASES = [
    pytest.param(
        Conversation(session_id="abc"),
        SessionRoute(
            key=SessionKey(value="agent:main:api_server:session:abc"),
            pinned_session_id="abc",
            memory_scope="agent:main:api_server:session:abc",
        ),
        id="session-id-only",
    ),
    pytest.param(
        Conversation(session_id="abc", session_key="agent:main:webui:dm:user-42"),
        SessionRoute(
            key=SessionKey(value="agent:main:api_server:session:abc"),
            pinned_session_id="abc",
            memory_scope="agent:main:webui:dm:user-42",
        ),
        id="session-id-and-session-key",
    ),
    pytest.param(
        Conversation(session_key="agent:main:webui:dm:user-42"),
        SessionRoute(
            key=SessionKey(value="agent:main:webui:dm:user-42"),
            memory_scope="agent:main:webui:dm:user-42",
        ),
        id="session-key-only",
    ),
]


@pytest.mark.parametrize(("conversation", "expected"), API_ROUTE_CASES)
def test_http_api_conversation_route(conversation: Conversation, expected: SessionRoute) -> None:
    for per_user in (True, False):
        assert route_for(api_request(conversation), group_sessions_per_user=per_user) == expected


def test_two_conversations_sharing_a_session_key_have_separate_sessions() -> None:
    scope = "agent:main:webui:dm:user-42"
    first = route_for(
        api_request(Conversation(session_id="one", session_key=scope)), group_sessions_per_user=True
    )
    second = route_for(
        api_request(Conversation(session_id="two", session_key=scope)), group_sessions_per_user=True
    )

    assert first.key != second.key
    assert first.memory_scope == second.memory_scope == scope


def test_api_request_without_conversation_is_stateless() -> None:
    route = route_for(api_request(None, message_id="req-77"), group_sessions_per_user=True)

    assert route.ephemeral is True
    assert route.pinned_session_id is None
    assert route.key.value.startswith("agent:main:api_server:")
    assert "req-77" in route.key.value
    assert route.memory_scope == route.key.value


def test_stateless_api_requests_get_distinct_keys() -> None:
    keys = {
        route_for(api_request(None, message_id=f"req-{n}"), group_sessions_per_user=True).key
        for n in range(50)
    }

    assert len(keys) == 50


def test_stateless_key_cannot_collide_with_a_pinned_conversation() -> None:
    stateless = route_for(api_request(None, message_id="abc"), group_sessions_per_user=True)
    pinned = route_for(api_request(Conversation(session_id="abc")), group_sessions_per_user=True)

    assert stateless.key != pinned.key
