"""Load and validate Hermes's configuration, once, at start, into frozen dataclasses.

Sources, highest first: the process environment, ``$HERMES_HOME/.env``, config.yaml,
the legacy gateway.json, then the dataclass defaults. This is the only module of hermes
that reads the environment, and only inside ``load_config``: nothing runs at import and
nothing is written to ``os.environ``. The keys live in ``hermes.config_settings``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

import yaml
from dotenv import dotenv_values
from dotenv.variables import parse_variables

from hermes.config_reference import reference_markdown
from hermes.config_settings import (
    DEFAULT_HOME,
    HOME_ENV,
    SETTINGS,
    BusyInputMode,
    InvalidValueError,
    ResetMode,
    Secret,
    Setting,
    describe,
    is_loopback,
    setting_at,
    value_at,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AgentConfig",
    "ApiServerConfig",
    "BusyInputMode",
    "Config",
    "ConfigError",
    "GatewayConfig",
    "LoadedConfig",
    "ModelConfig",
    "ResetMode",
    "Secret",
    "SessionResetConfig",
    "load_config",
    "resolve_home",
    "settings_reference_markdown",
]

DEFAULT_SYSTEM_PROMPT: Final = (
    "You are Hermes, a helpful assistant people reach through their chat apps. "
    "Answer clearly and concisely."
)
_SECTIONS: Final = frozenset(setting.section for setting in SETTINGS if setting.section)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Limits and timeouts of the running gateway (times in seconds)."""

    shutdown_timeout: float = 30.0
    max_concurrent_turns: int = 1000
    turn_timeout: float = 1800.0
    idle_passivate_seconds: float = 600.0
    history_messages: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration; made by ``load_config`` or ``Config.defaults``."""

    home: Path
    """Data directory: ``--home``, else ``$HERMES_HOME``, else ``~/.hermes``."""
    api_server: ApiServerConfig = field(default_factory=ApiServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    session_reset: SessionResetConfig = field(default_factory=SessionResetConfig)
    group_sessions_per_user: bool = True
    busy_input_mode: BusyInputMode = BusyInputMode.INTERRUPT
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
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
    def log_dir(self) -> Path:
        """The directory of log files."""
        return self.home / "logs"

    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value, for the log redactor."""
        found = (value_at(self, s.path) for s in SETTINGS if s.secret)
        return tuple(value.reveal() for value in found if isinstance(value, Secret))


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedConfig:
    """What ``load_config`` found: the configuration, warnings to log, files read."""

    config: Config
    warnings: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


class ConfigError(Exception):
    """A value or file Hermes cannot use. ``str()`` is one line, never a secret."""

    def __init__(self, source: str, key: str, expected: str, got: str) -> None:
        """Source, dotted key ("(file)": the whole file), what fits, what was found."""
        self.source = source
        self.key = key
        self.expected = expected
        self.got = got
        message = f"{source}: {key}: expected {expected}, got {got}"
        super().__init__(message.replace("\n", " "))


@dataclass(frozen=True, slots=True)
class _Raw:
    source: str
    key: str
    value: object


@dataclass(frozen=True, slots=True)
class _Layer:
    values: Mapping[str, _Raw]
    read_from: str | None = None
    warnings: tuple[str, ...] = ()


def load_config(home: Path | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read every source, check every value, and return the frozen configuration.

    Args:
        home: The data directory (the CLI's ``--home``); beats ``HERMES_HOME``.
        environ: The environment to read, never modified; ``os.environ`` if None.

    Raises:
        ConfigError: For the first value or file that cannot be used.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    root = resolve_home(home, env)
    layers = (
        _variables_layer(env, "environment variable "),
        _dotenv_layer(root / ".env", env),
        _file_layer(root / "config.yaml"),
        _file_layer(root / "gateway.json"),
    )
    changes: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        for layer in layers:
            raw = layer.values.get(setting.path)
            value = None if raw is None else _parse(setting, raw)
            if raw is not None and value is not None and setting.path not in changes:
                changes[setting.path] = value
                origins[setting.path] = raw.source
    config = _build(root, changes)
    _check_api_key(config, origins)
    return LoadedConfig(
        config=config,
        warnings=tuple(warning for layer in layers for warning in layer.warnings),
        sources=tuple(layer.read_from for layer in layers if layer.read_from),
    )


def resolve_home(home: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The data directory: ``--home``, else ``$HERMES_HOME``, else ~/.hermes."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    return Path(home or env.get(HOME_ENV) or DEFAULT_HOME).expanduser().absolute()


def settings_reference_markdown() -> str:
    """The configuration reference page (docs/configuration.md), from the table."""
    return reference_markdown(Config.defaults(Path(DEFAULT_HOME)))


def _dotenv_layer(path: Path, env: Mapping[str, str]) -> _Layer:
    text = _read_text(path)
    if text is None:
        return _Layer(values={})
    # dotenv's own ${VAR} expansion reads os.environ; expanding here reads `env`.
    resolved: dict[str, str] = {}
    for name, value in dotenv_values(stream=io.StringIO(text), interpolate=False).items():
        if value is not None:
            scope = {**env, **resolved}
            atoms = parse_variables(value)
            resolved[name] = "".join(atom.resolve(scope) for atom in atoms)
    return _variables_layer(resolved, f"{path}: ", read_from=str(path))


def _variables_layer(
    variables: Mapping[str, str], prefix: str, read_from: str | None = None
) -> _Layer:
    # An empty variable is how compose files and units "unset" one: fall through.
    values = {
        s.path: _Raw(prefix + s.env, s.path, raw) for s in SETTINGS if (raw := variables.get(s.env))
    }
    return _Layer(values=values, read_from=read_from)


def _file_layer(path: Path) -> _Layer:
    text = _read_text(path)
    if text is None:
        return _Layer(values={})
    source = str(path)
    legacy = path.suffix == ".json"
    data = _parse_json(text, source) if legacy else _parse_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        got = describe(data, secret=True)
        raise ConfigError(source, "(file)", "a mapping at the top level", got)
    values: dict[str, _Raw] = {}
    warnings: list[str] = []
    if legacy:
        warnings.append(f"{source}: legacy file; consider moving it to config.yaml")
    for key, value in data.items():
        setting = setting_at(str(key))
        if key in _SECTIONS:
            _flatten_section(_Raw(source, str(key), value), values, warnings)
        elif setting is not None and not setting.section:
            values[setting.path] = _Raw(source, str(key), value)
        else:
            warnings.append(f"{source}: unknown key {key!r} (ignored)")
    return _Layer(values=values, read_from=source, warnings=tuple(warnings))


def _flatten_section(section: _Raw, values: dict[str, _Raw], warnings: list[str]) -> None:
    if section.value is None:
        return
    if not isinstance(section.value, dict):
        short = setting_at(section.key)
        if short is None or isinstance(section.value, list):
            expected = "a mapping" if short is None else "a mapping or a string"
            got = describe(section.value, secret=True)
            raise ConfigError(section.source, section.key, expected, got)
        values[short.path] = section
        return
    for name, item in section.value.items():
        key = f"{section.key}.{name}"
        setting = setting_at(key)
        if setting is None:
            warnings.append(f"{section.source}: unknown key {key!r} (ignored)")
        elif setting.path in values:
            names = " and ".join(repr(p) for p in (setting.path, *setting.aliases))
            raise ConfigError(section.source, key, f"only one of {names}", "both")
        else:
            values[setting.path] = _Raw(section.source, key, item)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as error:
        got = f"an undecodable byte at offset {error.start}"
        raise ConfigError(str(path), "(file)", "UTF-8 text", got) from None
    except OSError as error:
        got = str(error.strerror)
        raise ConfigError(str(path), "(file)", "a readable file", got) from None


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        # Only the problem and its position: str(error) quotes the offending line,
        # which may hold a secret.
        mark = getattr(error, "problem_mark", None)
        got = getattr(error, "problem", None) or "a syntax error"
        if mark is not None:
            got += f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(source, "(file)", "valid YAML", got) from None


def _parse_json(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        got = f"{error.msg} at line {error.lineno}, column {error.colno}"
        raise ConfigError(source, "(file)", "valid JSON", got) from None


def _parse(setting: Setting, raw: _Raw) -> object:
    if raw.value is None:
        return None
    try:
        return setting.parse(raw.value)
    except InvalidValueError as error:
        got = describe(raw.value, secret=setting.secret)
        raise ConfigError(raw.source, raw.key, error.expected, got) from None


def _build(home: Path, changes: Mapping[str, Any]) -> Config:
    config = Config.defaults(home)
    by_section: dict[str, dict[str, Any]] = {}
    for path, value in changes.items():
        section, _, name = path.rpartition(".")
        by_section.setdefault(section, {})[name] = value
    top = by_section.pop("", {})
    for section, section_changes in by_section.items():
        top[section] = replace(getattr(config, section), **section_changes)
    return replace(config, **top)


def _check_api_key(config: Config, origins: Mapping[str, str]) -> None:
    api = config.api_server
    if not api.enabled or api.key is not None or is_loopback(api.host):
        return
    key = next(s for s in SETTINGS if s.path == "api_server.key")
    raise ConfigError(
        origins.get("api_server.host", "defaults"),
        key.path,
        f"a key ({key.env}) when the HTTP API listens on a non-loopback address",
        f"none (api_server.host is {api.host!r})",
    )
