"""The Router's door: who is served, and what an unauthorized sender gets.

``AccessGate`` is a plain object owned by the RouterActor (used only on its thread): it holds
the access rules and the approved pairings, decides each inbound message with
``hermes.policies.authorization`` and, for an unauthorized DM whose platform pairs, tells the
PairingActor ``RequestPairing``. Deciding stays in the Router, with no ask on the hot path:
the PairingActor pushes every change of the approved set (``ApprovedUsersChanged``).
"""

from __future__ import annotations

import logging
from typing import assert_never

from hermes.messages.access import AuthRules, PlatformUser
from hermes.messages.address import Address, AddressClosedError
from hermes.messages.pairing import PairingCommand, RequestPairing
from hermes.messages.router import ApprovedUsersChanged, ReplaceAuthRules
from hermes.messages.values import InboundMessage
from hermes.policies.authorization import authorize, offers_pairing

logger = logging.getLogger(__name__)


class AccessGate:
    """Authorizes inbound messages for the Router, and counts those it refuses."""

    def __init__(
        self,
        rules: AuthRules,
        approved: frozenset[PlatformUser],
        pairing: Address[PairingCommand] | None,
    ) -> None:
        """Start with ``rules`` and ``approved``; pairing requests go to ``pairing``."""
        self._rules = rules
        self._approved = approved
        self._pairing = pairing
        self.refused = 0

    def admit(self, inbound: InboundMessage) -> bool:
        """True when ``inbound`` is served; otherwise log, count, maybe ask for pairing."""
        verdict = authorize(self._rules, inbound, self._approved)
        if verdict.allowed:
            return True
        self.refused += 1
        pairing = self._pairing
        pair = pairing is not None and offers_pairing(self._rules, inbound, verdict)
        logger.info(
            "ignored a message from user %s on %s (%s): %s%s",
            inbound.sender.user_id,
            inbound.origin.platform,
            inbound.origin.chat_type,
            verdict,
            "; offering pairing" if pair else "",
        )
        if pair and pairing is not None:
            try:
                pairing.tell(RequestPairing(message=inbound))
            except AddressClosedError:
                # Only while the gateway stops; the Router must outlive it either way.
                logger.warning("pairing stopped; user %s gets no code", inbound.sender.user_id)
        return False

    def apply(self, change: ApprovedUsersChanged | ReplaceAuthRules) -> None:
        """Take new approved pairings or new rules, from the next message on."""
        match change:
            case ApprovedUsersChanged(approved=approved):
                self._approved = approved
                logger.info("approved pairings: %d", len(approved))
            case ReplaceAuthRules(rules=rules):
                self._rules = rules
                logger.info("access rules replaced")
            case _:
                assert_never(change)
