"""Logging for the gateway process: stderr plus a rotating file, with secrets redacted.

Called once, by ``__main__``; nothing else in hermes configures logging (so neither
discord.py's ``run`` nor PTB's ``run_polling`` ever gets to).
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterable
from pathlib import Path
from typing import Final

FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FILE_BYTES: Final = 5 * 1024 * 1024
LOG_FILE_COUNT: Final = 3
REDACTED: Final = "********"
MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not redacted: they would mangle ordinary words."""


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in a record's final text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        """Redact each of ``secrets``."""
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, redact it, and keep the record."""
        if not self._secrets:
            return True
        message = record.getMessage()
        for secret in self._secrets:
            message = message.replace(secret, REDACTED)
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        return True


def configure_logging(level: str, log_dir: Path | None, secrets: Iterable[str]) -> None:
    """Send records at ``level`` and above to stderr and ``log_dir/gateway.log``."""
    redactor = RedactingFilter(secrets)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / "gateway.log",
                maxBytes=LOG_FILE_BYTES,
                backupCount=LOG_FILE_COUNT,
                encoding="utf-8",
            )
        )
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redactor)
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiohttp.access", "httpx", "httpcore", "httpx2", "httpcore2", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
