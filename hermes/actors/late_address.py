"""An ``Address`` bound once, after the fact: for two actors that must know each other.

The Router tells the PairingActor about unauthorized DMs and the PairingActor tells the Router
the approved users, so one of them has to be started before the other's address exists. The
System gives the Router a ``LateAddress`` and binds it as soon as the PairingActor runs, before
any platform starts (so before anything could be sent through it).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from hermes.messages.address import Address, AddressClosedError

M = TypeVar("M")


class LateAddress(Generic[M]):
    """An ``Address[M]`` that forwards to the address it is bound to (once)."""

    __slots__ = ("_lock", "_target")

    def __init__(self) -> None:
        """Unbound: ``tell`` raises ``AddressClosedError`` until ``bind``."""
        self._target: Address[M] | None = None
        self._lock = threading.Lock()

    def bind(self, target: Address[M]) -> None:
        """Forward everything to ``target`` from now on.

        Raises:
            RuntimeError: already bound.
        """
        with self._lock:
            if self._target is not None:
                raise RuntimeError("a LateAddress is bound once")
            self._target = target

    def tell(self, message: M) -> None:
        """Forward ``message``.

        Raises:
            AddressClosedError: not bound yet, or the target has stopped.
        """
        target = self._target
        if target is None:
            raise AddressClosedError("not bound yet")
        target.tell(message)
