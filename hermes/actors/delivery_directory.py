"""Where Delivery can send: the home channels, the chats seen, the ``local`` directory.

The chats seen (from the Router, as messages arrive, and from the Store's session origins at
start) let a target name a chat (``telegram:Team``); the most recently seen are kept. Owned by
the Delivery actor; used only on its thread.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Final

from hermes.messages.delivery import Directory
from hermes.messages.values import ChatAddress, HomeChannel, Platform
from hermes.policies.targets import TargetContext

DIRECTORY_SIZE: Final = 10_000
"""Chats remembered for names in targets (the most recently seen)."""
_SAFE_ID: Final = re.compile(r"[^A-Za-z0-9_-]")


def write_local(directory: Path, now: datetime, delivery_id: str, text: str) -> Path:
    """Write a ``local`` delivery as ``<stamp>_<id>.md`` in ``directory`` (made 0700).

    The id is reduced to safe characters, so it never becomes a path of its own.

    Raises:
        OSError: the directory or the file could not be written.
    """
    name = _SAFE_ID.sub("_", delivery_id)[:64] or "delivery"
    path = directory / f"{now.strftime('%Y%m%d_%H%M%S')}_{name}.md"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text + "\n", encoding="utf-8")
    return path


class ChatDirectory:
    """The home channels (one per platform) and the chats seen, most recent last."""

    def __init__(self, homes: Iterable[HomeChannel], chats: Iterable[ChatAddress]) -> None:
        """Start from the homes and chats known at start."""
        self._homes = {home.platform: home for home in homes}
        self._chats: OrderedDict[tuple[Platform, str], ChatAddress] = OrderedDict()
        for chat in chats:
            self.seen(chat)

    @property
    def homes(self) -> tuple[HomeChannel, ...]:
        """The home channels."""
        return tuple(self._homes.values())

    def set_home(self, home: HomeChannel) -> None:
        """``home`` is its platform's home channel from now on."""
        self._homes[home.platform] = home

    def seen(self, address: ChatAddress) -> None:
        """A message came from ``address`` (its thread is not a chat of its own)."""
        key = (address.platform, address.chat_id)
        self._chats.pop(key, None)
        self._chats[key] = ChatAddress(
            platform=address.platform,
            chat_id=address.chat_id,
            chat_type=address.chat_type,
            chat_name=address.chat_name,
        )
        if len(self._chats) > DIRECTORY_SIZE:
            self._chats.popitem(last=False)

    def targets(self, origin: ChatAddress | None) -> TargetContext:
        """What a target is resolved against, for a request from ``origin``."""
        return TargetContext(homes=self._homes, directory=self._chats.values(), origin=origin)

    def snapshot(self) -> Directory:
        """Everything known, as a message."""
        return Directory(homes=self.homes, chats=tuple(self._chats.values()))
