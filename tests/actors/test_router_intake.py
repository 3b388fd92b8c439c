"""The real RouterActor's intake: receipts, the journal, re-deliveries and resumed messages.

Sessions and the Store are recording probes: the test checks what the Router asks of them.
"""

from __future__ import annotations

from dataclasses import replace

from hermes.messages.intake import InboundJournaled, InboundReceipt, InboundRef
from hermes.messages.router import RouteInbound
from hermes.messages.session import HandleUserMessage
from hermes.messages.store import RecordInbound, Settle
from hermes.policies.authorization import AuthRules
from tests.actors.test_router import DM_KEY, FakeSessions, message, start_router, status
from tests.fakes.recording import RecordingAddress


def receipt(platform: RecordingAddress, token: str) -> InboundReceipt:
    return InboundReceipt(token=token, reply_to=platform)


def test_a_message_is_journaled_whole_with_its_receipt():
    sessions, store, platform = FakeSessions(), RecordingAddress("store"), RecordingAddress("p")
    router = start_router(sessions, store)
    hello = message("hello")
    router.tell(RouteInbound(message=hello, receipt=receipt(platform, "r1")))

    journaled = store.expect(RecordInbound)
    assert journaled.message == hello
    assert journaled.receipt == receipt(platform, "r1")
    assert platform.messages == []  # the Store answers it, after its commit


def test_a_redelivery_is_dropped_but_its_receipt_still_goes_through_the_store():
    sessions, store, platform = FakeSessions(), RecordingAddress("store"), RecordingAddress("p")
    router = start_router(sessions, store)
    hello = message("hello")
    router.tell(RouteInbound(message=hello, receipt=receipt(platform, "r1")))
    router.tell(RouteInbound(message=hello, receipt=receipt(platform, "r2")))

    assert status(router).duplicates_dropped == 1
    first, again = store.expect(RecordInbound, count=2), store.of_type(RecordInbound)[0]
    assert (again.message, first.message) == (hello, None)  # kept once; then only confirmed
    assert first.receipt == receipt(platform, "r2")
    (session,) = sessions.handles(DM_KEY)
    assert len(session.address.of_type(HandleUserMessage)) == 1


def test_refused_and_waiting_senders_are_confirmed_at_once_and_never_journaled():
    sessions, store, platform = FakeSessions(), RecordingAddress("store"), RecordingAddress("p")
    router = start_router(sessions, store, auth=AuthRules(allowed_users=frozenset({"u9"})))
    router.tell(RouteInbound(message=message("who?"), receipt=receipt(platform, "refused")))
    waiting = replace(message("http", user_id="u9"), awaits_reply=True)
    router.tell(RouteInbound(message=waiting, receipt=receipt(platform, "http")))

    platform.expect(InboundJournaled, count=2)
    assert [m.token for m in platform.messages] == ["refused", "http"]
    assert store.of_type(RecordInbound) == []


def test_a_resumed_message_is_routed_again_without_a_second_journal_entry():
    sessions, store = FakeSessions(), RecordingAddress("store")
    hello = message("hello")
    router = start_router(sessions, store, recent_inbound=((hello.origin.platform, "c1-hello"),))
    router.tell(RouteInbound(message=hello, resumed=True))
    router.tell(RouteInbound(message=hello))  # then Telegram delivers it again

    assert status(router).routed == 1
    assert status(router).duplicates_dropped == 1
    (session,) = sessions.handles(DM_KEY)
    assert session.address.expect(HandleUserMessage).message == hello
    assert store.of_type(RecordInbound) == []  # journaled by the last run; no receipt to answer


def test_a_resumed_message_from_someone_no_longer_allowed_is_settled_unanswered():
    sessions, store = FakeSessions(), RecordingAddress("store")
    router = start_router(sessions, store, auth=AuthRules(allowed_users=frozenset({"u9"})))
    router.tell(RouteInbound(message=message("old"), resumed=True))

    settle = store.expect(Settle)
    assert settle.inputs == (
        InboundRef(platform=message("old").origin.platform, message_id="c1-old"),
    )
    assert settle.reply is None
    assert sessions.spawned == []
