"""The settings Hermes understands: one table, its value parsers, its reference page.

Each ``Setting`` row of ``SETTINGS`` holds a config.yaml path, an environment variable,
a parser and a meaning. ``hermes.config`` loads from this table and the reference page
(docs/configuration.md) is rendered from it, so no key is spelled in two places. This
module is pure: it reads no files and no environment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

Parser = Callable[[object], object]
"""Raw value -> setting value (None: unset); raises InvalidValueError if it misfits."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret (API key, token): ``repr``/``str`` mask it, ``reveal()`` returns it."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """Return the secret text."""
        return self._value

    def __repr__(self) -> str:
        """Show a mask instead of the secret."""
        return "Secret('********')"

    __str__ = __repr__


class BusyInputMode(StrEnum):
    """What a user message does when it arrives while its session runs a turn."""

    INTERRUPT = "interrupt"
    QUEUE = "queue"


class ResetMode(StrEnum):
    """When sessions end by themselves (reference §1.5)."""

    DAILY = "daily"
    IDLE = "idle"
    BOTH = "both"
    NONE = "none"


class InvalidValueError(ValueError):
    """Raised by a parser; ``expected`` says what would have been accepted."""

    def __init__(self, expected: str) -> None:
        """Record what the setting expects, as text that follows "expected "."""
        super().__init__(expected)
        self.expected = expected


_TRUE_WORDS: Final = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS: Final = frozenset({"false", "no", "off", "0"})
_INTEGER_TEXT: Final = re.compile(r"[+-]?\d+")
HOME_ENV: Final = "HERMES_HOME"
DEFAULT_HOME: Final = "~/.hermes"


def parse_bool(raw: object) -> bool:
    """A YAML/JSON boolean, or true/false, yes/no, on/off, 1/0 as text (any case)."""
    if isinstance(raw, bool):
        return raw
    word = raw.strip().casefold() if isinstance(raw, str) else None
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise InvalidValueError("a boolean (true/false, yes/no, on/off, 1/0)")


def integer(low: int, high: int | None = None) -> Parser:
    """A parser for integers from ``low`` to ``high`` inclusive (None: no limit)."""
    expected = f"an integer >= {low}"
    if high is not None:
        expected = f"an integer from {low} to {high}"

    def parse(raw: object) -> int:
        # bool is a subclass of int, but `port: true` is a mistake, not 1.
        if isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw.strip()):
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidValueError(expected)
        if raw < low or (high is not None and raw > high):
            raise InvalidValueError(expected)
        return raw

    return parse


def positive_seconds(raw: object) -> float:
    """A finite number of seconds above zero, written as a number or as text."""
    value = math.nan
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        with contextlib.suppress(ValueError):
            value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise InvalidValueError("a number of seconds > 0")
    return value


def choice(values: Iterable[str]) -> Parser:
    """A parser for one of ``values`` (any case), e.g. a StrEnum's: returns the item."""
    canonical = {value.casefold(): value for value in values}
    expected = "one of " + ", ".join(repr(str(value)) for value in canonical.values())

    def parse(raw: object) -> str:
        found = canonical.get(raw.strip().casefold()) if isinstance(raw, str) else None
        if found is None:
            raise InvalidValueError(expected)
        return found

    return parse


def parse_text(raw: object) -> str:
    """Any string, an empty one included."""
    if not isinstance(raw, str):
        raise InvalidValueError("a string")
    return raw


def parse_non_empty_text(raw: object) -> str:
    """A string with something other than spaces in it."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidValueError("a non-empty string")
    return raw


def parse_optional_text(raw: object) -> str | None:
    """A string; an empty one means unset."""
    return parse_text(raw) or None


def parse_url(raw: object) -> str | None:
    """An http:// or https:// URL; an empty string means unset."""
    if raw == "":
        return None
    if isinstance(raw, str) and raw.casefold().startswith(("http://", "https://")):
        return raw
    raise InvalidValueError("a URL starting with http:// or https://")


def parse_secret(raw: object) -> Secret | None:
    """A secret string; a blank one means unset."""
    text = parse_text(raw)
    return Secret(text) if text.strip() else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One configuration key: how each source spells it and how its value is checked."""

    path: str
    """Dotted config.yaml path; its last part is the dataclass field's name."""
    env: str
    """Environment variable (also read from .env)."""
    parse: Parser
    meaning: str
    """One sentence for the reference table."""
    default_doc: str | None = None
    """The default as the reference shows it, where the bare value would mislead."""
    aliases: tuple[str, ...] = ()
    """Other dotted paths that config files may use for this key."""
    shorthand: bool = False
    """The whole section may be a plain value meaning this key (``model: gpt-4o``)."""

    @property
    def section(self) -> str:
        """The config.yaml section holding this key, or "" for a top-level key."""
        return self.path.rpartition(".")[0]

    @property
    def secret(self) -> bool:
        """Whether the value must never be shown, in errors, logs or repr."""
        return self.parse is parse_secret


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


def value_at(config: object, path: str) -> object:
    """The value at a dotted ``path`` of a configuration object."""
    for part in path.split("."):
        config = getattr(config, part)
    return config


def describe(value: object, *, secret: bool) -> str:
    """A raw value, shortened to one line for an error; a secret only by its type."""
    if secret:
        return f"a value of type {type(value).__name__}"
    return reprlib.repr(value)


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``."""
    name = host.strip().strip("[]")
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(name).is_loopback
    return name.casefold() == "localhost"
