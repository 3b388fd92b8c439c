"""The real PairingActor; the Store, Delivery and the Router are recording probes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.pairing import PairingActor, PairingDeps
from hermes.messages.access import PlatformUser
from hermes.messages.delivery import DeliverMessage, OutboundKind
from hermes.messages.pairing import (
    ApprovalRefusal,
    ApprovePairing,
    CodeIssued,
    CodeWithdrawn,
    GuardChanged,
    ListPairings,
    PairingApproval,
    PairingGuard,
    PairingListing,
    PairingRevocation,
    PairingState,
    RequestPairing,
    RevokePairing,
    UserApproved,
    UserRevoked,
)
from hermes.messages.router import ApprovedUsersChanged
from hermes.messages.store import RecordPairing
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from hermes.policies.pairing import APPROVED_TEXT, REFUSED_TEXT, CodeSecret, PairingLimits
from tests.fakes.recording import FakeClock, RecordingAddress

TG = Platform.TELEGRAM
CODES = ("K7M2PQ9X", "ZZZZ2345", "HJKL6789", "ABCDEFGH")


class Probes:
    def __init__(self) -> None:
        self.store = RecordingAddress("store")
        self.delivery = RecordingAddress("delivery")
        self.router = RecordingAddress("router")
        self.clock = FakeClock()


@pytest.fixture
def probes():
    return Probes()


def start(probes: Probes, state: PairingState | None = None):
    codes = iter(CODES)
    deps = PairingDeps(
        state=state or PairingState(),
        store=probes.store,
        delivery=probes.delivery,
        router=probes.router,
        clock=probes.clock,
        limits=PairingLimits(hash_iterations=1_000),
        new_secret=lambda: CodeSecret(code=next(codes), salt=b"s" * 16),
    )
    return ActorAddress(PairingActor.start(deps))


def dm(user_id="u1", name="Alice"):
    return InboundMessage(
        message_id=f"msg-{user_id}",
        origin=ChatAddress(platform=TG, chat_id=f"chat-{user_id}", chat_type=ChatType.DM),
        sender=Sender(user_id=user_id, user_name=name),
        text="hi",
        received_at=FakeClock().now(),
    )


def approve(pairing, code) -> PairingApproval:
    return pairing.ask(ApprovePairing(platform=TG, code=code), timeout=2.0)


def test_an_unknown_user_is_sent_a_code_and_it_is_persisted_hashed(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    sent = probes.delivery.expect(DeliverMessage)
    assert sent.message.target == dm().origin
    assert sent.message.in_reply_to == "msg-u1"
    assert sent.message.kind is OutboundKind.NOTICE
    assert sent.message.text == (
        "Hi! I don't recognize you yet. Your pairing code is K7M2PQ9X — ask the bot's owner to "
        "run `python -m hermes.actors admin pairing approve telegram K7M2PQ9X`."
    )
    (write,) = probes.store.of_type(RecordPairing)
    (issued,) = write.changes
    assert isinstance(issued, CodeIssued)
    assert issued.pending.user_id == "u1"
    assert "K7M2PQ9X" not in repr(write)
    assert probes.router.messages == []


def test_a_second_request_within_ten_minutes_is_refused(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    pairing.tell(RequestPairing(message=dm()))
    refusal = probes.delivery.expect(DeliverMessage, count=2)
    assert refusal.message.text == REFUSED_TEXT
    assert len(probes.store.of_type(RecordPairing)) == 1


def test_approval_tells_the_user_the_router_and_the_store(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    probes.delivery.expect(DeliverMessage)
    probes.clock.advance(minutes=3)

    answer = approve(pairing, " k7m2pq9x")

    assert answer.user is not None
    assert answer.user.user_id == "u1"
    assert answer.user.approved_at == probes.clock.now()
    changed = probes.router.expect(ApprovedUsersChanged)
    assert changed.approved == frozenset({PlatformUser(platform=TG, user_id="u1")})
    told = probes.delivery.expect(DeliverMessage, count=2)
    assert told.message.target == dm().origin
    assert told.message.text == APPROVED_TEXT
    changes = probes.store.expect(RecordPairing, count=2).changes
    assert changes == (CodeWithdrawn(platform=TG, user_id="u1"), UserApproved(user=answer.user))


def test_a_failed_approval_is_counted_and_changes_no_access(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    answer = approve(pairing, "WRONGCDE")
    assert answer.refusal is ApprovalRefusal.NO_MATCH
    assert answer.attempts_left == 4
    assert probes.store.expect(RecordPairing, count=2).changes == (
        GuardChanged(guard=PairingGuard(platform=TG, failures=1)),
    )
    assert probes.router.messages == []
    assert len(probes.delivery.messages) == 1


def test_revoke_tells_the_router_at_once(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    approve(pairing, "K7M2PQ9X")
    probes.router.expect(ApprovedUsersChanged)

    revoked = pairing.ask(RevokePairing(platform=TG, user_id="u1"), timeout=2.0)

    assert revoked == PairingRevocation(
        platform=TG, user_id="u1", was_approved=True, withdrew_code=False
    )
    assert probes.router.expect(ApprovedUsersChanged, count=2).approved == frozenset()
    assert probes.store.expect(RecordPairing, count=3).changes == (
        UserRevoked(platform=TG, user_id="u1"),
    )


def test_an_approved_user_who_asks_again_is_told_they_are_approved(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm()))
    approve(pairing, "K7M2PQ9X")
    probes.delivery.expect(DeliverMessage, count=2)
    probes.clock.advance(hours=2)
    pairing.tell(RequestPairing(message=dm()))
    assert probes.delivery.expect(DeliverMessage, count=3).message.text == APPROVED_TEXT
    writes = probes.store.of_type(RecordPairing)
    assert not any(isinstance(c, CodeIssued) for w in writes[2:] for c in w.changes)


def test_the_listing_comes_from_the_stored_state_and_the_clock(probes):
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm("u1")))
    probes.delivery.expect(DeliverMessage)
    probes.clock.advance(minutes=5)
    pairing.tell(RequestPairing(message=dm("u2", "Bob")))
    approve(pairing, "ZZZZ2345")
    probes.clock.advance(minutes=1)

    listing: PairingListing = pairing.ask(ListPairings(), timeout=2.0)

    assert listing.listed_at == probes.clock.now()
    assert [(p.user_id, p.user_name) for p in listing.pending] == [("u1", "Alice")]
    assert listing.pending[0].requested_at == probes.clock.now() - timedelta(minutes=6)
    assert [(u.user_id, u.user_name) for u in listing.approved] == [("u2", "Bob")]


def test_a_restarted_actor_continues_from_the_stored_state(probes):
    first = start(probes)
    first.tell(RequestPairing(message=dm()))
    first.ask(ListPairings(), timeout=2.0)
    first.stop(timeout=2.0)
    (write,) = probes.store.of_type(RecordPairing)
    (issued,) = write.changes
    assert isinstance(issued, CodeIssued)

    second = start(probes, PairingState(pending=(issued.pending,), requests=()))

    assert approve(second, "K7M2PQ9X").user is not None


def test_codes_never_reach_the_log(probes, caplog):
    caplog.set_level(logging.DEBUG)
    pairing = start(probes)
    pairing.tell(RequestPairing(message=dm("u1")))
    pairing.tell(RequestPairing(message=dm("u2")))
    approve(pairing, "HJKL6789")
    approve(pairing, "K7M2PQ9X")
    pairing.ask(ListPairings(), timeout=2.0)
    assert "pairing approved" in caplog.text
    for code in CODES:
        assert code not in caplog.text
