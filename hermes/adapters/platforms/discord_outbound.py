"""How the Discord adapter sends one delivery's chunks and reports the outcome to Delivery."""

from __future__ import annotations

import logging
from typing import Final

import discord

from hermes.adapters.platforms import discord_inbound as rules
from hermes.messages.address import AddressClosedError
from hermes.messages.delivery import SendOutbound

logger = logging.getLogger(__name__)

MAX_NONCE: Final = 25


def chunk_nonce(delivery_id: str, index: int) -> str:
    """The idempotency key of one chunk (at most 25 characters, as Discord takes them).

    discord.py sends it with ``enforce_nonce``: Discord then creates the message once, however
    often it is sent within a few minutes (a retry, a resend after a restart).
    """
    suffix = f"-{index}"
    return delivery_id[: MAX_NONCE - len(suffix)] + suffix


async def send_chunk(
    channel: discord.PartialMessageable, chunk: str, reply: int | None, nonce: str
) -> None:
    """Send one chunk (once: ``nonce``), as a reply to message ``reply`` when given."""
    if reply is None:
        await channel.send(chunk, nonce=nonce)
        return
    reference = discord.MessageReference(
        message_id=reply, channel_id=channel.id, fail_if_not_exists=False
    )
    try:
        await channel.send(chunk, reference=reference, nonce=nonce)
    except discord.HTTPException as error:
        # Discord refuses some replies (to a system message, say): send the chunk plainly.
        if not rules.is_reference_refusal(error.code, error.text):
            raise
        logger.info("Discord refused the reply reference; sending without it")
        await channel.send(chunk, nonce=nonce)


def send_failure(error: Exception) -> rules.Failure:
    """Why a send failed; fatal unless trying again later may work (429, 5xx, network)."""
    if isinstance(error, discord.HTTPException):
        reason = rules.refusal_reason(error.status, error.code, error.text)
        return rules.Failure(reason, fatal=not rules.is_retryable_status(error.status))
    if isinstance(error, discord.RateLimited):
        return rules.Failure(
            f"Discord rate limit: retry in {error.retry_after:.0f} s", retry_after=error.retry_after
        )
    return rules.Failure(f"cannot reach Discord ({type(error).__name__})")


def report(command: SendOutbound, failure: rules.Failure | None, reason: str) -> None:
    """Tell Delivery the outcome (it logs failures): sent when ``failure`` is None.

    ``reason`` is the failure's text as it may be shown (the token redacted); empty: its own.
    """
    shown = reason or (failure.reason if failure is not None else "")
    try:
        command.reply_to.tell(rules.outcome(command.delivery_id, failure, shown))
    except AddressClosedError:
        logger.debug("delivery stopped before hearing of %s", command.delivery_id)
