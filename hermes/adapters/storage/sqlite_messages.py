"""How the journal keeps an inbound message, and the outbox a reply, as JSON in the database.

Only chat messages are journaled (a sender waiting on its HTTP connection retries by itself), so
an inbound message's ``client_context`` (an HTTP request body's extras) is never kept.
"""

from __future__ import annotations

import json
from typing import Any

from hermes.adapters.storage.sqlite_codec import (
    address_from_json,
    address_to_json,
    from_text,
    sender_from_json,
    sender_to_json,
    to_text,
)
from hermes.messages.delivery import DeliverMessage, OutboundKind, OutboundMessage
from hermes.messages.values import Conversation, InboundMessage, TokenUsage


def inbound_to_json(message: InboundMessage) -> str:
    """An inbound chat message as JSON (without any HTTP request extras)."""
    conversation = message.conversation
    fields: dict[str, Any] = {
        "message_id": message.message_id,
        "origin": address_to_json(message.origin),
        "sender": sender_to_json(message.sender),
        "text": message.text,
        "received_at": to_text(message.received_at),
        "reply_to_message_id": message.reply_to_message_id,
        "conversation": None
        if conversation is None
        else {"session_id": conversation.session_id, "session_key": conversation.session_key},
    }
    return json.dumps(fields, ensure_ascii=False)


def inbound_from_json(text: str) -> InboundMessage:
    """An inbound message from its journal JSON.

    Raises:
        ValueError: the JSON is not a journaled message (``json.JSONDecodeError`` included).
        KeyError: a field is missing.
    """
    fields = json.loads(text)
    conversation = fields.get("conversation")
    return InboundMessage(
        message_id=str(fields["message_id"]),
        origin=address_from_json(fields["origin"]),
        sender=sender_from_json(fields["sender"]),
        text=str(fields["text"]),
        received_at=from_text(fields["received_at"]),
        reply_to_message_id=fields.get("reply_to_message_id"),
        conversation=None if conversation is None else Conversation(**conversation),
    )


def delivery_to_json(delivery: DeliverMessage) -> str:
    """An outbox entry (a reply waiting for the platform's confirmation) as JSON."""
    message = delivery.message
    usage = message.usage
    fields: dict[str, Any] = {
        "target": address_to_json(message.target),
        "text": message.text,
        "kind": message.kind.value,
        "in_reply_to": message.in_reply_to,
        "session_id": message.session_id,
        "usage": None if usage is None else [usage.input_tokens, usage.output_tokens],
    }
    return json.dumps(fields, ensure_ascii=False)


def delivery_from_json(delivery_id: str, text: str) -> DeliverMessage:
    """An outbox entry from its JSON (whoever asked for it is gone: no ``reply_to``).

    Raises:
        ValueError: the JSON is not an outbox entry.
        KeyError: a field is missing.
    """
    fields = json.loads(text)
    usage = fields.get("usage")
    return DeliverMessage(
        delivery_id=delivery_id,
        message=OutboundMessage(
            target=address_from_json(fields["target"]),
            text=str(fields["text"]),
            kind=OutboundKind(fields["kind"]),
            in_reply_to=fields.get("in_reply_to"),
            session_id=fields.get("session_id"),
            usage=None
            if usage is None
            else TokenUsage(input_tokens=usage[0], output_tokens=usage[1]),
        ),
        durable=True,
    )
