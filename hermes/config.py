"""Load and validate Hermes's configuration, once, at start, into frozen dataclasses.

Sources, highest first: the process environment, ``$HERMES_HOME/.env``, config.yaml,
the legacy gateway.json, then the dataclass defaults. This is the only module of hermes
that reads the environment, and only inside ``load_config``: nothing runs at import and
nothing is written to ``os.environ``. The keys live in ``hermes.config_table``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml
from dotenv import dotenv_values
from dotenv.variables import parse_variables

from hermes.config_model import (
    AgentConfig,
    ApiServerConfig,
    Config,
    DiscordConfig,
    GatewayConfig,
    HonchoConfig,
    MemoryConfig,
    ModelConfig,
    SessionResetConfig,
    TelegramConfig,
)
from hermes.config_reference import reference_markdown
from hermes.config_settings import (
    DEFAULT_HOME,
    HOME_ENV,
    BusyInputMode,
    InvalidValueError,
    MemoryProviderName,
    ResetMode,
    ResetOverride,
    Secret,
    Setting,
    describe,
    is_loopback,
)
from hermes.config_table import SETTINGS, setting_at

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AgentConfig",
    "ApiServerConfig",
    "BusyInputMode",
    "Config",
    "ConfigError",
    "DiscordConfig",
    "GatewayConfig",
    "HonchoConfig",
    "LoadedConfig",
    "MemoryConfig",
    "MemoryProviderName",
    "ModelConfig",
    "ResetMode",
    "ResetOverride",
    "Secret",
    "SessionResetConfig",
    "TelegramConfig",
    "load_config",
    "resolve_home",
    "settings_reference_markdown",
]

_SECTIONS: Final = frozenset(setting.section for setting in SETTINGS if setting.section)


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
    _check_honcho(config, origins)
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


def _check_honcho(config: Config, origins: Mapping[str, str]) -> None:
    honcho = config.honcho
    if config.memory.provider is not MemoryProviderName.HONCHO:
        return
    if honcho.api_key is not None or honcho.base_url is not None:
        return
    raise ConfigError(
        origins.get("memory.provider", "defaults"),
        "honcho.api_key",
        "HONCHO_API_KEY, or HONCHO_BASE_URL for a self-hosted Honcho, when memory.provider "
        "is honcho",
        "neither",
    )


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
