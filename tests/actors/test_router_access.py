"""The real RouterActor deciding access with approved pairings; collaborators are probes."""

from __future__ import annotations

from datetime import UTC, datetime

from hermes.actors.address import ActorAddress
from hermes.actors.router import RouterActor, RouterDeps
from hermes.messages.access import AuthRules, DmBehavior, PlatformRules, PlatformUser
from hermes.messages.pairing import RequestPairing
from hermes.messages.router import (
    ApprovedUsersChanged,
    GetRouterStatus,
    ReplaceAuthRules,
    RouteInbound,
    RouterStatus,
)
from hermes.messages.session import HandleUserMessage
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from tests.fakes.recording import RecordingAddress

TG = Platform.TELEGRAM
ALLOWLIST = AuthRules(platforms=(PlatformRules(platform=TG, allowed_users=frozenset({"owner"})),))


class Spawned:
    """A SessionFactory whose sessions are recording probes."""

    def __init__(self) -> None:
        self.by_key: dict[str, RecordingAddress] = {}

    def spawn(self, route, incarnation, router):
        del incarnation, router
        probe = RecordingAddress(str(route.key))
        self.by_key[route.key.value] = probe
        return _Handle(probe)

    def texts(self) -> list[str]:
        return [m.message.text for p in self.by_key.values() for m in p.of_type(HandleUserMessage)]


class _Handle:
    def __init__(self, address) -> None:
        self.address = address

    def stop(self, timeout: float) -> None:
        del timeout


def msg(text, user_id="u1", chat_type=ChatType.DM):
    chat = f"chat-{user_id}" if chat_type is ChatType.DM else "-100"
    return InboundMessage(
        message_id=f"{user_id}-{text}",
        origin=ChatAddress(platform=TG, chat_id=chat, chat_type=chat_type),
        sender=Sender(user_id=user_id),
        text=text,
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
    )


def start(sessions, pairing, auth=AuthRules(), approved=frozenset()):  # noqa: B008
    return ActorAddress(
        RouterActor.start(
            RouterDeps(
                sessions=sessions,
                store=RecordingAddress("store"),
                group_sessions_per_user=True,
                auth=auth,
                pairing=pairing,
                approved=approved,
            )
        )
    )


def status(router) -> RouterStatus:
    return router.ask(GetRouterStatus(), timeout=2.0)


def test_a_stranger_dm_asks_pairing_and_a_group_stays_silent():
    sessions, pairing = Spawned(), RecordingAddress("pairing")
    router = start(sessions, pairing)
    router.tell(RouteInbound(message=msg("let me in")))
    router.tell(RouteInbound(message=msg("hello all", user_id="u2", chat_type=ChatType.GROUP)))
    assert status(router).unauthorized_dropped == 2
    (request,) = pairing.of_type(RequestPairing)
    assert request.message.text == "let me in"
    assert sessions.texts() == []


def test_an_allowlist_means_strangers_are_ignored_unless_pairing_is_asked_for():
    sessions, pairing = Spawned(), RecordingAddress("pairing")
    router = start(sessions, pairing, auth=ALLOWLIST)
    router.tell(RouteInbound(message=msg("hi")))
    status(router)
    assert pairing.messages == []
    pairs = AuthRules(
        unauthorized_dm=DmBehavior.PAIR,
        platforms=(PlatformRules(platform=TG, allowed_users=frozenset({"owner"})),),
    )
    router.tell(ReplaceAuthRules(rules=pairs))
    router.tell(RouteInbound(message=msg("hi again")))
    status(router)
    assert [r.message.text for r in pairing.of_type(RequestPairing)] == ["hi again"]


def test_approved_users_are_served_until_revoked():
    sessions, pairing = Spawned(), RecordingAddress("pairing")
    approved = frozenset({PlatformUser(platform=TG, user_id="u1")})
    router = start(sessions, pairing, auth=ALLOWLIST, approved=approved)
    router.tell(RouteInbound(message=msg("one")))
    router.tell(ApprovedUsersChanged(approved=frozenset()))
    router.tell(RouteInbound(message=msg("two")))
    router.tell(ApprovedUsersChanged(approved=approved))
    router.tell(RouteInbound(message=msg("three")))
    report = status(router)
    assert sessions.texts() == ["one", "three"]
    assert report.unauthorized_dropped == 1
    assert pairing.messages == []


def test_replaced_rules_apply_from_the_next_message():
    sessions, pairing = Spawned(), RecordingAddress("pairing")
    router = start(sessions, pairing, auth=ALLOWLIST)
    router.tell(RouteInbound(message=msg("before", user_id="u7")))
    router.tell(ReplaceAuthRules(rules=AuthRules(allow_all=True)))
    router.tell(RouteInbound(message=msg("after", user_id="u7")))
    status(router)
    assert sessions.texts() == ["after"]


def test_without_pairing_nothing_is_asked():
    sessions = Spawned()
    router = start(sessions, None)
    router.tell(RouteInbound(message=msg("hi")))
    assert status(router).unauthorized_dropped == 1


def test_a_stopped_pairing_actor_does_not_take_the_router_down():
    sessions, pairing = Spawned(), RecordingAddress("pairing")
    pairing.closed = True
    router = start(sessions, pairing)
    router.tell(RouteInbound(message=msg("hi")))
    assert status(router).unauthorized_dropped == 1
    assert router.is_alive()
