"""The Router's book of chats: which session last spoke in each chat, and what it is called.

Mirrors (``MirrorDelivery``) name a chat, not a session; the book answers with the session that
was most recently active there (reference §7.4: the newest session whose origin matches, the
thread too when the delivery names one). It also tells when a chat is new or renamed, so the
Router feeds Delivery's channel directory (``ChatSeen``) only with news, not every message.
Owned by the Router; used only on its thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from hermes.messages.values import ChatAddress, Platform, SessionKey

CHAT_BOOK_SIZE: Final = 50_000
"""Chats (and threads) remembered, the most recently active ones."""

_ChatKey = tuple[Platform, str, str | None]


class ChatBook:
    """Chat (and thread) -> the session key last routed there, with the chat's name."""

    def __init__(self, known: Iterable[tuple[ChatAddress, SessionKey]] = ()) -> None:
        """Seed from sessions known at start, oldest first (later ones win)."""
        self._sessions: OrderedDict[_ChatKey, SessionKey] = OrderedDict()
        self._names: OrderedDict[tuple[Platform, str], str | None] = OrderedDict()
        for address, key in known:
            self.note(address, key)

    def note(self, address: ChatAddress, key: SessionKey) -> bool:
        """``key`` just spoke in ``address``; True when the chat is new or was renamed."""
        self._remember((address.platform, address.chat_id, address.thread_id), key)
        if address.thread_id is not None:
            self._remember((address.platform, address.chat_id, None), key)
        chat = (address.platform, address.chat_id)
        news = chat not in self._names or self._names[chat] != address.chat_name
        self._names[chat] = address.chat_name
        self._names.move_to_end(chat)
        if len(self._names) > CHAT_BOOK_SIZE:
            self._names.popitem(last=False)  # forgotten: told to Delivery again if seen again
        return news

    def session_of(self, address: ChatAddress) -> SessionKey | None:
        """The session most recently active in ``address`` (its thread, if it names one)."""
        return self._sessions.get((address.platform, address.chat_id, address.thread_id))

    def _remember(self, chat: _ChatKey, key: SessionKey) -> None:
        self._sessions[chat] = key
        self._sessions.move_to_end(chat)
        if len(self._sessions) > CHAT_BOOK_SIZE:
            self._sessions.popitem(last=False)
