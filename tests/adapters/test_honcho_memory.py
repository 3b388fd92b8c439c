import asyncio
import logging
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

from hermes.adapters.memory.honcho_memory import (
    HonchoMemoryManager,
    HonchoMemoryProvider,
    HonchoSettings,
)
from hermes.adapters.memory.honcho_session import MAX_ID_CHARS, honcho_id, user_peer_id
from hermes.adapters.memory.writer import RetryPolicy
from hermes.messages.memory import (
    MemoryHandle,
    MemoryManager,
    MemoryProvider,
    MemoryScope,
    MemoryUnavailableError,
)
from hermes.messages.values import Platform, Sender
from tests.fakes.honcho_server import FakeHoncho

KEY = "hk-test-0123456789-secret"
FAST = RetryPolicy(backoff=(0.01, 0.01))
ALICE = Sender(user_id="111", user_name="Alice")
BOB = Sender(user_id="222", user_name="Bob")
DM = "agent:main:telegram:dm:111"
DM_SESSION = "agent-main-telegram-dm-111"
GROUP = "agent:main:telegram:group:-100500"
GROUP_SESSION = "agent-main-telegram-group--100500"
ALICE_PEER = "user-telegram-111"
BOB_PEER = "user-telegram-222"


def scope_of(key: str) -> MemoryScope:
    return MemoryScope(scope=key, session_key=key, platform=Platform.TELEGRAM)


def settings_for(base_url: str, api_key: str | None = KEY) -> HonchoSettings:
    return HonchoSettings(api_key=api_key, base_url=base_url, timeout=5.0, max_retries=0)


@pytest.fixture
def fake():
    with FakeHoncho() as server:
        yield server


@pytest.fixture
def provider(fake):
    memory = HonchoMemoryProvider(settings_for(fake.base_url), retry=FAST)
    yield memory
    memory.close(5.0)


def opened(provider: HonchoMemoryProvider, key: str) -> HonchoMemoryManager:
    return provider.open(scope_of(key))


def contents(messages) -> list[tuple[str, str]]:
    return [(m["peer_id"], m["content"]) for m in messages]


def logged(caplog, needle: str, level: int = logging.WARNING) -> bool:
    return any(r.levelno >= level and needle in r.getMessage() for r in list(caplog.records))


def test_the_provider_is_a_memory_provider(provider):
    typed: MemoryProvider = provider
    manager: MemoryManager = typed.open(scope_of(DM))
    handle: MemoryHandle = manager.for_user(ALICE)

    assert handle is not None
    assert manager.drain(1.0)


# --- naming ------------------------------------------------------------------------------------


def test_ids_follow_the_original_gateways_names():
    assert honcho_id("agent:main:telegram:dm:123") == "agent-main-telegram-dm-123"
    assert honcho_id("agent:main:discord:group:9:thread 7") == "agent-main-discord-group-9-thread-7"
    assert user_peer_id(Platform.DISCORD, "42") == "user-discord-42"
    assert user_peer_id(Platform.API_SERVER, "a/b@c") == "user-api_server-a-b-c"


def test_long_ids_are_capped_with_a_hash_that_keeps_them_apart():
    first, second = honcho_id("k" * 300 + "1"), honcho_id("k" * 300 + "2")

    assert len(first) == len(second) == MAX_ID_CHARS
    assert first != second
    assert first.startswith("kkkk")


# --- opening costs nothing ---------------------------------------------------------------------


def test_building_the_provider_and_opening_managers_sends_nothing(provider, fake):
    manager = opened(provider, DM)
    manager.for_user(ALICE)

    assert fake.requests() == []
    assert "hk-test" not in provider.description
    assert fake.base_url in provider.description


# --- writes ------------------------------------------------------------------------------------


def test_the_honcho_session_comes_from_the_scope_not_the_session_id(provider, fake):
    manager = opened(provider, DM)
    manager.record("gateway-session-abc", ALICE, ("hello",), "hi Alice")
    assert manager.drain(5.0)

    assert fake.sessions() == {DM_SESSION}
    stored = fake.messages(DM_SESSION)
    assert [m["metadata"]["hermes_session_id"] for m in stored] == ["gateway-session-abc"] * 2
    assert stored[0]["metadata"]["user_id"] == "111"
    assert fake.session_peers(DM_SESSION) == {
        "hermes": {"observe_me": True, "observe_others": True},
        ALICE_PEER: {"observe_me": True, "observe_others": True},
    }


def test_a_new_session_id_for_the_same_scope_keeps_the_honcho_session(provider, fake):
    before = opened(provider, DM)
    before.record("session-1", ALICE, ("before /new",), "ok")
    assert before.drain(5.0)
    before.close()

    after = opened(provider, DM)
    after.record("session-2", ALICE, ("after /new",), "ok")
    assert after.drain(5.0)

    assert fake.sessions() == {DM_SESSION}
    stored = fake.messages(DM_SESSION)
    assert [m["content"] for m in stored] == ["before /new", "ok", "after /new", "ok"]
    ids = [m["metadata"]["hermes_session_id"] for m in stored]
    assert ids == ["session-1", "session-1", "session-2", "session-2"]


def test_record_sends_the_inputs_as_the_user_then_the_reply_as_the_ai_in_order(provider, fake):
    manager = opened(provider, DM)
    manager.record("s", ALICE, ("first", "   ", "second"), "the answer")
    manager.record("s", ALICE, ("third",), "")
    assert manager.drain(5.0)

    assert contents(fake.messages(DM_SESSION)) == [
        (ALICE_PEER, "first"),
        (ALICE_PEER, "second"),
        ("hermes", "the answer"),
        (ALICE_PEER, "third"),
    ]


def test_two_users_in_one_group_are_two_peers(provider, fake):
    manager = opened(provider, GROUP)
    manager.record("s", ALICE, ("Alice here",), "hello Alice")
    manager.record("s", BOB, ("Bob here",), "hello Bob")
    assert manager.drain(5.0)

    assert contents(fake.messages(GROUP_SESSION)) == [
        (ALICE_PEER, "Alice here"),
        ("hermes", "hello Alice"),
        (BOB_PEER, "Bob here"),
        ("hermes", "hello Bob"),
    ]
    assert set(fake.session_peers(GROUP_SESSION)) == {"hermes", ALICE_PEER, BOB_PEER}
    assert {ALICE_PEER, BOB_PEER, "hermes"} <= fake.peers()


def test_a_message_over_the_honcho_limit_is_chunked_in_order(provider, fake):
    manager = opened(provider, DM)
    text = "".join(str(n % 10) for n in range(60_000))
    manager.record("s", ALICE, (text,), "ok")
    assert manager.drain(5.0)

    stored = fake.messages(DM_SESSION)
    chunks = [m for m in stored if m["peer_id"] == ALICE_PEER]
    assert [len(m["content"]) for m in chunks] == [25_000, 25_000, 10_000]
    assert "".join(m["content"] for m in chunks) == text
    assert [(m["metadata"]["chunk"], m["metadata"]["chunks"]) for m in chunks] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]


def test_drain_waits_for_a_slow_write(provider, fake):
    manager = opened(provider, DM)
    fake.delay(0.1)
    manager.record("s", ALICE, ("slow",), "ok")

    assert not manager.drain(0.05)
    assert manager.drain(5.0)
    assert len(fake.messages(DM_SESSION)) == 2


def test_end_session_is_queued_behind_the_writes_and_sends_nothing_itself(provider, fake):
    manager = opened(provider, DM)
    fake.delay(0.05)
    manager.record("s", ALICE, ("last words",), "ok")
    manager.end_session("s")
    assert manager.drain(5.0)

    assert len(fake.messages(DM_SESSION)) == 2
    assert fake.requests()[-1].path.endswith(f"/sessions/{DM_SESSION}/messages")


# --- reads -------------------------------------------------------------------------------------


def test_each_tool_reaches_this_scopes_session_and_this_users_peer(provider, fake):
    dm, group = opened(provider, DM), opened(provider, GROUP)
    dm.record("s", ALICE, ("pizza in the dm",), "ok")
    group.record("s", BOB, ("pizza in the group",), "ok")
    assert dm.drain(5.0)
    assert group.drain(5.0)
    fake.set_card(BOB_PEER, ["Bob is a chef"])
    handle = group.for_user(BOB)
    before = len(fake.requests())

    assert asyncio.run(handle.profile()) == "What Honcho knows about this user:\n- Bob is a chef"
    found = asyncio.run(handle.search("pizza"))
    assert asyncio.run(handle.context("What does Bob cook?")) == "dialectic: What does Bob cook?"
    assert asyncio.run(handle.conclude("Bob  cooks pasta")) == 'Saved: "Bob cooks pasta".'

    assert "Bob (user 222): pizza in the group" in found
    assert "in the dm" not in found
    calls = [(r.method, r.path) for r in fake.requests()[before:]]
    base = "/v3/workspaces/hermes"
    assert calls == [
        ("GET", f"{base}/peers/{BOB_PEER}/card"),
        ("POST", f"{base}/sessions/{GROUP_SESSION}/search"),
        ("POST", f"{base}/peers/{BOB_PEER}/chat"),
        ("POST", f"{base}/conclusions"),
    ]
    chat = fake.requests()[before + 2].body
    assert chat["session_id"] == GROUP_SESSION
    assert fake.conclusions()[0] | {"id": "-", "created_at": "-"} == {
        "id": "-",
        "created_at": "-",
        "content": "Bob cooks pasta",
        "observer_id": BOB_PEER,
        "observed_id": BOB_PEER,
        "session_id": GROUP_SESSION,
        "workspace_id": "hermes",
    }


def test_a_first_read_creates_the_session_and_peers_lazily(provider, fake):
    handle = opened(provider, DM).for_user(ALICE)

    assert asyncio.run(handle.profile()) == "Nothing is known about this user yet."
    assert asyncio.run(handle.search("anything")) == 'No earlier messages match "anything".'

    assert fake.sessions() == {DM_SESSION}
    assert set(fake.session_peers(DM_SESSION)) == {"hermes", ALICE_PEER}


def test_a_failed_read_raises_memory_unavailable_with_a_short_reason(provider, fake):
    handle = opened(provider, DM).for_user(ALICE)
    asyncio.run(handle.profile())
    fake.fail_next(1, path_contains="/card")

    with pytest.raises(MemoryUnavailableError) as raised:
        asyncio.run(handle.profile())

    assert str(raised.value).startswith("Honcho memory is unavailable right now: ServerError")
    assert KEY not in str(raised.value)


def test_an_unreachable_honcho_fails_reads_readably_and_drops_writes_quietly(caplog):
    caplog.set_level(logging.WARNING, logger="hermes.adapters.memory")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    memory = HonchoMemoryProvider(settings_for(f"http://127.0.0.1:{port}"), retry=FAST)
    try:
        manager = opened(memory, DM)
        manager.record("s", ALICE, ("nobody hears this",), "ok")
        assert manager.drain(10.0)
        with pytest.raises(MemoryUnavailableError, match="ConnectionError"):
            asyncio.run(manager.for_user(ALICE).search("hears"))
    finally:
        memory.close(5.0)

    assert logged(caplog, f"memory record for scope {DM!r} dropped after 3 attempts", logging.ERROR)


# --- failures ----------------------------------------------------------------------------------


def test_a_500_on_a_write_is_retried_and_the_write_arrives_once(provider, fake, caplog):
    caplog.set_level(logging.WARNING, logger="hermes.adapters.memory")
    manager = opened(provider, DM)
    fake.fail_next(1, path_contains="/messages")

    manager.record("s", ALICE, ("exactly once",), "ok")

    assert manager.drain(5.0)
    assert contents(fake.messages(DM_SESSION)) == [(ALICE_PEER, "exactly once"), ("hermes", "ok")]
    statuses = [r.status for r in fake.requests() if r.path.endswith("/messages")]
    assert statuses == [500, 200]
    assert logged(caplog, f"memory record for scope {DM!r} failed (attempt 1)")


def test_a_write_that_keeps_failing_is_logged_and_dropped_and_nothing_raises(
    provider, fake, caplog
):
    caplog.set_level(logging.WARNING, logger="hermes.adapters.memory")
    manager = opened(provider, DM)
    fake.fail_next(3, path_contains="/messages")

    manager.record("s", ALICE, ("doomed",), "ok")
    assert manager.drain(5.0)

    assert fake.messages(DM_SESSION) == []
    assert logged(caplog, f"memory record for scope {DM!r} dropped after 3 attempts", logging.ERROR)
    manager.record("s", ALICE, ("the next one",), "ok")
    assert manager.drain(5.0)
    assert [m["content"] for m in fake.messages(DM_SESSION)] == ["the next one", "ok"]


def test_the_api_key_is_sent_but_never_logged_nor_shown(provider, fake, caplog):
    caplog.set_level(logging.DEBUG)
    manager = opened(provider, DM)
    fake.fail_next(2, path_contains="/messages")
    manager.record("s", ALICE, ("hello",), "ok")
    assert manager.drain(5.0)
    fake.fail_next(1, path_contains="/search")
    with pytest.raises(MemoryUnavailableError) as raised:
        asyncio.run(manager.for_user(ALICE).search("hello"))

    assert {r.authorization for r in fake.requests()} == {f"Bearer {KEY}"}
    assert any("injected failure" in r.getMessage() for r in caplog.records)
    assert not [r.getMessage() for r in caplog.records if KEY in r.getMessage()]
    assert KEY not in str(raised.value)
    assert "Bearer ***" in str(raised.value)
    assert KEY not in "".join(traceback.format_exception(raised.value))


def test_without_a_key_the_process_environment_never_leaks_in(fake, monkeypatch):
    monkeypatch.setenv("HONCHO_API_KEY", "env-key-must-not-be-sent")
    monkeypatch.setenv("HONCHO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HONCHO_WORKSPACE_ID", "env-workspace")
    memory = HonchoMemoryProvider(settings_for(fake.base_url, api_key=None), retry=FAST)
    try:
        manager = opened(memory, DM)
        manager.record("s", ALICE, ("hello",), "ok")
        assert manager.drain(5.0)
    finally:
        memory.close(5.0)

    requests = fake.requests()
    assert requests
    assert {r.authorization for r in requests} == {""}
    assert all(r.path.startswith("/v3/workspaces") for r in requests)
    assert {r.path.split("/")[3] for r in requests if r.path != "/v3/workspaces"} == {"hermes"}


def test_a_closed_provider_refuses_new_managers_and_drops_late_writes(fake, caplog):
    caplog.set_level(logging.ERROR, logger="hermes.adapters.memory")
    memory = HonchoMemoryProvider(settings_for(fake.base_url), retry=FAST)
    manager = opened(memory, DM)
    memory.close(5.0)

    manager.record("s", ALICE, ("too late",), "ok")

    assert logged(caplog, "dropped: provider closed", logging.ERROR)
    with pytest.raises(RuntimeError, match="closed"):
        memory.open(scope_of(DM))
    with pytest.raises(MemoryUnavailableError):
        asyncio.run(manager.for_user(ALICE).profile())
    assert fake.requests() == []


# --- isolation at scale ------------------------------------------------------------------------


def test_fifty_managers_at_once_each_write_and_read_only_their_own_session(provider, fake):
    keys = [f"agent:main:telegram:dm:{n}" for n in range(50)]
    managers = [opened(provider, key) for key in keys]
    users = [Sender(user_id=str(n), user_name=f"user{n}") for n in range(50)]
    start = threading.Barrier(51)

    def session(n: int) -> None:
        start.wait(10.0)
        for turn in range(3):
            managers[n].record(f"s-{n}", users[n], (f"shared marker{n} turn{turn}",), f"re{n}")

    async def reads() -> tuple[list[str], list[str]]:
        handles = [manager.for_user(users[n]) for n, manager in enumerate(managers)]
        concluded = await asyncio.gather(
            *(h.conclude(f"fact of marker{n}") for n, h in enumerate(handles))
        )
        found = await asyncio.gather(*(h.search("shared") for h in handles))
        return concluded, found

    with ThreadPoolExecutor(max_workers=50, thread_name_prefix="session") as sessions:
        recorded = [sessions.submit(session, n) for n in range(50)]
        start.wait(10.0)
        concluded, during = asyncio.run(reads())
        for done in recorded:
            done.result(10.0)
    assert all(manager.drain(10.0) for manager in managers)

    assert all(answer.startswith("Saved") for answer in concluded)
    for n, answer in enumerate(during):
        assert {m for m in range(50) if f"marker{m} " in answer} <= {n}
    stored = fake.all_messages()
    assert set(stored) == {honcho_id(key) for key in keys}
    for n, key in enumerate(keys):
        assert contents(stored[honcho_id(key)]) == [
            item
            for turn in range(3)
            for item in (
                (f"user-telegram-{n}", f"shared marker{n} turn{turn}"),
                ("hermes", f"re{n}"),
            )
        ]
    for conclusion in fake.conclusions():
        n = int(conclusion["content"].removeprefix("fact of marker"))
        assert conclusion["observed_id"] == f"user-telegram-{n}"
        assert conclusion["session_id"] == honcho_id(keys[n])


# --- shutdown while a read is in flight --------------------------------------------------------


def test_a_read_cut_off_by_closing_the_provider_fails_readably(fake):
    memory = HonchoMemoryProvider(settings_for(fake.base_url), retry=FAST)
    handle = opened(memory, DM).for_user(ALICE)
    asyncio.run(handle.profile())
    fake.delay(3.0)

    async def scenario() -> BaseException | str:
        read = asyncio.ensure_future(handle.search("anything"))
        await asyncio.to_thread(fake.wait_for_in_flight, 1)
        await asyncio.to_thread(memory.close, 0.1)
        try:
            return await read
        except MemoryUnavailableError as error:
            return error

    started = time.monotonic()
    outcome = asyncio.run(scenario())

    assert isinstance(outcome, MemoryUnavailableError)
    assert time.monotonic() - started < 2.5


def test_a_caller_that_gives_up_on_a_read_sees_its_own_timeout(provider, fake):
    handle = opened(provider, DM).for_user(ALICE)
    asyncio.run(handle.profile())
    fake.delay(0.5)

    async def impatient() -> str:
        return await asyncio.wait_for(handle.search("anything"), 0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(impatient())
