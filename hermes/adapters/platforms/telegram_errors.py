"""How the Telegram adapter reports a send that failed: retryable or not, and how far it got."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import error as tg

from hermes.messages.delivery import OutboundFailed, SendOutbound


def retryable(error: tg.TelegramError) -> bool:
    """Flood control, time-outs and network trouble pass; a refusal (BadRequest) does not."""
    transient = isinstance(error, tg.RetryAfter | tg.NetworkError)
    return transient and not isinstance(error, tg.BadRequest)


def retry_after(error: tg.TelegramError) -> float | None:
    """The wait flood control asked for, in seconds (PTB warns on the int form: read it quietly)."""
    if not isinstance(error, tg.RetryAfter):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def failed(
    command: SendOutbound,
    reason: str,
    *,
    retryable: bool = False,
    chunks_sent: int = 0,
    retry_after: float | None = None,
) -> OutboundFailed:
    """The ``OutboundFailed`` for ``command``."""
    return OutboundFailed(
        delivery_id=command.delivery_id,
        reason=reason,
        retryable=retryable,
        chunks_sent=chunks_sent,
        retry_after=retry_after,
    )
