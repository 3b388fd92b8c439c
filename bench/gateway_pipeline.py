"""The contender under test: the real gateway, started with ``start_system``.

A real Store on a fresh home directory (durable SQLite), the real actors, the caller's agent,
and an ``EmbeddedPlatform`` whose listener (called on Delivery's thread) reports each reply.
``busy_input_mode`` is ``queue`` so that every message gets a reply of its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench.pipeline import ReplySink
from hermes.actors import System, SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.delivery import OutboundKind, OutboundMessage
from hermes.messages.ports import Agent
from hermes.messages.router import GetRouterStatus
from hermes.messages.store import GetStoreStatus
from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender

BASE_ENVIRON: Final = {
    "API_SERVER_ENABLED": "false",
    "HERMES_BUSY_INPUT_MODE": "queue",
    "HERMES_IDLE_PASSIVATE_SECONDS": "86400",
    "HERMES_SHUTDOWN_TIMEOUT": "300",
}
"""Settings of every gateway run; a scenario adds or overrides some."""
ASK_TIMEOUT: Final = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySetup:
    """How one gateway run is configured."""

    home: Path
    agent: Agent
    environ: Mapping[str, str] = field(default_factory=dict)
    stream_replies: bool = False
    """Mark messages as shown while written (the runtime then streams the agent's answer)."""


class GatewayPipeline:
    """The gateway as a ``Pipeline``."""

    name = "gateway"

    def __init__(self, setup: GatewaySetup) -> None:
        self._setup = setup
        self._sink: ReplySink | None = None
        self._system: System | None = None
        self._platform = EmbeddedPlatform(listener=self._on_outbound)
        self._chats: dict[str, EmbeddedChat] = {}
        self._sender = Sender(user_id="bench")
        self.notices = 0
        self.startup_s = 0.0

    @property
    def system(self) -> System:
        """The running gateway."""
        if self._system is None:
            raise RuntimeError("the gateway is not running")
        return self._system

    def start(self, sink: ReplySink) -> None:
        """Load the configuration and start the gateway (timed: ``startup_s``)."""
        self._sink = sink
        environ = {**BASE_ENVIRON, **self._setup.environ}
        config = load_config(home=self._setup.home, environ=environ).config
        began = time.perf_counter()
        self._system = start_system(
            config,
            SystemOverrides(
                agent=self._setup.agent, platforms=(self._platform,), admin_socket=False
            ),
        )
        self.startup_s = time.perf_counter() - began

    def send(self, chat_id: str, message_id: str, text: str) -> None:
        """Send as a person in the embedded chat ``chat_id``."""
        if self._setup.stream_replies:
            self._platform.inject(self._streamed(chat_id, message_id, text))
            return
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = EmbeddedChat(chat_id=chat_id, user_id="bench")
        self._platform.send(text, chat, message_id=message_id)

    def stop(self) -> dict[str, Any]:
        """Read the Store's and Router's counters, then stop the gateway (timed)."""
        system = self.system
        store = system.store.ask(GetStoreStatus(), timeout=ASK_TIMEOUT)
        router = system.router.ask(GetRouterStatus(), timeout=ASK_TIMEOUT)
        began = time.perf_counter()
        system.stop()
        return {
            "startup_s": self.startup_s,
            "stop_s": time.perf_counter() - began,
            "store_commits": store.commits,
            "store_writes": store.writes,
            "writes_per_commit": store.writes / store.commits if store.commits else 0.0,
            "live_sessions_at_stop": router.live_sessions,
            "notices": self.notices,
        }

    def _on_outbound(self, message: OutboundMessage) -> None:
        if message.kind is OutboundKind.NOTICE:
            self.notices += 1  # "queued" notices: the reply itself comes later
            return
        if self._sink is not None:
            ok = message.kind is OutboundKind.REPLY
            self._sink(message.target.chat_id, message.in_reply_to or "", ok)

    def _streamed(self, chat_id: str, message_id: str, text: str) -> InboundMessage:
        return InboundMessage(
            message_id=message_id,
            origin=ChatAddress(platform=Platform.EMBEDDED, chat_id=chat_id),
            sender=self._sender,
            text=text,
            received_at=datetime.now(UTC),
            stream_reply=True,
        )
