"""The pykka-backed ``Address``: a typed handle on a ``pykka.ActorRef``.

Actors reach each other only through ``Address[M]``; this is the one place that turns
``pykka.ActorDeadError`` into ``AddressClosedError`` so that the rest of the core does not
depend on pykka's exception types.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import pykka

from hermes.messages.address import AddressClosedError

M = TypeVar("M")


class ActorAddress(Generic[M]):
    """The address of a pykka actor accepting messages of type ``M``."""

    __slots__ = ("_ref",)

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        """Wrap ``ref``."""
        self._ref = ref

    def tell(self, message: M) -> None:
        """Queue ``message`` in the actor's inbox; never blocks.

        Raises:
            AddressClosedError: the actor has stopped.
        """
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError as error:
            raise AddressClosedError(str(error)) from error

    def ask(self, message: M, timeout: float) -> Any:  # noqa: ANN401  (the pykka bridge)
        """Send a query and wait for the handler's return value (edges only: tests, admin).

        Raises:
            AddressClosedError: the actor has stopped.
            pykka.Timeout: no answer within ``timeout`` seconds.
        """
        try:
            return self._ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError as error:
            raise AddressClosedError(str(error)) from error

    def is_alive(self) -> bool:
        """True while the actor runs."""
        return self._ref.is_alive()

    def stop(self, timeout: float) -> None:
        """Stop the actor after the messages already queued, waiting up to ``timeout``."""
        try:
            self._ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:
            return

    def __repr__(self) -> str:
        """Name the actor."""
        return f"ActorAddress({self._ref!r})"
