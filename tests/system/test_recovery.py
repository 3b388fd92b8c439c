"""Nothing lost, nothing twice, across restarts: the whole gateway with the real Telegram adapter
against the fake Bot API and the fake model.

What a crash leaves behind is written straight into the state database (a message journaled
but never answered, a reply committed but never confirmed), then the gateway starts on it;
a graceful stop in the middle of a turn is a real ``System.stop``. The kill -9 suite
(``test_fault_injection``) does the same with a subprocess.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.storage.sqlite_store import SqliteStorage
from hermes.config import load_config
from hermes.messages.delivery import DeliverMessage, OutboundKind, OutboundMessage
from hermes.messages.intake import InboundRef
from hermes.messages.router import GetRouterStatus
from hermes.messages.store import RecordInbound, Settle
from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender, SessionKey
from hermes.policies import texts
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

ALICE = FakeUser(1001, "Alice", username="alice")
BOB = FakeUser(1002, "Bob", username="bob")
KEY = SessionKey(value=f"agent:main:telegram:dm:{ALICE.id}")


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake
        fake.release("turn")


@pytest.fixture
def fake():
    with FakeTelegram(bot_username="hermes_test_bot") as server:
        yield server


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def gateway(home, llm, fake):
    systems = []

    def start(**env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "GATEWAY_ALLOW_ALL_USERS": "true",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "3",
            "HERMES_MEMORY_PROVIDER": "none",
            "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url,
            **env,
        }
        config = load_config(home=home, environ=environ).config
        system = start_system(config, SystemOverrides(admin_socket=False))
        systems.append(system)
        fake.wait_for_calls("getUpdates", timeout=10.0)  # connected and polling
        return system

    yield start
    for system in systems:
        system.stop()


def alice_message(message_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        message_id=message_id,
        origin=ChatAddress(platform=Platform.TELEGRAM, chat_id=str(ALICE.id)),
        sender=Sender(user_id=str(ALICE.id), user_name="alice"),
        text=text,
        received_at=datetime.now(UTC),
    )


def texts_to(fake: FakeTelegram, user: FakeUser) -> list[str]:
    return [m.text for m in fake.sent if m.chat_id == user.id]


def test_a_crash_leftover_is_answered_and_an_unconfirmed_reply_sent_again(
    gateway, home, fake, caplog
):
    home.mkdir(parents=True)
    storage = SqliteStorage.open(home / "state.db")
    unanswered = alice_message("5001", "did you get this?")
    reply = DeliverMessage(
        delivery_id="d-before-crash",
        message=OutboundMessage(
            target=unanswered.origin, text="the answer from before", kind=OutboundKind.REPLY
        ),
        durable=True,
    )
    storage.apply(
        [
            RecordInbound(
                platform=Platform.TELEGRAM,
                message_id="5001",
                session_key=KEY,
                received_at=unanswered.received_at,
                message=unanswered,
            ),
            Settle(
                inputs=(InboundRef(platform=Platform.TELEGRAM, message_id="5000"),), reply=reply
            ),
        ]
    )
    storage.close()
    fake.know_chat(private_chat(ALICE))

    system = gateway()

    fake.wait_for_sent(2, chat_id=ALICE.id, timeout=10.0)
    assert sorted(texts_to(fake, ALICE)) == ["echo: did you get this?", "the answer from before"]
    assert any("delivery resend: id=d-before-crash" in r.getMessage() for r in caplog.records)
    assert system.router.ask(GetRouterStatus(), timeout=2.0).routed == 1
    wait_until(lambda: unfinished(home) == (0, 0), 10.0, "journal and outbox settled")


def unfinished(home) -> tuple[int, int]:
    """Unsettled journal entries and outbox entries, read the way an operator would."""
    with closing(sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True)) as conn:
        (journal,) = conn.execute(
            "SELECT count(*) FROM inbound_journal WHERE settled = 0"
        ).fetchone()
        (outbox,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    return journal, outbox


def test_a_turn_cut_by_a_stop_is_answered_after_the_restart_exactly_once(gateway, fake, llm):
    system = gateway()
    fake.send_text(private_chat(ALICE), ALICE, "long question [hold:turn]")
    llm.wait_for_requests(1)

    system.stop()  # the turn is still held: the drain gives up on it and cancels it

    notice = fake.wait_for_sent(1, chat_id=ALICE.id, timeout=10.0)[0]
    assert notice.text == texts.RESTARTING
    llm.release("turn")
    gateway()
    answers = fake.wait_for_sent(2, chat_id=ALICE.id, timeout=10.0)
    assert [m.text for m in answers] == [texts.RESTARTING, "echo: long question [hold:turn]"]


def test_a_redelivery_storm_gets_no_duplicate_replies(gateway, fake):
    gateway(HERMES_BUSY_INPUT_MODE="queue")  # one answer per message, in order
    updates = []
    for number in range(5):
        update = fake.send_text(private_chat(BOB), BOB, f"message {number}")
        fake.redeliver(update["update_id"])  # the same message again, under a new update id
        updates.append(update)
    answers = [f"echo: message {n}" for n in range(5)]
    wait_until(lambda: answers_to(fake, BOB) == answers, 10.0, "five answers")
    for update in updates:
        fake.redeliver(update["update_id"])  # and again, later
    fake.send_text(private_chat(BOB), BOB, "last")
    wait_until(lambda: answers_to(fake, BOB)[-1:] == ["echo: last"], 10.0, "the last answer")

    assert answers_to(fake, BOB) == [*answers, "echo: last"]


def answers_to(fake: FakeTelegram, user: FakeUser) -> list[str]:
    """The agent's answers to ``user`` (the "still answering" notices left out)."""
    return [text for text in texts_to(fake, user) if text != texts.QUEUED_BUSY]
