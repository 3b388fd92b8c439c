"""The Router's book of chats: the session to mirror into, and news for Delivery's directory."""

from __future__ import annotations

from hermes.actors import router_chats
from hermes.actors.router_chats import ChatBook
from hermes.messages.values import ChatAddress, Platform, SessionKey


def chat(chat_id: str, thread_id: str | None = None, name: str | None = None) -> ChatAddress:
    return ChatAddress(
        platform=Platform.TELEGRAM, chat_id=chat_id, thread_id=thread_id, chat_name=name
    )


def key(name: str) -> SessionKey:
    return SessionKey(value=name)


def test_the_latest_session_in_a_chat_or_thread_wins():
    book = ChatBook(((chat("1"), key("old")), (chat("1"), key("seeded"))))
    assert book.session_of(chat("1")) == key("seeded")
    book.note(chat("1", thread_id="5"), key("in-thread"))
    assert book.session_of(chat("1", thread_id="5")) == key("in-thread")
    assert book.session_of(chat("1")) == key("in-thread")  # the chat as a whole: most recent
    book.note(chat("1"), key("main"))
    assert book.session_of(chat("1", thread_id="5")) == key("in-thread")
    assert book.session_of(chat("1", thread_id="6")) is None
    assert book.session_of(chat("2")) is None


def test_news_is_a_new_chat_or_a_new_name():
    book = ChatBook()
    assert book.note(chat("1", name="Team"), key("a"))
    assert not book.note(chat("1", name="Team"), key("b"))
    assert not book.note(chat("1", thread_id="3", name="Team"), key("b"))
    assert book.note(chat("1", name="Team 2"), key("a"))
    assert book.note(chat("2"), key("c"))


def test_the_book_forgets_the_least_recent_chats(monkeypatch):
    monkeypatch.setattr(router_chats, "CHAT_BOOK_SIZE", 2)
    book = ChatBook()
    for chat_id in ("1", "2", "1", "3"):
        book.note(chat(chat_id), key(chat_id))
    assert book.session_of(chat("2")) is None
    assert book.session_of(chat("1")) == key("1")
    assert book.note(chat("2"), key("2"))  # forgotten, so news again
