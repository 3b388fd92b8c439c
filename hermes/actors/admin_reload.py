"""``admin reload``: re-read the configuration and apply what can change while running.

``ConfigReloader`` keeps the configuration in force. A reload loads the files again (a bad one
is an error that changes nothing), applies the settings in ``LIVE_SETTINGS`` at once (the
access rules, through the Router) and names every other changed setting as needing a restart;
those keep their running values until then, so each reload reports them again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

from hermes.config import Config, ConfigError
from hermes.config_settings import value_at
from hermes.config_table import SETTINGS

logger = logging.getLogger(__name__)

LIVE_SETTINGS: Final = frozenset(
    {
        "gateway.allowed_users",
        "gateway.allow_all_users",
        "unauthorized_dm_behavior",
        "telegram.allowed_users",
        "telegram.allow_all_users",
        "telegram.unauthorized_dm_behavior",
        "discord.allowed_users",
        "discord.allow_all_users",
        "discord.unauthorized_dm_behavior",
    }
)
"""Settings a reload applies at once: who may talk."""


class ReloadError(Exception):
    """The configuration could not be read; nothing was changed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadReport:
    """What a reload changed."""

    applied: tuple[str, ...]
    """Settings now in force."""
    needs_restart: tuple[str, ...]
    """Settings that differ from the running ones but take effect only after a restart."""


class ConfigReloader:
    """Holds the configuration in force and reloads it (thread-safe: admin requests)."""

    def __init__(
        self, config: Config, load: Callable[[], Config], apply: Callable[[Config], None]
    ) -> None:
        """Start from ``config``; ``load`` reads the files, ``apply`` enforces live settings."""
        self._config = config
        self._load = load
        self._apply = apply
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        """The configuration in force."""
        with self._lock:
            return self._config

    def reload(self) -> ReloadReport:
        """Read the configuration again and apply what can change live.

        Raises:
            ReloadError: a file or value is bad; nothing changed.
        """
        with self._lock:
            try:
                loaded = self._load()
            except ConfigError as error:
                raise ReloadError(f"the configuration was not reloaded: {error}") from error
            changed = [
                s.path
                for s in SETTINGS
                if value_at(self._config, s.path) != value_at(loaded, s.path)
            ]
            applied = tuple(path for path in changed if path in LIVE_SETTINGS)
            needs_restart = tuple(path for path in changed if path not in LIVE_SETTINGS)
            if applied:
                self._config = _with_values(self._config, loaded, applied)
                self._apply(self._config)
        logger.info(
            "configuration reloaded: %s applied; %s need a restart",
            ", ".join(applied) or "nothing",
            ", ".join(needs_restart) or "none",
        )
        return ReloadReport(applied=applied, needs_restart=needs_restart)


def _with_values(config: Config, source: Config, paths: Iterable[str]) -> Config:
    """``config`` with the settings at ``paths`` taken from ``source``."""
    by_section: dict[str, dict[str, Any]] = {}
    for path in paths:
        section, _, name = path.rpartition(".")
        by_section.setdefault(section, {})[name] = value_at(source, path)
    top = by_section.pop("", {})
    for section, changes in by_section.items():
        top[section] = replace(getattr(config, section), **changes)
    return replace(config, **top)
