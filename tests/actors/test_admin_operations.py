"""The operator's handlers (pairing, send, reload) with a real PairingActor and probes."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hermes.actors.address import ActorAddress
from hermes.actors.admin import AdminCommands, AdminError
from hermes.actors.admin_operations import OperationsDeps, operation_handlers
from hermes.actors.admin_reload import ConfigReloader, ReloadError
from hermes.actors.future_reply import FutureReply
from hermes.actors.pairing import PairingActor, PairingDeps
from hermes.config import Config, ConfigError
from hermes.messages.delivery import DeliverToTarget, DeliveryFailed, MessageDelivered
from hermes.messages.pairing import PairingState, RequestPairing
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from hermes.policies.pairing import CodeSecret, PairingLimits
from tests.fakes.recording import FakeClock, RecordingAddress

HOME = Path("/nonexistent/hermes-home")


class Loader:
    """A configuration source the test rewrites."""

    def __init__(self, config: Config) -> None:
        self.config: Config | None = config
        self.error: ConfigError | None = None

    def __call__(self) -> Config:
        if self.error is not None:
            raise self.error
        assert self.config is not None
        return self.config


class Answering(RecordingAddress):
    """Delivery that answers each DeliverToTarget with ``event`` (None: never answers)."""

    def __init__(self, delivered: bool | None) -> None:
        super().__init__("delivery")
        self.delivered = delivered

    def tell(self, message) -> None:
        super().tell(message)
        if isinstance(message, DeliverToTarget) and message.reply_to is not None:
            if self.delivered is True:
                message.reply_to.tell(MessageDelivered(delivery_id=message.delivery_id))
            elif self.delivered is False:
                message.reply_to.tell(
                    DeliveryFailed(delivery_id=message.delivery_id, reason="chat not found")
                )


def commands(delivery, loader=None, applied=None):
    clock = FakeClock()
    pairing: ActorAddress[Any] = ActorAddress(
        PairingActor.start(
            PairingDeps(
                state=PairingState(),
                store=RecordingAddress("store"),
                delivery=RecordingAddress("pairing-delivery"),
                router=RecordingAddress("router"),
                clock=clock,
                limits=PairingLimits(hash_iterations=1_000),
                new_secret=lambda: CodeSecret(code="K7M2PQ9X", salt=b"s" * 16),
            )
        )
    )
    reloader = ConfigReloader(
        Config.defaults(HOME),
        loader or Loader(Config.defaults(HOME)),
        (applied if applied is not None else []).append,
    )
    deps = OperationsDeps(pairing=pairing, delivery=delivery, reloader=reloader, send_timeout=0.3)
    return pairing, operation_handlers(deps)


def run(handlers, command: str, **args: object):
    return handlers[command](args)


def test_send_reports_delivery_and_failure():
    _, ok = commands(Answering(delivered=True))
    assert run(ok, "send", target="telegram:1", text="hi")["delivered"] is True
    _, failing = commands(Answering(delivered=False))
    with pytest.raises(AdminError, match="not delivered to telegram:1: chat not found"):
        run(failing, "send", target="telegram:1", text="hi")


def test_send_never_hangs_when_delivery_does_not_answer():
    delivery = Answering(delivered=None)
    _, handlers = commands(delivery)
    with pytest.raises(AdminError, match=re.escape("did not confirm within 0.3 s")):
        run(handlers, "send", target="telegram", text="hi")
    (sent,) = delivery.of_type(DeliverToTarget)
    assert (sent.target, sent.text) == ("telegram", "hi")


@pytest.mark.parametrize(
    ("args", "error"),
    [({"text": "hi"}, "needs a target"), ({"target": "telegram", "text": " "}, "needs a text")],
)
def test_send_needs_a_target_and_a_text(args, error):
    _, handlers = commands(Answering(delivered=True))
    with pytest.raises(AdminError, match=error):
        handlers["send"](args)


def test_a_reply_future_takes_the_first_answer_from_any_thread():
    reply: FutureReply[str] = FutureReply()
    threads = [threading.Thread(target=reply.tell, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2.0)
    assert reply.future.result(timeout=1.0) in {f"t{i}" for i in range(8)}


def test_pairing_commands_through_admin_commands():
    pairing, handlers = commands(Answering(delivered=True))
    pairing.tell(
        RequestPairing(
            message=InboundMessage(
                message_id="m1",
                origin=ChatAddress(platform=Platform.DISCORD, chat_id="dm9", chat_type=ChatType.DM),
                sender=Sender(user_id="u9", user_name="nine"),
                text="hi",
                received_at=FakeClock().now(),
            )
        )
    )
    admin = AdminCommands(handles=None, extra=handlers)  # type: ignore[arg-type]
    listed: Any = admin.run({"command": "pairing.list"})
    assert listed["result"]["pending"][0]["user_id"] == "u9"
    refused = admin.run(
        {"command": "pairing.approve", "args": {"platform": "DISCORD", "code": "x"}}
    )
    assert refused == {
        "ok": False,
        "error": "no pending code on discord matches (see `admin pairing list`); "
        "4 more failed approvals lock pairing on discord",
    }
    approved: Any = admin.run(
        {"command": "pairing.approve", "args": {"platform": "discord", "code": "k7m2pq9x"}}
    )
    assert approved["result"]["user_name"] == "nine"
    revoked: Any = admin.run(
        {"command": "pairing.revoke", "args": {"platform": "discord", "user_id": "u9"}}
    )
    assert revoked["result"]["revoked"] is True


def test_reload_applies_who_may_talk_and_names_the_rest():
    defaults = Config.defaults(HOME)
    loader, applied = Loader(defaults), list[Config]()
    _, handlers = commands(Answering(delivered=True), loader, applied)
    assert run(handlers, "reload") == {"applied": [], "needs_restart": []}
    assert applied == []

    loader.config = replace(
        defaults,
        telegram=replace(defaults.telegram, allowed_users=("42",), require_mention=False),
        unauthorized_dm_behavior="pair",
        gateway=replace(defaults.gateway, turn_timeout=5.0),
    )
    report = run(handlers, "reload")
    assert report == {
        "applied": ["unauthorized_dm_behavior", "telegram.allowed_users"],
        "needs_restart": ["gateway.turn_timeout", "telegram.require_mention"],
    }
    (in_force,) = applied
    assert in_force.telegram.allowed_users == ("42",)
    assert in_force.unauthorized_dm_behavior == "pair"
    assert in_force.telegram.require_mention is True
    assert in_force.gateway.turn_timeout == defaults.gateway.turn_timeout

    again = run(handlers, "reload")
    assert again == {"applied": [], "needs_restart": report["needs_restart"]}


def test_a_bad_configuration_changes_nothing():
    defaults = Config.defaults(HOME)
    loader, applied = Loader(defaults), list[Config]()
    _, handlers = commands(Answering(delivered=True), loader, applied)
    loader.error = ConfigError("config.yaml", "telegram.allowed_users", "a list", "{}")
    with pytest.raises(
        AdminError, match=re.escape("the configuration was not reloaded: config.yaml")
    ):
        run(handlers, "reload")
    assert applied == []
    reloader = ConfigReloader(defaults, loader, applied.append)
    with pytest.raises(ReloadError):
        reloader.reload()
    assert reloader.config == defaults
