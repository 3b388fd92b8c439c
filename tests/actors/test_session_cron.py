"""A SessionActor hands each reply turn cron tools bound to that turn's chat and user."""

from __future__ import annotations

from hermes.actors.address import ActorAddress
from hermes.actors.session import SessionActor
from hermes.actors.session_state import SessionDeps
from hermes.messages.session import HandleUserMessage
from hermes.messages.values import ChatAddress, Platform, Sender
from hermes.policies.session_keys import SessionRoute
from tests.actors.session_harness import (
    KEY,
    ORIGIN,
    Harness,
    http_message,
    http_route,
    settings,
    shared_pool,
)


class RecordingCronService:
    """A CronService that records whom it bound each handle to."""

    def __init__(self) -> None:
        self.bound: list[tuple[ChatAddress, Sender]] = []
        self.handles: list[object] = []

    def handle_for(self, origin: ChatAddress, creator: Sender):
        self.bound.append((origin, creator))
        self.handles.append(object())
        return self.handles[-1]


def start(harness: Harness, cron: RecordingCronService, route: SessionRoute) -> None:
    deps = SessionDeps(
        route=route,
        incarnation=1,
        router=harness.router,
        store=harness.store,
        runtime=harness.runtime,
        delivery=harness.delivery,
        scheduler=harness.scheduler,
        clock=harness.clock,
        settings=settings(),
        cron=cron,
    )
    harness.session = ActorAddress(SessionActor.start(deps, shared_pool()))


def test_each_turn_gets_cron_tools_bound_to_its_chat_and_user():
    harness, cron = Harness(), RecordingCronService()
    start(harness, cron, SessionRoute(key=KEY, memory_scope=KEY.value))
    harness.load()

    harness.send("first")
    first = harness.expect_turn()
    harness.complete(first)
    thread = ChatAddress(platform=Platform.EMBEDDED, chat_id="chat-1", thread_id="9")
    harness.send("second", origin=thread, sender=Sender(user_id="u2"))
    second = harness.expect_turn(count=2)

    assert first.context.cron is cron.handles[0]
    assert second.context.cron is cron.handles[1]
    assert cron.bound == [(ORIGIN, Sender(user_id="u1")), (thread, Sender(user_id="u2"))]


def test_a_stateless_request_gets_no_cron_tools():
    harness, cron = Harness(), RecordingCronService()
    message = http_message(harness, "hello")
    route = http_route(message)
    assert route.ephemeral
    start(harness, cron, route)
    harness.address.tell(HandleUserMessage(message=message))

    assert harness.expect_turn().context.cron is None
    assert cron.bound == []
