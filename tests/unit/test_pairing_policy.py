"""The DM pairing rules (reference §3.3): codes, each limit, expiry, lockout, revoke."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hermes.messages.access import PlatformUser
from hermes.messages.pairing import (
    ApprovalRefusal,
    CodeIssued,
    CodeWithdrawn,
    GuardChanged,
    PairingGuard,
    PairingState,
    RequestMark,
    RequestsForgotten,
    UserApproved,
    UserRevoked,
)
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from hermes.policies.pairing import (
    ALPHABET,
    CODE_LENGTH,
    AlreadyApproved,
    CodeSecret,
    Issued,
    PairingLimits,
    Refusal,
    Refused,
    approve_code,
    code_matches,
    code_text,
    listing,
    new_secret,
    normalize_code,
    request_code,
    revoke_user,
    tidy,
)

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TG = Platform.TELEGRAM
DC = Platform.DISCORD
LIMITS = PairingLimits(hash_iterations=1_000)
"""The real limits, with cheap hashing (the default rounds are tested once below)."""


def dm(user_id="u1", platform=TG, name="Alice"):
    return InboundMessage(
        message_id=f"m-{user_id}",
        origin=ChatAddress(platform=platform, chat_id=f"chat-{user_id}", chat_type=ChatType.DM),
        sender=Sender(user_id=user_id, user_name=name),
        text="hello?",
        received_at=T0,
    )


def secret(code="ABCDEFGH", salt=b"0123456789abcdef"):
    return CodeSecret(code=code, salt=salt)


def issue(state, user_id, at, code, platform=TG):
    outcome = request_code(state, dm(user_id, platform), at, secret(code), LIMITS)
    assert isinstance(outcome.answer, Issued), outcome.answer
    return outcome.state


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# -- codes --------------------------------------------------------------------------------------


def test_codes_are_eight_characters_of_the_unambiguous_alphabet():
    assert len(ALPHABET) == 32
    assert not set("0O1I") & set(ALPHABET)
    drawn = [new_secret() for _ in range(50)]
    assert all(len(s.code) == CODE_LENGTH and set(s.code) <= set(ALPHABET) for s in drawn)
    assert len({s.code for s in drawn}) > 45
    assert len({s.salt for s in drawn}) == 50
    assert all(len(s.salt) == 16 for s in drawn)


def test_the_choice_of_characters_is_injectable():
    picks = iter("ZZZZ2345")
    assert new_secret(lambda _alphabet: next(picks)).code == "ZZZZ2345"


def test_approval_input_is_trimmed_and_upper_cased():
    assert normalize_code("  abcd efgh\n") == "ABCD EFGH"
    assert normalize_code(" k7m2pq9x ") == "K7M2PQ9X"


def test_a_code_is_stored_only_as_a_salted_hash():
    outcome = request_code(PairingState(), dm(), T0, secret("K7M2PQ9X"), LIMITS)
    (pending,) = outcome.state.pending
    assert outcome.changes == (CodeIssued(pending=pending),)
    assert "K7M2PQ9X" not in repr(outcome.state)
    assert "K7M2PQ9X" not in repr(outcome.changes)
    assert "K7M2PQ9X" not in repr(outcome.answer)
    assert "K7M2PQ9X" not in repr(secret("K7M2PQ9X"))
    assert pending.salt == b"0123456789abcdef".hex()
    assert pending.iterations == LIMITS.hash_iterations
    assert code_matches(pending, "K7M2PQ9X")
    assert not code_matches(pending, "K7M2PQ9Y")
    other_salt = request_code(PairingState(), dm(), T0, secret("K7M2PQ9X", b"f" * 16), LIMITS)
    assert other_salt.state.pending[0].code_hash != pending.code_hash


def test_the_default_rounds_hash_and_verify():
    outcome = request_code(PairingState(), dm(), T0, secret(), PairingLimits())
    (pending,) = outcome.state.pending
    assert pending.iterations == 100_000
    approved = approve_code(outcome.state, TG, "abcdefgh", T0, PairingLimits())
    assert approved.answer.user is not None


def test_the_code_text_names_the_code_and_the_approve_command():
    text = code_text(TG, "K7M2PQ9X")
    assert "Your pairing code is K7M2PQ9X" in text
    assert "`python -m hermes.actors admin pairing approve telegram K7M2PQ9X`" in text


# -- requests -----------------------------------------------------------------------------------


def test_an_unknown_user_gets_a_code_valid_for_an_hour():
    outcome = request_code(PairingState(), dm(), T0, secret(), LIMITS)
    assert outcome.answer == Issued(code="ABCDEFGH", expires_at=T0 + timedelta(hours=1))
    (pending,) = outcome.state.pending
    assert (pending.platform, pending.user_id, pending.user_name) == (TG, "u1", "Alice")
    assert pending.chat == dm().origin
    assert outcome.state.requests == (RequestMark(platform=TG, user_id="u1", requested_at=T0),)


def test_one_new_code_per_user_per_ten_minutes():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    again = request_code(state, dm(), T0 + minutes(9.99), secret("BBBBBBBB"), LIMITS)
    assert again.answer == Refused(reason=Refusal.TOO_SOON)
    assert again.changes == ()
    assert again.state == state
    later = request_code(state, dm(), T0 + minutes(10), secret("CCCCCCCC"), LIMITS)
    assert isinstance(later.answer, Issued)
    (pending,) = later.state.pending
    assert code_matches(pending, "CCCCCCCC")
    assert not code_matches(pending, "AAAAAAAA")
    forgotten = RequestsForgotten(platform=TG, user_ids=("u1",))
    assert later.changes == (forgotten, CodeIssued(pending=pending))


def test_the_rate_limit_is_per_user_and_per_platform():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    assert isinstance(request_code(state, dm("u2"), T0, secret(), LIMITS).answer, Issued)
    assert isinstance(request_code(state, dm("u1", DC), T0, secret(), LIMITS).answer, Issued)


def test_at_most_three_codes_wait_per_platform():
    state = PairingState()
    for user, code in (("u1", "AAAAAAAA"), ("u2", "BBBBBBBB"), ("u3", "CCCCCCCC")):
        state = issue(state, user, T0, code)
    full = request_code(state, dm("u4"), T0 + minutes(1), secret(), LIMITS)
    assert full.answer == Refused(reason=Refusal.PLATFORM_FULL)
    assert full.changes == ()
    assert isinstance(request_code(state, dm("u4", DC), T0, secret(), LIMITS).answer, Issued)
    approved = approve_code(state, TG, "BBBBBBBB", T0 + minutes(2), LIMITS)
    freed = request_code(approved.state, dm("u4"), T0 + minutes(3), secret(), LIMITS)
    assert isinstance(freed.answer, Issued)


def test_a_user_replacing_their_own_code_does_not_count_against_the_cap():
    state = PairingState()
    for user, code in (("u1", "AAAAAAAA"), ("u2", "BBBBBBBB"), ("u3", "CCCCCCCC")):
        state = issue(state, user, T0, code)
    renewed = request_code(state, dm("u1"), T0 + minutes(11), secret("DDDDDDDD"), LIMITS)
    assert isinstance(renewed.answer, Issued)
    assert len(renewed.state.pending) == 3


def test_expired_codes_free_their_slot_and_are_withdrawn():
    state = PairingState()
    for user, code in (("u1", "AAAAAAAA"), ("u2", "BBBBBBBB"), ("u3", "CCCCCCCC")):
        state = issue(state, user, T0, code)
    outcome = request_code(state, dm("u4"), T0 + timedelta(hours=1), secret(), LIMITS)
    assert isinstance(outcome.answer, Issued)
    withdrawn = [c for c in outcome.changes if isinstance(c, CodeWithdrawn)]
    assert {c.user_id for c in withdrawn} == {"u1", "u2", "u3"}
    assert [p.user_id for p in outcome.state.pending] == ["u4"]


def test_an_approved_user_who_asks_again_gets_no_code():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    state = approve_code(state, TG, "AAAAAAAA", T0, LIMITS).state
    again = request_code(state, dm(), T0 + timedelta(hours=3), secret(), LIMITS)
    assert again.answer == AlreadyApproved()
    assert again.state.pending == ()
    assert not any(isinstance(c, CodeIssued) for c in again.changes)


# -- approval -----------------------------------------------------------------------------------


def test_approving_a_code_approves_its_user_and_withdraws_it():
    state = issue(PairingState(), "u1", T0, "K7M2PQ9X")
    outcome = approve_code(state, TG, "  k7m2pq9x ", T0 + minutes(5), LIMITS)
    user = outcome.answer.user
    assert user is not None
    assert (user.platform, user.user_id, user.user_name) == (TG, "u1", "Alice")
    assert user.chat == dm().origin
    assert user.approved_at == T0 + minutes(5)
    assert outcome.changes == (CodeWithdrawn(platform=TG, user_id="u1"), UserApproved(user=user))
    assert outcome.state.pending == ()
    assert outcome.state.approved_users() == frozenset({PlatformUser(platform=TG, user_id="u1")})
    twice = approve_code(outcome.state, TG, "K7M2PQ9X", T0 + minutes(6), LIMITS)
    assert twice.answer.refusal is ApprovalRefusal.NO_MATCH


def test_a_code_is_valid_for_exactly_one_hour():
    state = issue(PairingState(), "u1", T0, "K7M2PQ9X")
    just = approve_code(state, TG, "K7M2PQ9X", T0 + timedelta(minutes=59, seconds=59), LIMITS)
    assert just.answer.user is not None
    late = approve_code(state, TG, "K7M2PQ9X", T0 + timedelta(hours=1), LIMITS)
    assert late.answer.refusal is ApprovalRefusal.NO_MATCH
    assert CodeWithdrawn(platform=TG, user_id="u1") in late.changes


def test_a_code_approves_only_on_its_platform():
    state = issue(PairingState(), "u1", T0, "K7M2PQ9X")
    outcome = approve_code(state, DC, "K7M2PQ9X", T0, LIMITS)
    assert outcome.answer.refusal is ApprovalRefusal.NO_MATCH
    assert outcome.state.pending == state.pending


def test_five_failed_approvals_lock_the_platform_for_an_hour():
    state = issue(PairingState(), "u1", T0, "K7M2PQ9X")
    for attempt in range(1, 5):
        outcome = approve_code(state, TG, "WRONGCDE", T0 + minutes(attempt), LIMITS)
        assert outcome.answer.refusal is ApprovalRefusal.NO_MATCH
        assert outcome.answer.attempts_left == 5 - attempt
        assert outcome.answer.locked_until is None
        assert outcome.changes == (GuardChanged(guard=PairingGuard(platform=TG, failures=attempt)),)
        state = outcome.state
    fifth = approve_code(state, TG, "not even a code", T0 + minutes(5), LIMITS)
    until = T0 + minutes(5) + timedelta(hours=1)
    assert fifth.answer.attempts_left == 0
    assert fifth.answer.locked_until == until
    assert fifth.changes == (GuardChanged(guard=PairingGuard(platform=TG, locked_until=until)),)
    state = fifth.state

    locked = approve_code(state, TG, "K7M2PQ9X", T0 + minutes(6), LIMITS)
    assert locked.answer.refusal is ApprovalRefusal.LOCKED
    assert locked.answer.locked_until == until
    assert locked.changes == ()
    refused = request_code(state, dm("u9"), T0 + minutes(6), secret(), LIMITS)
    assert refused.answer == Refused(reason=Refusal.LOCKED)
    assert isinstance(request_code(state, dm("u9", DC), T0, secret(), LIMITS).answer, Issued)
    assert [g.platform for g in listing(state, T0 + minutes(6), LIMITS).locked] == [TG]

    after = request_code(state, dm("u9"), until, secret("ZZZZZZZZ"), LIMITS)
    assert isinstance(after.answer, Issued)
    assert GuardChanged(guard=PairingGuard(platform=TG)) in after.changes
    approved = approve_code(after.state, TG, "ZZZZZZZZ", until, LIMITS)
    assert approved.answer.user is not None


def test_a_success_starts_the_failure_count_again():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    state = issue(state, "u2", T0, "BBBBBBBB")
    for _ in range(4):
        state = approve_code(state, TG, "WRONGCDE", T0, LIMITS).state
    success = approve_code(state, TG, "AAAAAAAA", T0, LIMITS)
    assert GuardChanged(guard=PairingGuard(platform=TG)) in success.changes
    state = success.state
    for _ in range(4):
        state = approve_code(state, TG, "WRONGCDE", T0, LIMITS).state
    assert approve_code(state, TG, "BBBBBBBB", T0, LIMITS).answer.user is not None


# -- revoke, listing, tidying -------------------------------------------------------------------


def test_revoke_removes_the_approval_at_once():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    state = approve_code(state, TG, "AAAAAAAA", T0, LIMITS).state
    outcome = revoke_user(state, TG, "u1")
    assert outcome.answer.was_approved
    assert not outcome.answer.withdrew_code
    assert outcome.changes == (UserRevoked(platform=TG, user_id="u1"),)
    assert outcome.state.approved_users() == frozenset()


def test_revoke_withdraws_a_pending_code_and_ignores_strangers():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    outcome = revoke_user(state, TG, "u1")
    assert (outcome.answer.was_approved, outcome.answer.withdrew_code) == (False, True)
    assert outcome.changes == (CodeWithdrawn(platform=TG, user_id="u1"),)
    assert approve_code(outcome.state, TG, "AAAAAAAA", T0, LIMITS).answer.user is None
    nobody = revoke_user(state, TG, "u7")
    assert (nobody.answer.was_approved, nobody.answer.withdrew_code, nobody.changes) == (
        False,
        False,
        (),
    )
    other_platform = revoke_user(state, DC, "u1")
    assert other_platform.state == state


def test_a_revoked_user_waits_out_the_rate_limit_before_a_new_code():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    state = approve_code(state, TG, "AAAAAAAA", T0 + minutes(1), LIMITS).state
    state = revoke_user(state, TG, "u1").state
    soon = request_code(state, dm(), T0 + minutes(2), secret(), LIMITS)
    assert soon.answer == Refused(reason=Refusal.TOO_SOON)
    later = request_code(state, dm(), T0 + minutes(10), secret(), LIMITS)
    assert isinstance(later.answer, Issued)


def test_the_listing_shows_requests_without_codes_approved_users_and_lockouts():
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    state = issue(state, "u2", T0 + minutes(1), "BBBBBBBB")
    state = issue(state, "d1", T0 + minutes(2), "CCCCCCCC", platform=DC)
    state = approve_code(state, TG, "BBBBBBBB", T0 + minutes(3), LIMITS).state
    shown = listing(state, T0 + minutes(4), LIMITS)
    assert shown.listed_at == T0 + minutes(4)
    assert [(p.platform, p.user_id) for p in shown.pending] == [(DC, "d1"), (TG, "u1")]
    first = next(p for p in shown.pending if p.user_id == "u1")
    assert (first.requested_at, first.expires_at) == (T0, T0 + timedelta(hours=1))
    assert "AAAAAAAA" not in repr(shown)
    assert [(u.platform, u.user_id) for u in shown.approved] == [(TG, "u2")]
    assert shown.locked == ()
    assert [p.user_id for p in listing(state, T0 + minutes(61), LIMITS).pending] == ["d1"]


def test_tidying_forgets_stale_marks_and_ended_lockouts():
    state = PairingState(
        requests=(
            RequestMark(platform=TG, user_id="old", requested_at=T0 - minutes(10)),
            RequestMark(platform=TG, user_id="new", requested_at=T0 - minutes(9)),
        ),
        guards=(
            PairingGuard(platform=TG, locked_until=T0),
            PairingGuard(platform=DC, locked_until=T0 + minutes(1)),
            PairingGuard(platform=Platform.CONSOLE, failures=2),
        ),
    )
    tidied, changes = tidy(state, T0, LIMITS)
    assert changes == [
        RequestsForgotten(platform=TG, user_ids=("old",)),
        GuardChanged(guard=PairingGuard(platform=TG)),
    ]
    assert [m.user_id for m in tidied.requests] == ["new"]
    assert tidied.guards == state.guards[1:]
    assert tidy(tidied, T0, LIMITS) == (tidied, [])


@pytest.mark.parametrize("typed", ["", "ABC", "ABCDEFGH0", "ABCDEFG0", "ABCDEFGI"])
def test_malformed_codes_count_as_failed_approvals(typed):
    state = issue(PairingState(), "u1", T0, "ABCDEFGH")
    outcome = approve_code(state, TG, typed, T0, LIMITS)
    assert outcome.answer.refusal is ApprovalRefusal.NO_MATCH
    assert outcome.answer.attempts_left == 4


def test_limits_are_parameters():
    tight = replace(LIMITS, max_pending=1, max_failures=2, code_ttl=minutes(5))
    state = issue(PairingState(), "u1", T0, "AAAAAAAA")
    assert request_code(state, dm("u2"), T0, secret(), tight).answer == Refused(
        reason=Refusal.PLATFORM_FULL
    )
    state = approve_code(state, TG, "WRONGCDE", T0, tight).state
    locked = approve_code(state, TG, "WRONGCDE", T0, tight)
    assert locked.answer.locked_until == T0 + timedelta(hours=1)
