"""How the configuration becomes concrete parts: the agent, the platforms, the rules.

Part of the System's wiring (with ``hermes.actors.system``): the only place, with ``__main__``,
that knows concrete adapters. Pure construction: nothing here starts anything.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from hermes.actors.delivery import PlatformLink
from hermes.actors.session_state import SessionSettings
from hermes.adapters.agents.echo_agent import EchoAgent
from hermes.adapters.agents.openai_agent import OpenAIAgent, OpenAIAgentSettings
from hermes.adapters.hooks.runner import HookRunner
from hermes.adapters.platforms.discord_platform import DiscordPlatform, DiscordSettings
from hermes.adapters.platforms.http_api import HttpApiPlatform, HttpApiSettings
from hermes.adapters.platforms.telegram_platform import TelegramPlatform, TelegramSettings
from hermes.config import BusyInputMode, Config, MemoryProviderName, ResetMode
from hermes.messages.memory import MemoryProvider
from hermes.messages.ports import Agent, PlatformAdapter, StateStorage
from hermes.messages.values import ChatAddress, HomeChannel, Platform, SessionKey
from hermes.policies.authorization import (
    TRUSTED_PLATFORMS,
    AuthRules,
    DmBehavior,
    PlatformRules,
    dm_behavior,
)
from hermes.policies.commands import HELP_LINES_BY_NAME, CommandName
from hermes.policies.sessions import ResetRule, ResetRules

logger = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
KNOWN_CHATS_HORIZON: Final = timedelta(days=30)
KNOWN_CHATS_LIMIT: Final = 10_000
"""Chats read at start for the directory and the mirror book (the most recently active)."""
REPLY_GRACE_SECONDS: Final = 60.0
"""An HTTP request waits ``turn_timeout`` plus this for its answer (queueing, delivery)."""


def configured_agent(config: Config) -> Agent:
    """The agent the configuration names: an OpenAI-compatible model, or the echo agent."""
    model = config.model
    if model.name is None:
        return EchoAgent()
    return OpenAIAgent(
        OpenAIAgentSettings(
            model=model.name,
            base_url=model.base_url or DEFAULT_OPENAI_BASE_URL,
            api_key=model.api_key.reveal() if model.api_key is not None else None,
            system_prompt=config.agent.system_prompt,
            request_timeout=config.gateway.turn_timeout,
        )
    )


def configured_platforms(config: Config) -> list[PlatformAdapter]:
    """The platforms the configuration enables: the HTTP API, Telegram, Discord."""
    platforms: list[PlatformAdapter] = []
    api = config.api_server
    if api.enabled:
        platforms.append(
            HttpApiPlatform(
                HttpApiSettings(
                    host=api.host,
                    port=api.port,
                    key=api.key.reveal() if api.key is not None else None,
                    model_name=api.model_name,
                    reply_timeout=config.gateway.turn_timeout + REPLY_GRACE_SECONDS,
                )
            )
        )
    telegram = config.telegram
    if telegram.bot_token is not None:
        platforms.append(
            TelegramPlatform(
                TelegramSettings(
                    token=telegram.bot_token.reveal(),
                    base_url=telegram.base_url,
                    require_mention=telegram.require_mention,
                    free_response_chats=telegram.free_response_chats,
                    text_batch_delay=telegram.text_batch_delay,
                    commands=bot_commands(),
                    typing_max_seconds=config.gateway.turn_timeout,
                )
            )
        )
    discord = config.discord
    if discord.bot_token is not None:
        platforms.append(
            DiscordPlatform(
                DiscordSettings(
                    token=discord.bot_token.reveal(),
                    api_base=discord.api_base,
                    gateway_url=discord.gateway_url,
                    require_mention=discord.require_mention,
                    free_response_channels=discord.free_response_channels,
                    typing_max_seconds=config.gateway.turn_timeout,
                )
            )
        )
    return platforms


def bot_commands() -> tuple[tuple[str, str], ...]:
    """The gateway's commands as a chat client's command menu shows them (setMyCommands)."""
    return tuple(
        (name.value, HELP_LINES_BY_NAME.get(name.value, name.value)) for name in CommandName
    )


def link(platform: PlatformAdapter) -> PlatformLink:
    """How Delivery reaches ``platform``."""
    return PlatformLink(
        platform=platform.platform,
        address=platform.address,
        max_message_length=platform.max_message_length,
        streams=isinstance(platform, HttpApiPlatform),
    )


def local_zone(zone: tzinfo | None) -> tzinfo:
    """The zone daily resets are counted in: the given one, else the machine's."""
    return zone or datetime.now().astimezone().tzinfo or UTC


def session_settings(config: Config, zone: tzinfo | None) -> SessionSettings:
    """What every session applies."""
    return SessionSettings(
        interrupt=config.busy_input_mode is BusyInputMode.INTERRUPT,
        reset_rules=reset_rules(config),
        local_zone=local_zone(zone),
        idle_passivate_seconds=config.gateway.idle_passivate_seconds,
        history_limit=config.gateway.history_messages,
        flush_turn=config.memory.flush_turn,
    )


def reset_rules(config: Config) -> ResetRules:
    """The reset policy: the default rule and each platform's own."""
    reset = config.session_reset
    overrides: list[tuple[Platform, ResetRule | None]] = []
    for override in reset.platforms:
        try:
            platform = Platform(override.platform)
        except ValueError:
            logger.warning(
                "session_reset.platforms: unknown platform %r ignored", override.platform
            )
            continue
        overrides.append((platform, _rule(override.mode, override.at_hour, override.idle_minutes)))
    default = _rule(reset.mode, reset.at_hour, reset.idle_minutes)
    return ResetRules(default=default, platforms=tuple(overrides))


def _rule(mode: ResetMode, at_hour: int, idle_minutes: int) -> ResetRule | None:
    if mode is ResetMode.NONE:
        return None
    return ResetRule(
        idle=mode in {ResetMode.IDLE, ResetMode.BOTH},
        daily=mode in {ResetMode.DAILY, ResetMode.BOTH},
        at_hour=at_hour,
        idle_minutes=idle_minutes,
    )


def memory_provider(config: Config) -> MemoryProvider | None:
    """The configured long-term memory, or None."""
    match config.memory.provider:
        case MemoryProviderName.LOCAL:
            from hermes.adapters.memory.local_memory import LocalMemoryProvider  # noqa: PLC0415

            return LocalMemoryProvider(config.home / "memory.db")
        case MemoryProviderName.HONCHO:
            # The Honcho SDK (pydantic, httpx) is imported only when it is configured.
            from hermes.adapters.memory.honcho_memory import HonchoMemoryProvider, HonchoSettings  # noqa: PLC0415

            honcho = config.honcho
            return HonchoMemoryProvider(
                HonchoSettings(
                    api_key=honcho.api_key.reveal() if honcho.api_key is not None else None,
                    base_url=honcho.base_url,
                    workspace_id=honcho.workspace_id,
                )
            )
        case MemoryProviderName.NONE:
            return None


def auth_rules(config: Config, platforms: list[PlatformAdapter]) -> AuthRules:
    """The access rules; says how a chat platform without allowlists treats strangers."""
    rules = AuthRules(
        allowed_users=frozenset(config.gateway.allowed_users),
        allow_all=config.gateway.allow_all_users,
        unauthorized_dm=_dm_behavior(config.unauthorized_dm_behavior),
        platforms=(
            PlatformRules(
                platform=Platform.TELEGRAM,
                allowed_users=frozenset(config.telegram.allowed_users),
                allow_all=config.telegram.allow_all_users,
                unauthorized_dm=_dm_behavior(config.telegram.unauthorized_dm_behavior),
            ),
            PlatformRules(
                platform=Platform.DISCORD,
                allowed_users=frozenset(config.discord.allowed_users),
                allow_all=config.discord.allow_all_users,
                match_names=True,
                unauthorized_dm=_dm_behavior(config.discord.unauthorized_dm_behavior),
            ),
        ),
    )
    for adapter in platforms:
        platform = adapter.platform
        if platform in TRUSTED_PLATFORMS or not rules.denies_everyone_on(platform):
            continue
        if dm_behavior(rules, platform) is DmBehavior.PAIR:
            logger.info(
                "%s has no allowlist: strangers who DM the bot get a pairing code for the "
                "owner to approve (admin pairing approve %s CODE)",
                platform,
                platform.value,
            )
        else:
            logger.warning(
                "%s has no allowlist, no allow-all and no pairing: every user there will be "
                "ignored (set %s_ALLOWED_USERS, GATEWAY_ALLOWED_USERS or GATEWAY_ALLOW_ALL_USERS)",
                platform,
                platform.value.upper(),
            )
    return rules


def _dm_behavior(value: str | None) -> DmBehavior | None:
    return None if value is None else DmBehavior(value)


def home_channels(config: Config, chosen: tuple[HomeChannel, ...]) -> tuple[HomeChannel, ...]:
    """Configured home channels, each replaced by one chosen later with /sethome."""
    homes: dict[Platform, HomeChannel] = {}
    for platform, chat_id, name in (
        (Platform.TELEGRAM, config.telegram.home_channel, config.telegram.home_channel_name),
        (Platform.DISCORD, config.discord.home_channel, config.discord.home_channel_name),
    ):
        if chat_id:
            address = ChatAddress(platform=platform, chat_id=chat_id)
            homes[platform] = HomeChannel(platform=platform, address=address, name=name)
    homes.update((home.platform, home) for home in chosen)
    return tuple(homes.values())


def known_chats(storage: StateStorage) -> tuple[tuple[ChatAddress, SessionKey], ...]:
    """Chats of the sessions active in the last 30 days with their keys, oldest first.

    At most the ``KNOWN_CHATS_LIMIT`` most recent: a long-quiet chat is known again once it
    speaks.

    Delivery resolves names in targets from them; the Router finds the session to mirror
    deliveries into.
    """
    since = datetime.now(UTC) - KNOWN_CHATS_HORIZON
    return tuple(reversed(storage.recent_chats(since, KNOWN_CHATS_LIMIT)))


def hook_runner(config: Config) -> HookRunner | None:
    """The runner of the hooks in ``$HERMES_HOME/hooks``, or None when there are none.

    Without hooks, sessions get no runner and build no events at all.
    """
    hooks_dir = config.hooks_dir
    try:
        present = hooks_dir.is_dir() and any(entry.is_dir() for entry in hooks_dir.iterdir())
    except OSError as error:
        logger.warning("cannot read %s (%s); no hooks", hooks_dir, error)
        return None
    return HookRunner(hooks_dir, config.hooks.timeout) if present else None
