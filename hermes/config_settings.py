"""What a setting is, and the parsers that check its values.

Each ``Setting`` (the rows are in ``hermes.config_table``) holds a config.yaml path, an
environment variable, a parser and a meaning. This module is pure: it reads no files and no
environment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, cast

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


def non_negative_seconds(raw: object) -> float:
    """A finite number of seconds, zero allowed (to turn a delay off)."""
    if raw in (0, "0"):
        return 0.0
    try:
        return positive_seconds(raw)
    except InvalidValueError:
        raise InvalidValueError("a number of seconds >= 0") from None


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


def parse_id_list(raw: object) -> tuple[str, ...] | None:
    """Ids or names: a YAML/JSON list, or comma-separated text; empty means unset."""
    if isinstance(raw, str):
        items: list[object] = list(raw.split(","))
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidValueError("a list of ids (or comma-separated text)")
    values: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InvalidValueError("a list of ids (or comma-separated text)")
        text = str(item).strip()
        if text:
            values.append(text)
    return tuple(values) or None


def parse_ws_url(raw: object) -> str:
    """A ws:// or wss:// URL."""
    if isinstance(raw, str) and raw.casefold().startswith(("ws://", "wss://")):
        return raw
    raise InvalidValueError("a URL starting with ws:// or wss://")


class MemoryProviderName(StrEnum):
    """Which long-term memory the sessions use."""

    LOCAL = "local"
    HONCHO = "honcho"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetOverride:
    """A platform's own reset policy (``session_reset.platforms.<platform>``)."""

    platform: str
    mode: ResetMode
    at_hour: int = 4
    idle_minutes: int = 1440


_OVERRIDE_EXPECTED: Final = (
    "a mapping of platform to {mode, at_hour, idle_minutes} (JSON text in the environment)"
)


def parse_reset_overrides(raw: object) -> tuple[ResetOverride, ...] | None:
    """Per-platform reset policies: a mapping (YAML/JSON), or JSON text from the environment."""
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidValueError(_OVERRIDE_EXPECTED) from None
    if not isinstance(raw, dict):
        raise InvalidValueError(_OVERRIDE_EXPECTED)
    return tuple(_reset_override(str(name), value) for name, value in raw.items()) or None


def _reset_override(platform: str, value: object) -> ResetOverride:
    if not isinstance(value, dict) or not set(value) <= {"mode", "at_hour", "idle_minutes"}:
        raise InvalidValueError(_OVERRIDE_EXPECTED)
    return ResetOverride(
        platform=platform.casefold(),
        mode=ResetMode(cast("str", choice(ResetMode)(value.get("mode", "none")))),
        at_hour=cast("int", integer(0, 23)(value.get("at_hour", 4))),
        idle_minutes=cast("int", integer(1)(value.get("idle_minutes", 1440))),
    )


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
