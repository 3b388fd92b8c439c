"""How the Discord adapter sends one delivery's chunks and reports the outcome to Delivery."""

from __future__ import annotations

import logging

import discord

from hermes.adapters.platforms import discord_inbound as rules
from hermes.messages.address import AddressClosedError
from hermes.messages.delivery import SendOutbound

logger = logging.getLogger(__name__)


async def send_chunk(channel: discord.PartialMessageable, chunk: str, reply: int | None) -> None:
    """Send one chunk, as a reply to message ``reply`` when given."""
    if reply is None:
        await channel.send(chunk)
        return
    reference = discord.MessageReference(
        message_id=reply, channel_id=channel.id, fail_if_not_exists=False
    )
    try:
        await channel.send(chunk, reference=reference)
    except discord.HTTPException as error:
        # Discord refuses some replies (to a system message, say): send the chunk plainly.
        if not rules.is_reference_refusal(error.code, error.text):
            raise
        logger.info("Discord refused the reply reference; sending without it")
        await channel.send(chunk)


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
