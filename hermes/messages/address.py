"""The ``Address`` protocol: the only way one owner of state reaches another.

An ``Address[M]`` accepts exactly the messages of type ``M``. The pykka-backed and the
asyncio-loop-backed implementations live with the runtimes that own them; tests use a recording
fake of the same protocol.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

M_contra = TypeVar("M_contra", contravariant=True)


class AddressClosedError(RuntimeError):
    """Raised by ``tell`` when the actor behind the address has stopped."""


class Address(Protocol[M_contra]):
    """Something that accepts messages of one protocol, without blocking the sender."""

    def tell(self, message: M_contra) -> None:
        """Queue ``message`` for the owner; never blocks.

        Raises:
            AddressClosedError: the owner has stopped and will never handle it.
        """
        ...
