"""Every setting Hermes understands, in one table.

``hermes.config`` loads from it and the reference page (docs/configuration.md) is rendered from
it, so no key is spelled in two places. Add a row here and a field to the matching dataclass in
``hermes.config_model``; the tests check the two agree.
"""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from hermes.config_settings import (
    BusyInputMode,
    InvalidValueError,
    MemoryProviderName,
    ResetMode,
    Setting,
    choice,
    integer,
    non_negative_seconds,
    parse_bool,
    parse_id_list,
    parse_non_empty_text,
    parse_optional_text,
    parse_reset_overrides,
    parse_secret,
    parse_text,
    parse_url,
    parse_ws_url,
    positive_seconds,
)

_DM_BEHAVIOR: Final = choice(("pair", "ignore"))


def _parse_timezone(raw: object) -> str | None:
    """An IANA time zone name, such as ``Europe/Berlin``; empty means the machine's zone."""
    name = parse_optional_text(raw)
    try:
        return None if name is None else ZoneInfo(name.strip()).key
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise InvalidValueError("an IANA time zone name, such as Europe/Berlin or UTC") from None


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        path="api_server.enabled",
        env="API_SERVER_ENABLED",
        parse=parse_bool,
        meaning="Serve the OpenAI-compatible HTTP API.",
    ),
    Setting(
        path="api_server.host",
        env="API_SERVER_HOST",
        parse=parse_non_empty_text,
        meaning="Address the HTTP API listens on; a non-loopback one needs a key.",
    ),
    Setting(
        path="api_server.port",
        env="API_SERVER_PORT",
        parse=integer(0, 65535),
        meaning="TCP port of the HTTP API (0 picks any free port).",
    ),
    Setting(
        path="api_server.key",
        env="API_SERVER_KEY",
        parse=parse_secret,
        meaning="Bearer token that clients of the HTTP API must send (secret).",
    ),
    Setting(
        path="api_server.model_name",
        env="API_SERVER_MODEL_NAME",
        parse=parse_non_empty_text,
        meaning="Model name the HTTP API reports to its clients.",
    ),
    Setting(
        path="model.name",
        env="HERMES_MODEL",
        parse=parse_optional_text,
        meaning="Model the agent calls; without one, Hermes runs the echo agent.",
        default_doc="(none: echo agent)",
        aliases=("model.default",),
        shorthand=True,
    ),
    Setting(
        path="model.base_url",
        env="OPENAI_BASE_URL",
        parse=parse_url,
        meaning="OpenAI-compatible endpoint of the model.",
        default_doc="(none: https://api.openai.com/v1 when a model is set)",
    ),
    Setting(
        path="model.api_key",
        env="OPENAI_API_KEY",
        parse=parse_secret,
        meaning="API key for the model endpoint (secret).",
    ),
    Setting(
        path="agent.system_prompt",
        env="HERMES_SYSTEM_PROMPT",
        parse=parse_text,
        meaning="System prompt given to the agent on every turn.",
    ),
    Setting(
        path="session_reset.mode",
        env="SESSION_RESET_MODE",
        parse=choice(ResetMode),
        meaning="When sessions end by themselves: daily, idle, both or none.",
    ),
    Setting(
        path="session_reset.at_hour",
        env="SESSION_RESET_HOUR",
        parse=integer(0, 23),
        meaning="Local hour (0-23) of the daily reset.",
    ),
    Setting(
        path="session_reset.idle_minutes",
        env="SESSION_IDLE_MINUTES",
        parse=integer(1),
        meaning="Minutes without messages after which the idle reset ends a session.",
    ),
    Setting(
        path="session_reset.platforms",
        env="SESSION_RESET_PLATFORMS",
        parse=parse_reset_overrides,
        meaning="Per-platform policies, e.g. `{telegram: {mode: idle, idle_minutes: 60}}`.",
        default_doc="(none)",
    ),
    Setting(
        path="memory.provider",
        env="HERMES_MEMORY_PROVIDER",
        parse=choice(MemoryProviderName),
        meaning="Long-term memory: local (SQLite in the home), honcho, or none.",
    ),
    Setting(
        path="memory.flush_turn",
        env="HERMES_MEMORY_FLUSH_TURN",
        parse=parse_bool,
        meaning="When a session ends, let the agent save what matters with its memory tools.",
    ),
    Setting(
        path="honcho.api_key",
        env="HONCHO_API_KEY",
        parse=parse_secret,
        meaning="Honcho API key (secret); not needed by a self-hosted Honcho.",
    ),
    Setting(
        path="honcho.base_url",
        env="HONCHO_BASE_URL",
        parse=parse_url,
        meaning="A self-hosted Honcho's URL.",
        default_doc="(none: Honcho's hosted service)",
    ),
    Setting(
        path="honcho.workspace_id",
        env="HONCHO_WORKSPACE_ID",
        parse=parse_non_empty_text,
        meaning="Honcho workspace holding this gateway's sessions and peers.",
    ),
    Setting(
        path="group_sessions_per_user",
        env="GROUP_SESSIONS_PER_USER",
        parse=parse_bool,
        meaning="In group chats, give each participant a session of their own.",
    ),
    Setting(
        path="busy_input_mode",
        env="HERMES_BUSY_INPUT_MODE",
        parse=choice(BusyInputMode),
        meaning="A message sent during a turn interrupts it, or queues behind it.",
    ),
    Setting(
        path="timezone",
        env="HERMES_TIMEZONE",
        parse=_parse_timezone,
        meaning="IANA zone (`Europe/Berlin`) of cron schedules, job times and daily resets.",
        default_doc="(none: the machine's zone)",
    ),
    Setting(
        path="gateway.shutdown_timeout",
        env="HERMES_SHUTDOWN_TIMEOUT",
        parse=positive_seconds,
        meaning="Seconds a graceful shutdown may take.",
    ),
    Setting(
        path="gateway.max_concurrent_turns",
        env="HERMES_MAX_CONCURRENT_TURNS",
        parse=integer(1),
        meaning="Agent turns that may run at once, across all sessions.",
    ),
    Setting(
        path="gateway.turn_timeout",
        env="HERMES_TURN_TIMEOUT",
        parse=positive_seconds,
        meaning="Seconds one agent turn may run before it is cancelled.",
    ),
    Setting(
        path="gateway.idle_passivate_seconds",
        env="HERMES_IDLE_PASSIVATE_SECONDS",
        parse=positive_seconds,
        meaning="Idle seconds before a session's actor stops (the session goes on).",
    ),
    Setting(
        path="gateway.history_messages",
        env="HERMES_HISTORY_MESSAGES",
        parse=integer(1),
        meaning="Latest transcript messages sent to the model with each turn.",
    ),
    Setting(
        path="gateway.expiry_check_seconds",
        env="HERMES_EXPIRY_CHECK_SECONDS",
        parse=positive_seconds,
        meaning="How often sessions expired under the reset policy are looked for and ended.",
    ),
    Setting(
        path="gateway.allowed_users",
        env="GATEWAY_ALLOWED_USERS",
        parse=parse_id_list,
        meaning="Users served on every chat platform (ids; comma-separated in the environment).",
        default_doc="(none)",
    ),
    Setting(
        path="gateway.allow_all_users",
        env="GATEWAY_ALLOW_ALL_USERS",
        parse=parse_bool,
        meaning="Serve everyone on chat platforms that have no allowlist (a public bot).",
    ),
    Setting(
        path="hooks.timeout",
        env="HERMES_HOOK_TIMEOUT",
        parse=positive_seconds,
        meaning="Seconds a hook's handler may run before it is abandoned.",
    ),
    Setting(
        path="unauthorized_dm_behavior",
        env="UNAUTHORIZED_DM_BEHAVIOR",
        parse=_DM_BEHAVIOR,
        meaning="What a stranger who DMs the bot gets: `pair` (a pairing code) or `ignore`.",
        default_doc="(none: `pair` without an allowlist, `ignore` with one)",
    ),
    Setting(
        path="telegram.bot_token",
        env="TELEGRAM_BOT_TOKEN",
        parse=parse_secret,
        meaning="Token of the Telegram bot (@BotFather); setting it enables Telegram (secret).",
    ),
    Setting(
        path="telegram.base_url",
        env="TELEGRAM_BASE_URL",
        parse=parse_url,
        meaning="Bot API server, in python-telegram-bot's base_url form (the token is appended).",
        default_doc="`https://api.telegram.org/bot`",
    ),
    Setting(
        path="telegram.require_mention",
        env="TELEGRAM_REQUIRE_MENTION",
        parse=parse_bool,
        meaning="In groups, answer only when mentioned, replied to, or sent a command.",
    ),
    Setting(
        path="telegram.free_response_chats",
        env="TELEGRAM_FREE_RESPONSE_CHATS",
        parse=parse_id_list,
        meaning="Group chat ids where every message is answered.",
        default_doc="(none)",
    ),
    Setting(
        path="telegram.allowed_users",
        env="TELEGRAM_ALLOWED_USERS",
        parse=parse_id_list,
        meaning="Telegram user ids served (with `GATEWAY_ALLOWED_USERS`).",
        default_doc="(none)",
    ),
    Setting(
        path="telegram.allow_all_users",
        env="TELEGRAM_ALLOW_ALL_USERS",
        parse=parse_bool,
        meaning="Serve every Telegram user, allowlists or not.",
    ),
    Setting(
        path="telegram.unauthorized_dm_behavior",
        env="TELEGRAM_UNAUTHORIZED_DM_BEHAVIOR",
        parse=_DM_BEHAVIOR,
        meaning="`unauthorized_dm_behavior` for Telegram alone.",
        default_doc="(none: `unauthorized_dm_behavior`)",
    ),
    Setting(
        path="telegram.home_channel",
        env="TELEGRAM_HOME_CHANNEL",
        parse=parse_optional_text,
        meaning="Chat id that `telegram` deliveries go to, until `/sethome` picks another.",
    ),
    Setting(
        path="telegram.home_channel_name",
        env="TELEGRAM_HOME_CHANNEL_NAME",
        parse=parse_non_empty_text,
        meaning="Display name of the Telegram home channel.",
    ),
    Setting(
        path="telegram.text_batch_delay",
        env="HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS",
        parse=non_negative_seconds,
        meaning="Quick consecutive messages of one user within this many seconds become one.",
    ),
    Setting(
        path="discord.bot_token",
        env="DISCORD_BOT_TOKEN",
        parse=parse_secret,
        meaning="Token of the Discord bot; setting it enables Discord (secret).",
    ),
    Setting(
        path="discord.api_base",
        env="DISCORD_API_BASE",
        parse=parse_url,
        meaning="Discord REST root, with its version.",
        default_doc="`https://discord.com/api/v10`",
    ),
    Setting(
        path="discord.gateway_url",
        env="DISCORD_GATEWAY_URL",
        parse=parse_ws_url,
        meaning="Discord gateway websocket URL.",
    ),
    Setting(
        path="discord.require_mention",
        env="DISCORD_REQUIRE_MENTION",
        parse=parse_bool,
        meaning="In server channels, answer only when mentioned.",
    ),
    Setting(
        path="discord.free_response_channels",
        env="DISCORD_FREE_RESPONSE_CHANNELS",
        parse=parse_id_list,
        meaning="Channel ids where every message is answered (their threads too).",
        default_doc="(none)",
    ),
    Setting(
        path="discord.allowed_users",
        env="DISCORD_ALLOWED_USERS",
        parse=parse_id_list,
        meaning="Discord user ids or names served (with `GATEWAY_ALLOWED_USERS`).",
        default_doc="(none)",
    ),
    Setting(
        path="discord.allow_all_users",
        env="DISCORD_ALLOW_ALL_USERS",
        parse=parse_bool,
        meaning="Serve every Discord user, allowlists or not.",
    ),
    Setting(
        path="discord.unauthorized_dm_behavior",
        env="DISCORD_UNAUTHORIZED_DM_BEHAVIOR",
        parse=_DM_BEHAVIOR,
        meaning="`unauthorized_dm_behavior` for Discord alone.",
        default_doc="(none: `unauthorized_dm_behavior`)",
    ),
    Setting(
        path="discord.home_channel",
        env="DISCORD_HOME_CHANNEL",
        parse=parse_optional_text,
        meaning="Channel id that `discord` deliveries go to, until `/sethome` picks another.",
    ),
    Setting(
        path="discord.home_channel_name",
        env="DISCORD_HOME_CHANNEL_NAME",
        parse=parse_non_empty_text,
        meaning="Display name of the Discord home channel.",
    ),
    Setting(
        path="log_level",
        env="HERMES_LOG_LEVEL",
        parse=choice(("DEBUG", "INFO", "WARNING", "ERROR")),
        meaning="Least severe level logged: DEBUG, INFO, WARNING or ERROR.",
    ),
)
"""Every setting, in the order of the reference table."""


def setting_at(key: str) -> Setting | None:
    """The setting a config-file key names: path, alias, or shorthand section."""
    for setting in SETTINGS:
        if key in (setting.path, *setting.aliases):
            return setting
        if setting.shorthand and key == setting.section:
            return setting
    return None
