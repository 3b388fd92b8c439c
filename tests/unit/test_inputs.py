from datetime import UTC, datetime

import pytest

from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender
from hermes.policies.inputs import PendingInput, next_batch

RECEIVED_AT = datetime(2026, 3, 20, 14, 15, 2, tzinfo=UTC)


def pending(pattern: str) -> list[PendingInput]:
    """One input per letter: 'c' a chat message, 'r' one whose sender awaits a reply."""
    items = []
    for index, kind in enumerate(pattern):
        assert kind in "cr", kind
        message = InboundMessage(
            message_id=f"m-{index}",
            origin=ChatAddress(platform=Platform.TELEGRAM, chat_id="42"),
            sender=Sender(user_id="7"),
            text=f"text {index}",
            received_at=RECEIVED_AT,
            awaits_reply=kind == "r",
        )
        items.append(PendingInput(message=message, text=message.text))
    return items


BATCH_CASES = [
    pytest.param("", True, 0, id="merge-empty"),
    pytest.param("", False, 0, id="queue-empty"),
    pytest.param("c", True, 1, id="merge-one-chat"),
    pytest.param("ccc", True, 3, id="merge-consecutive-chats"),
    pytest.param("ccrc", True, 2, id="merge-stops-at-awaits-reply"),
    pytest.param("cr", True, 1, id="merge-chat-then-awaits-reply"),
    pytest.param("rcc", True, 1, id="merge-awaits-reply-first-is-alone"),
    pytest.param("rr", True, 1, id="merge-two-awaits-reply-one-at-a-time"),
    pytest.param("r", True, 1, id="merge-single-awaits-reply"),
    pytest.param("c", False, 1, id="queue-one-chat"),
    pytest.param("ccc", False, 1, id="queue-takes-one-chat"),
    pytest.param("rcc", False, 1, id="queue-takes-awaits-reply"),
    pytest.param("cr", False, 1, id="queue-takes-chat-before-awaits-reply"),
]


@pytest.mark.parametrize(("pattern", "merge", "expected"), BATCH_CASES)
def test_next_batch(pattern: str, merge: bool, expected: int) -> None:
    assert next_batch(pending(pattern), merge=merge) == expected


def test_next_batch_does_not_change_its_input() -> None:
    items = pending("ccrc")
    before = list(items)

    next_batch(items, merge=True)

    assert items == before


def test_draining_in_batches_answers_every_input_once_in_order() -> None:
    items = pending("ccrcrrccc")
    batches: list[list[str]] = []
    while items:
        size = next_batch(items, merge=True)
        assert size >= 1
        batches.append([item.message.message_id for item in items[:size]])
        items = items[size:]

    assert batches == [["m-0", "m-1"], ["m-2"], ["m-3"], ["m-4"], ["m-5"], ["m-6", "m-7", "m-8"]]
