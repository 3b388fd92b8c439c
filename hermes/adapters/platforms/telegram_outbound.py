"""Sending one delivery to Telegram: its chunks in order, as MarkdownV2 (plain if refused).

A failure reports how many chunks Telegram accepted before it, whether it is worth retrying,
and how long Telegram asked to wait (flood control), so Delivery resends only the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from telegram import Bot, ReplyParameters
from telegram import error as tg
from telegram.constants import ParseMode

from hermes.adapters.platforms import telegram_inbound as inbound
from hermes.adapters.platforms.telegram_errors import failed, retry_after, retryable
from hermes.adapters.platforms.telegram_format import to_markdown_v2
from hermes.messages.delivery import OutboundFailed, OutboundSent, SendOutbound

logger = logging.getLogger(__name__)

RESEND_PLAIN: Final = ("can't parse entities", "message text is empty")
"""BadRequest texts after which a chunk is sent again as plain text."""

Describe = Callable[[BaseException], str]
"""An error as people may read it (the adapter's: it hides the token)."""


async def send_message(
    bot: Bot, command: SendOutbound, describe: Describe
) -> OutboundSent | OutboundFailed:
    """Send ``command``'s chunks in order; the outcome for Delivery."""
    message = command.message
    try:
        where = inbound.chat_ref(message.target)
    except ValueError as error:
        return failed(command, str(error))
    replied = inbound.replied_message_id(message.target, message.in_reply_to)  # groups only
    reply = ReplyParameters(replied, allow_sending_without_reply=True) if replied else None
    for number, chunk in enumerate(command.chunks):
        try:
            await _send_chunk(bot, where, chunk, reply, describe)
        except tg.TelegramError as error:
            sent = f"{number} of {len(command.chunks)} parts sent"
            reason = f"Telegram refused the message ({describe(error)}); {sent}"
            logger.warning("delivery %s failed: %s", command.delivery_id, reason)
            return failed(
                command,
                reason,
                retryable=retryable(error),
                chunks_sent=number,
                retry_after=retry_after(error),
            )
        reply = None
    return OutboundSent(delivery_id=command.delivery_id)


async def _send_chunk(
    bot: Bot,
    where: tuple[int | str, int | None],
    text: str,
    reply: ReplyParameters | None,
    describe: Describe,
) -> None:
    chat_id, thread_id = where
    try:
        await bot.send_message(
            chat_id,
            to_markdown_v2(text),
            parse_mode=ParseMode.MARKDOWN_V2,
            message_thread_id=thread_id,
            reply_parameters=reply,
        )
    except tg.BadRequest as error:
        if not any(reason in str(error).lower() for reason in RESEND_PLAIN):
            raise
        logger.warning("Telegram refused MarkdownV2 (%s); sent as plain text", describe(error))
        await bot.send_message(chat_id, text, message_thread_id=thread_id, reply_parameters=reply)
