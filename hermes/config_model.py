"""The configuration as the rest of Hermes sees it: frozen dataclasses, one per section.

Made by ``hermes.config.load_config`` (or ``Config.defaults``); each field has exactly one row
in ``hermes.config_table``. The dataclasses do not re-check values: the loader's parsers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self

from hermes.config_settings import (
    BusyInputMode,
    MemoryProviderName,
    ResetMode,
    ResetOverride,
    Secret,
    value_at,
)
from hermes.config_table import SETTINGS

DEFAULT_SYSTEM_PROMPT: Final = (
    "You are Hermes, a helpful assistant people reach through their chat apps. "
    "Answer clearly and concisely."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiServerConfig:
    """The OpenAI-compatible HTTP API."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8642
    key: Secret | None = None
    model_name: str = "hermes-agent"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """The model the agent calls; no name means the echo agent."""

    name: str | None = None
    base_url: str | None = None
    api_key: Secret | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """How the agent is instructed."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResetConfig:
    """When sessions end by themselves."""

    mode: ResetMode = ResetMode.NONE
    at_hour: int = 4
    idle_minutes: int = 1440
    platforms: tuple[ResetOverride, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryConfig:
    """Long-term memory."""

    provider: MemoryProviderName = MemoryProviderName.LOCAL
    flush_turn: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class HonchoConfig:
    """The Honcho memory provider."""

    api_key: Secret | None = None
    base_url: str | None = None
    workspace_id: str = "hermes"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Limits and timeouts of the running gateway (times in seconds)."""

    shutdown_timeout: float = 30.0
    max_concurrent_turns: int = 1000
    turn_timeout: float = 1800.0
    idle_passivate_seconds: float = 600.0
    history_messages: int = 200
    expiry_check_seconds: float = 300.0
    allowed_users: tuple[str, ...] = ()
    allow_all_users: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HooksConfig:
    """User hooks in ``$HERMES_HOME/hooks`` (times in seconds)."""

    timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TelegramConfig:
    """The Telegram platform; enabled by a bot token."""

    bot_token: Secret | None = None
    base_url: str = "https://api.telegram.org/bot"
    require_mention: bool = True
    free_response_chats: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allow_all_users: bool = False
    unauthorized_dm_behavior: str | None = None
    home_channel: str | None = None
    home_channel_name: str = "Home"
    text_batch_delay: float = 0.6


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordConfig:
    """The Discord platform; enabled by a bot token."""

    bot_token: Secret | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    require_mention: bool = True
    free_response_channels: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allow_all_users: bool = False
    unauthorized_dm_behavior: str | None = None
    home_channel: str | None = None
    home_channel_name: str = "Home"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration; made by ``load_config`` or ``Config.defaults``."""

    home: Path
    """Data directory: ``--home``, else ``$HERMES_HOME``, else ``~/.hermes``."""
    api_server: ApiServerConfig = field(default_factory=ApiServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    session_reset: SessionResetConfig = field(default_factory=SessionResetConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    honcho: HonchoConfig = field(default_factory=HonchoConfig)
    group_sessions_per_user: bool = True
    busy_input_mode: BusyInputMode = BusyInputMode.INTERRUPT
    timezone: str | None = None
    """IANA zone name; None: the machine's zone."""
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    unauthorized_dm_behavior: str | None = None
    """``pair`` or ``ignore``; None: ``pair`` without an allowlist, ``ignore`` with one."""
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    log_level: str = "INFO"

    @classmethod
    def defaults(cls, home: Path) -> Self:
        """Every setting at its default, rooted at ``home``."""
        return cls(home=home)

    @property
    def state_db(self) -> Path:
        """The SQLite database of sessions and transcripts."""
        return self.home / "state.db"

    @property
    def admin_socket(self) -> Path:
        """The Unix socket of the admin interface."""
        return self.home / "admin.sock"

    @property
    def pid_file(self) -> Path:
        """The file holding the running gateway's process id."""
        return self.home / "gateway.pid"

    @property
    def lock_file(self) -> Path:
        """The lock that stops a second gateway from using the same home."""
        return self.home / "gateway.lock"

    @property
    def hooks_dir(self) -> Path:
        """The directory of user hooks, one per subdirectory."""
        return self.home / "hooks"

    @property
    def log_dir(self) -> Path:
        """The directory of log files."""
        return self.home / "logs"

    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value, for the log redactor."""
        found = (value_at(self, s.path) for s in SETTINGS if s.secret)
        return tuple(value.reveal() for value in found if isinstance(value, Secret))
