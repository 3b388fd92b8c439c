import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

import hermes.messages
from hermes.messages.agent import TurnContext
from hermes.messages.scheduler import ArmTimer, TimerFired
from hermes.messages.values import (
    MAX_HEADER_ID_LENGTH,
    ChatAddress,
    ChatMessage,
    Conversation,
    InboundMessage,
    Platform,
    Role,
    Sender,
    SessionKey,
)

RECEIVED_AT = datetime(2026, 3, 20, 14, 15, 2, tzinfo=UTC)
ORIGIN = ChatAddress(platform=Platform.TELEGRAM, chat_id="42")


def make_inbound(received_at: datetime, message_id: str = "m-1") -> InboundMessage:
    return InboundMessage(
        message_id=message_id,
        origin=ORIGIN,
        sender=Sender(user_id="7"),
        text="hi",
        received_at=received_at,
    )


def make_turn(inputs: tuple[str, ...]) -> TurnContext:
    return TurnContext(
        turn_id="t-1",
        session_key=SessionKey(value="agent:main:telegram:dm:42"),
        session_id="20260320_141502_3fa9c0d1",
        memory_scope="agent:main:telegram:dm:42",
        origin=ORIGIN,
        history=(ChatMessage(role=Role.USER, content="earlier"),),
        inputs=inputs,
    )


class Inbox:
    def __init__(self) -> None:
        self.fired: list[TimerFired] = []

    def tell(self, message: TimerFired) -> None:
        self.fired.append(message)


def make_timer(delay: float) -> ArmTimer:
    return ArmTimer(key="idle", delay_seconds=delay, reply_to=Inbox())


LONGEST = "x" * MAX_HEADER_ID_LENGTH
TOO_LONG = "x" * (MAX_HEADER_ID_LENGTH + 1)

INVALID_CASES = [
    pytest.param(
        lambda: ChatAddress(platform=Platform.TELEGRAM, chat_id=""),
        "chat_id",
        id="chat-address-empty-chat-id",
    ),
    pytest.param(
        lambda: make_inbound(datetime(2026, 3, 20, 14, 15)),  # noqa: DTZ001
        "received_at",
        id="inbound-naive-datetime",
    ),
    pytest.param(
        lambda: make_inbound(RECEIVED_AT, message_id=""),
        "message_id",
        id="inbound-empty-message-id",
    ),
    pytest.param(Conversation, "session_id", id="conversation-names-nothing"),
    pytest.param(
        lambda: Conversation(session_id=None, session_key=None),
        "session_key",
        id="conversation-both-none",
    ),
    pytest.param(lambda: Conversation(session_id=""), "session_id", id="conversation-empty-id"),
    pytest.param(lambda: Conversation(session_key=""), "session_key", id="conversation-empty-key"),
    pytest.param(lambda: Conversation(session_id="a\rb"), "session_id", id="conversation-id-cr"),
    pytest.param(lambda: Conversation(session_id="a\nb"), "session_id", id="conversation-id-lf"),
    pytest.param(lambda: Conversation(session_id="a\x00b"), "session_id", id="conversation-id-nul"),
    pytest.param(
        lambda: Conversation(session_key="a\r\nb"), "session_key", id="conversation-key-crlf"
    ),
    pytest.param(
        lambda: Conversation(session_key="ok", session_id="a\nb"),
        "session_id",
        id="conversation-valid-key-bad-id",
    ),
    pytest.param(
        lambda: Conversation(session_id=TOO_LONG), "session_id", id="conversation-id-too-long"
    ),
    pytest.param(
        lambda: Conversation(session_key=TOO_LONG), "session_key", id="conversation-key-too-long"
    ),
    pytest.param(lambda: SessionKey(value=""), "session key", id="session-key-empty"),
    pytest.param(lambda: SessionKey(value="agent:main\n"), "session key", id="session-key-lf"),
    pytest.param(lambda: SessionKey(value="agent\rmain"), "session key", id="session-key-cr"),
    pytest.param(lambda: SessionKey(value="agent\x00main"), "session key", id="session-key-nul"),
    pytest.param(lambda: make_turn(()), "input", id="turn-context-without-inputs"),
    pytest.param(lambda: make_timer(-0.001), "delay", id="arm-timer-negative-delay"),
]


@pytest.mark.parametrize(("build", "mentions"), INVALID_CASES)
def test_invalid_message_is_rejected(build: Callable[[], object], mentions: str) -> None:
    with pytest.raises(ValueError, match=re.escape(mentions)):
        build()


VALID_CASES = [
    pytest.param(lambda: ChatAddress(platform=Platform.DISCORD, chat_id="1"), id="chat-address"),
    pytest.param(lambda: make_inbound(RECEIVED_AT), id="inbound-utc"),
    pytest.param(
        lambda: make_inbound(datetime(2026, 3, 20, 15, 15, tzinfo=timezone(timedelta(hours=1)))),
        id="inbound-other-aware-zone",
    ),
    pytest.param(lambda: Conversation(session_id="abc"), id="conversation-id-only"),
    pytest.param(lambda: Conversation(session_key="k"), id="conversation-key-only"),
    pytest.param(lambda: Conversation(session_id="a", session_key="b"), id="conversation-both"),
    pytest.param(
        lambda: Conversation(session_id=LONGEST, session_key=LONGEST),
        id="conversation-at-max-length",
    ),
    pytest.param(
        lambda: Conversation(session_key="agent:main:webui:dm:user 42\t/x"),
        id="conversation-key-with-spaces-tabs-slashes",
    ),
    pytest.param(
        lambda: SessionKey(value="agent:main:telegram:group:-100123:17:55555"), id="session-key"
    ),
    pytest.param(lambda: make_turn(("one", "two")), id="turn-context"),
    pytest.param(lambda: make_timer(0), id="arm-timer-zero-delay"),
]


@pytest.mark.parametrize("build", VALID_CASES)
def test_valid_message_is_accepted(build: Callable[[], object]) -> None:
    build()


def message_modules() -> list[str]:
    return sorted(
        f"hermes.messages.{info.name}" for info in pkgutil.iter_modules(hermes.messages.__path__)
    )


def message_classes() -> list[type]:
    classes: set[type] = set()  # a set: union aliases name the same class twice
    for name in message_modules():
        module = importlib.import_module(name)
        classes.update(
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == name
        )
    return sorted(classes, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


MESSAGE_CLASSES = message_classes()
CLASS_IDS = [f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for cls in MESSAGE_CLASSES]


def test_every_protocol_module_is_discovered() -> None:
    modules = {cls.__module__ for cls in MESSAGE_CLASSES}

    assert {
        "hermes.messages.agent",
        "hermes.messages.delivery",
        "hermes.messages.router",
        "hermes.messages.scheduler",
        "hermes.messages.session",
        "hermes.messages.store",
        "hermes.messages.values",
    } <= modules
    assert len(MESSAGE_CLASSES) >= 40


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=CLASS_IDS)
def test_message_is_frozen(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]

    assert params.frozen, f"{cls.__name__} is not frozen"


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=CLASS_IDS)
def test_message_is_slotted(cls: type) -> None:
    assert "__slots__" in vars(cls), f"{cls.__name__} has no __slots__"
    # CPython: a zero dict offset means instances carry no __dict__ (no base adds one)
    assert cls.__dictoffset__ == 0, f"{cls.__name__} instances still have a __dict__"


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=CLASS_IDS)
def test_message_fields_are_keyword_only(cls: type) -> None:
    fields = dataclasses.fields(cls)
    positional = [field.name for field in fields if not field.kw_only]
    assert not positional, f"{cls.__name__} has positional fields {positional}"

    init_params = list(inspect.signature(cls).parameters.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in init_params)

    with pytest.raises(TypeError, match="positional argument"):
        cls(*(object() for _ in range(max(1, len(fields)))))


FORBIDDEN_ANNOTATION = re.compile(
    r"\b(list|dict|set|List|Dict|Set|DefaultDict|OrderedDict|Counter|deque|bytearray)\b"
)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=CLASS_IDS)
def test_message_fields_hold_no_mutable_containers(cls: type) -> None:
    offending = [
        f"{field.name}: {field.type}"
        for field in dataclasses.fields(cls)
        if FORBIDDEN_ANNOTATION.search(
            field.type if isinstance(field.type, str) else repr(field.type)
        )
    ]

    assert not offending, f"{cls.__name__} has mutable field types {offending}"


@pytest.mark.parametrize(
    "annotation", ["list[str]", "dict[str, int]", "set[str]", "tuple[str, ...] | list[int]"]
)
def test_mutable_annotation_detector_catches(annotation: str) -> None:
    assert FORBIDDEN_ANNOTATION.search(annotation)


@pytest.mark.parametrize(
    "annotation", ["tuple[str, ...]", "frozenset[str]", "Address[TurnEvent]", "str | None"]
)
def test_mutable_annotation_detector_allows(annotation: str) -> None:
    assert not FORBIDDEN_ANNOTATION.search(annotation)


def test_frozen_message_rejects_assignment() -> None:
    key = SessionKey(value="agent:main:telegram:dm:42")

    with pytest.raises(dataclasses.FrozenInstanceError):
        key.value = "other"  # type: ignore[misc]
