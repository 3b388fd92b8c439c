from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from hermes.config import (
    BusyInputMode,
    Config,
    ConfigError,
    LoadedConfig,
    MemoryProviderName,
    ResetMode,
    ResetOverride,
    Secret,
    load_config,
    settings_reference_markdown,
)
from hermes.config_settings import value_at
from hermes.config_table import SETTINGS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
CONFIDENTIAL = "sk-NEVER-SHOW-THIS-1234"

# path -> (text for the environment and .env, native YAML/JSON value, expected value).
# Every one differs from its default, so a setting that fails to load is noticed.
SAMPLES: dict[str, tuple[str, object, object]] = {
    "api_server.enabled": ("false", False, False),
    "api_server.host": ("::1", "::1", "::1"),
    "api_server.port": ("9001", 9001, 9001),
    "api_server.key": ("key-123", "key-123", Secret("key-123")),
    "api_server.model_name": ("my-model", "my-model", "my-model"),
    "model.name": ("gpt-test", "gpt-test", "gpt-test"),
    "model.base_url": ("http://llm.local/v1", "http://llm.local/v1", "http://llm.local/v1"),
    "model.api_key": ("sk-test", "sk-test", Secret("sk-test")),
    "agent.system_prompt": ("Be brief.", "Be brief.", "Be brief."),
    "session_reset.mode": ("both", "both", ResetMode.BOTH),
    "session_reset.at_hour": ("0", 0, 0),
    "session_reset.idle_minutes": ("30", 30, 30),
    "group_sessions_per_user": ("no", False, False),
    "busy_input_mode": ("queue", "queue", BusyInputMode.QUEUE),
    "timezone": ("Europe/Berlin", "Europe/Berlin", "Europe/Berlin"),
    "gateway.shutdown_timeout": ("2.5", 2.5, 2.5),
    "gateway.max_concurrent_turns": ("7", 7, 7),
    "gateway.turn_timeout": ("90", 90, 90.0),
    "gateway.idle_passivate_seconds": ("0.5", 0.5, 0.5),
    "gateway.history_messages": ("12", 12, 12),
    "gateway.expiry_check_seconds": ("60", 60, 60.0),
    "session_reset.platforms": (
        '{"telegram": {"mode": "idle", "idle_minutes": 60}}',
        {"Telegram": {"mode": "idle", "idle_minutes": 60}},
        (ResetOverride(platform="telegram", mode=ResetMode.IDLE, idle_minutes=60),),
    ),
    "memory.provider": ("none", "none", MemoryProviderName.NONE),
    "memory.flush_turn": ("false", False, False),
    "honcho.api_key": ("hk-1", "hk-1", Secret("hk-1")),
    "honcho.base_url": ("http://honcho.local", "http://honcho.local", "http://honcho.local"),
    "honcho.workspace_id": ("ws", "ws", "ws"),
    "gateway.allowed_users": ("111, 222", [111, "222"], ("111", "222")),
    "gateway.allow_all_users": ("yes", True, True),
    "hooks.timeout": ("2.5", 2.5, 2.5),
    "unauthorized_dm_behavior": ("ignore", "ignore", "ignore"),
    "telegram.bot_token": ("123:abc", "123:abc", Secret("123:abc")),
    "telegram.base_url": ("http://tg.local/bot", "http://tg.local/bot", "http://tg.local/bot"),
    "telegram.require_mention": ("off", False, False),
    "telegram.free_response_chats": ("-100,-200", ["-100", -200], ("-100", "-200")),
    "telegram.allowed_users": ("42", [42], ("42",)),
    "telegram.allow_all_users": ("true", True, True),
    "telegram.unauthorized_dm_behavior": ("PAIR", "Pair", "pair"),
    "telegram.home_channel": ("-1001", "-1001", "-1001"),
    "telegram.home_channel_name": ("Ops", "Ops", "Ops"),
    "telegram.text_batch_delay": ("0", 0, 0.0),
    "discord.bot_token": ("d-token", "d-token", Secret("d-token")),
    "discord.api_base": (
        "http://dc.local/api/v10",
        "http://dc.local/api/v10",
        "http://dc.local/api/v10",
    ),
    "discord.gateway_url": ("ws://dc.local/", "ws://dc.local/", "ws://dc.local/"),
    "discord.require_mention": ("false", False, False),
    "discord.free_response_channels": ("9,8", ["9", 8], ("9", "8")),
    "discord.allowed_users": ("alice,7", ["alice", 7], ("alice", "7")),
    "discord.allow_all_users": ("1", True, True),
    "discord.unauthorized_dm_behavior": ("ignore", "ignore", "ignore"),
    "discord.home_channel": ("555", "555", "555"),
    "discord.home_channel_name": ("Lobby", "Lobby", "Lobby"),
    "log_level": ("warning", "warning", "WARNING"),
}
ENV_NAMES = {setting.path: setting.env for setting in SETTINGS}


def write(home: Path, name: str, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def nested(path: str, value: object) -> dict[str, object]:
    section, _, name = path.rpartition(".")
    return {section: {name: value}} if section else {name: value}


def load(home: Path, environ: dict[str, str] | None = None) -> LoadedConfig:
    return load_config(home, {} if environ is None else environ)


def load_error(home: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(home, environ)
    return caught.value


# --- defaults and home ------------------------------------------------------------


def test_empty_home_gives_the_defaults(tmp_path):
    loaded = load(tmp_path)

    assert loaded.config == Config.defaults(tmp_path)
    assert loaded.warnings == ()
    assert loaded.sources == ()
    config = loaded.config
    assert config.api_server.enabled is True
    assert (config.api_server.host, config.api_server.port) == ("127.0.0.1", 8642)
    assert config.api_server.key is None
    assert config.api_server.model_name == "hermes-agent"
    assert config.model.name is None
    assert config.model.base_url is None
    assert config.session_reset.mode is ResetMode.NONE
    assert config.busy_input_mode is BusyInputMode.INTERRUPT
    assert config.gateway.turn_timeout == 1800.0
    assert config.log_level == "INFO"
    assert config.agent.system_prompt.startswith("You are Hermes")


def test_a_home_that_does_not_exist_loads_defaults(tmp_path):
    loaded = load(tmp_path / "not" / "yet")

    assert loaded.config == Config.defaults(tmp_path / "not" / "yet")
    assert not (tmp_path / "not").exists()


def test_derived_paths_live_in_home(tmp_path):
    config = Config.defaults(tmp_path)

    assert config.state_db == tmp_path / "state.db"
    assert config.admin_socket == tmp_path / "admin.sock"
    assert config.pid_file == tmp_path / "gateway.pid"
    assert config.lock_file == tmp_path / "gateway.lock"
    assert config.log_dir == tmp_path / "logs"


def test_home_argument_beats_hermes_home(tmp_path):
    chosen, other = tmp_path / "chosen", tmp_path / "other"
    write(chosen, "config.yaml", "api_server: {port: 1111}")
    write(other, "config.yaml", "api_server: {port: 2222}")

    loaded = load_config(chosen, {"HERMES_HOME": str(other)})

    assert loaded.config.home == chosen
    assert loaded.config.api_server.port == 1111


def test_hermes_home_is_used_without_a_home_argument(tmp_path):
    write(tmp_path, "config.yaml", "api_server: {port: 2222}")

    loaded = load_config(None, {"HERMES_HOME": str(tmp_path)})

    assert loaded.config.home == tmp_path
    assert loaded.config.api_server.port == 2222


def test_home_defaults_to_dot_hermes_in_the_user_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))

    loaded = load_config(None, {})

    assert loaded.config.home == tmp_path / ".hermes"


def test_relative_home_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert load_config(Path("data"), {}).config.home == tmp_path / "data"


def test_process_environment_is_read_by_default_and_never_written(tmp_path, monkeypatch):
    write(tmp_path, ".env", "HERMES_MODEL=from-dotenv\nSOMETHING_NEW=1\n")
    monkeypatch.setenv("HERMES_HOME", str(tmp_path))
    monkeypatch.setenv("API_SERVER_PORT", "7777")
    before = dict(os.environ)

    loaded = load_config()

    assert loaded.config.api_server.port == 7777
    assert loaded.config.model.name == "from-dotenv"
    assert dict(os.environ) == before


def test_explicit_environ_is_not_modified(tmp_path):
    write(tmp_path, ".env", "HERMES_MODEL=from-dotenv\n")
    environ = {"API_SERVER_PORT": "7777"}

    load(tmp_path, environ)

    assert environ == {"API_SERVER_PORT": "7777"}


# --- every setting from every source ----------------------------------------------


def test_samples_cover_every_setting():
    assert set(SAMPLES) == {setting.path for setting in SETTINGS}


@pytest.mark.parametrize("path", SAMPLES)
@pytest.mark.parametrize("source", ["environment", ".env", "config.yaml", "gateway.json"])
def test_each_source_alone_sets_each_setting(tmp_path, source, path):
    text, native, expected = SAMPLES[path]
    environ = {}
    if source == "environment":
        environ[ENV_NAMES[path]] = text
    elif source == ".env":
        write(tmp_path, ".env", f"{ENV_NAMES[path]}='{text}'\n")
    elif source == "config.yaml":
        write(tmp_path, "config.yaml", yaml.safe_dump(nested(path, native)))
    else:
        write(tmp_path, "gateway.json", json.dumps(nested(path, native)))

    loaded = load(tmp_path, environ)

    assert value_at(loaded.config, path) == expected
    defaults = Config.defaults(tmp_path)
    for other in SAMPLES.keys() - {path}:
        assert value_at(loaded.config, other) == value_at(defaults, other)
    if source != "environment":
        assert loaded.sources == (str(tmp_path / source),)


def test_precedence_walks_down_env_dotenv_yaml_json_default(tmp_path):
    environ = {"API_SERVER_PORT": "1001"}
    dotenv = write(tmp_path, ".env", "API_SERVER_PORT=1002\n")
    config_yaml = write(tmp_path, "config.yaml", "api_server:\n  port: 1003\n")
    gateway_json = write(tmp_path, "gateway.json", '{"api_server": {"port": 1004}}')

    assert load(tmp_path, environ).config.api_server.port == 1001
    assert load(tmp_path).config.api_server.port == 1002
    dotenv.unlink()
    assert load(tmp_path).config.api_server.port == 1003
    config_yaml.unlink()
    assert load(tmp_path).config.api_server.port == 1004
    gateway_json.unlink()
    assert load(tmp_path).config.api_server.port == 8642


def test_layers_merge_key_by_key(tmp_path):
    write(tmp_path, "config.yaml", "api_server: {port: 1003}\nlog_level: debug\n")
    write(tmp_path, "gateway.json", '{"api_server": {"host": "::1", "port": 1004}}')

    config = load(tmp_path, {"HERMES_LOG_LEVEL": "error"}).config

    assert (config.api_server.host, config.api_server.port) == ("::1", 1003)
    assert config.log_level == "ERROR"


def test_empty_environment_value_falls_through(tmp_path):
    write(tmp_path, ".env", "API_SERVER_PORT=\n")
    write(tmp_path, "config.yaml", "api_server: {port: 1003}")

    loaded = load(tmp_path, {"API_SERVER_PORT": ""})

    assert loaded.config.api_server.port == 1003


def test_yaml_null_falls_through(tmp_path):
    write(tmp_path, "config.yaml", "api_server: {port: null}\ngateway:\n")
    write(tmp_path, "gateway.json", '{"api_server": {"port": 1004}}')

    assert load(tmp_path).config.api_server.port == 1004


def test_empty_string_unsets_an_optional_key(tmp_path):
    write(tmp_path, "config.yaml", "model: {name: '', api_key: ''}")
    write(tmp_path, "gateway.json", '{"model": {"name": "from-json"}}')

    config = load(tmp_path).config

    assert config.model.name == "from-json"
    assert config.model.api_key is None


def test_numeric_strings_in_files_are_numbers(tmp_path):
    write(tmp_path, "config.yaml", "api_server: {port: '8000'}\ngateway: {turn_timeout: '30'}")

    config = load(tmp_path).config

    assert config.api_server.port == 8000
    assert config.gateway.turn_timeout == 30.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
        ("false", False), ("False", False), ("0", False), ("no", False), ("OFF", False),
    ],
)  # fmt: skip
def test_booleans_from_environment_text(tmp_path, text, expected):
    config = load(tmp_path, {"GROUP_SESSIONS_PER_USER": text}).config

    assert config.group_sessions_per_user is expected


def test_dotenv_expands_variables_from_given_environment_and_earlier_lines(tmp_path):
    write(
        tmp_path,
        ".env",
        """\
        LLM_HOST=http://llm.local
        OPENAI_BASE_URL=${LLM_HOST}:${LLM_PORT:-8000}/v1
        HERMES_MODEL=${MODEL_FROM_SHELL}
        """,
    )

    config = load(tmp_path, {"MODEL_FROM_SHELL": "shell-model"}).config

    assert config.model.base_url == "http://llm.local:8000/v1"
    assert config.model.name == "shell-model"


def test_unknown_environment_variables_are_ignored(tmp_path):
    write(tmp_path, ".env", "SLACK_BOT_TOKEN=abc\n")

    loaded = load(tmp_path, {"SOME_OTHER_VAR": "x", "API_SERVER_PORTT": "oops"})

    assert loaded.config == Config.defaults(tmp_path)
    assert loaded.warnings == ()


# --- model section forms ------------------------------------------------------------


def test_model_may_be_a_plain_string(tmp_path):
    write(tmp_path, "config.yaml", "model: gpt-4o-mini")

    assert load(tmp_path).config.model.name == "gpt-4o-mini"


def test_model_default_is_an_alias_of_name(tmp_path):
    write(
        tmp_path,
        "config.yaml",
        f"""\
        model:
          default: gpt-4o
          base_url: https://llm.example/v1
          api_key: {CONFIDENTIAL}
        """,
    )

    model = load(tmp_path).config.model

    assert model.name == "gpt-4o"
    assert model.base_url == "https://llm.example/v1"
    assert model.api_key == Secret(CONFIDENTIAL)


def test_environment_beats_the_model_alias(tmp_path):
    write(tmp_path, "config.yaml", "model: {default: from-yaml}")

    assert load(tmp_path, {"HERMES_MODEL": "from-env"}).config.model.name == "from-env"


# --- warnings -----------------------------------------------------------------------

UNKNOWN_KEYS = {"gatway": {"turn_timeout": 5}, "api_server": {"prot": 1, "port": 1003}}


@pytest.mark.parametrize(
    ("name", "text"),
    [("config.yaml", yaml.safe_dump(UNKNOWN_KEYS)), ("gateway.json", json.dumps(UNKNOWN_KEYS))],
)
def test_unknown_keys_are_warnings_not_errors(tmp_path, name, text):
    path = write(tmp_path, name, text)

    loaded = load(tmp_path)

    assert loaded.config.api_server.port == 1003
    assert f"{path}: unknown key 'gatway' (ignored)" in loaded.warnings
    assert f"{path}: unknown key 'api_server.prot' (ignored)" in loaded.warnings


def test_dotted_keys_are_not_a_way_around_sections(tmp_path):
    path = write(tmp_path, "config.yaml", "api_server.port: 1003\nlog_level: debug\n")

    loaded = load(tmp_path)

    assert loaded.config.api_server.port == 8642
    assert loaded.config.log_level == "DEBUG"
    assert loaded.warnings == (f"{path}: unknown key 'api_server.port' (ignored)",)


def test_gateway_json_is_reported_as_legacy(tmp_path):
    path = write(tmp_path, "gateway.json", "{}")

    loaded = load(tmp_path)

    assert loaded.sources == (str(path),)
    assert len(loaded.warnings) == 1
    assert "legacy" in loaded.warnings[0]
    assert "config.yaml" in loaded.warnings[0]


def test_sources_list_the_files_read_in_precedence_order(tmp_path):
    for name in ("gateway.json", "config.yaml", ".env"):
        write(tmp_path, name, "{}" if name.endswith("json") else "")

    loaded = load(tmp_path)

    assert loaded.sources == tuple(
        str(tmp_path / name) for name in (".env", "config.yaml", "gateway.json")
    )


# --- errors -------------------------------------------------------------------------

# (files to write, environ, source relative to home or "environment variable X", key,
#  text that must follow "expected ", the value as shown after "got ")
ERROR_CASES = {
    "busy mode unknown": (
        {"config.yaml": "busy_input_mode: steer"}, {},
        "config.yaml", "busy_input_mode", "one of 'interrupt', 'queue'", "'steer'",
    ),
    "reset mode unknown": (
        {}, {"SESSION_RESET_MODE": "weekly"},
        "environment variable SESSION_RESET_MODE", "session_reset.mode",
        "one of 'daily', 'idle', 'both', 'none'", "'weekly'",
    ),
    "string for number in yaml": (
        {"config.yaml": "gateway:\n  turn_timeout: soon\n"}, {},
        "config.yaml", "gateway.turn_timeout", "a number of seconds > 0", "'soon'",
    ),
    "bool for number in yaml": (
        {"config.yaml": "api_server: {port: true}"}, {},
        "config.yaml", "api_server.port", "an integer from 0 to 65535", "True",
    ),
    "list for a section": (
        {"config.yaml": "api_server: [1, 2]"}, {},
        "config.yaml", "api_server", "a mapping", "a value of type list",
    ),
    "list for the model section": (
        {"gateway.json": '{"model": ["a"]}'}, {},
        "gateway.json", "model", "a mapping or a string", "a value of type list",
    ),
    "port -1": (
        {"config.yaml": "api_server: {port: -1}"}, {},
        "config.yaml", "api_server.port", "an integer from 0 to 65535", "-1",
    ),
    "port 70000": (
        {"gateway.json": '{"api_server": {"port": 70000}}'}, {},
        "gateway.json", "api_server.port", "an integer from 0 to 65535", "70000",
    ),
    "port abc from env": (
        {}, {"API_SERVER_PORT": "abc"},
        "environment variable API_SERVER_PORT", "api_server.port",
        "an integer from 0 to 65535", "'abc'",
    ),
    "at_hour 24 from .env": (
        {".env": "SESSION_RESET_HOUR=24\n"}, {},
        ".env: SESSION_RESET_HOUR", "session_reset.at_hour",
        "an integer from 0 to 23", "'24'",
    ),
    "idle minutes 0": (
        {"config.yaml": "session_reset: {idle_minutes: 0}"}, {},
        "config.yaml", "session_reset.idle_minutes", "an integer >= 1", "0",
    ),
    "bad bool from env": (
        {}, {"API_SERVER_ENABLED": "maybe"},
        "environment variable API_SERVER_ENABLED", "api_server.enabled",
        "a boolean (true/false, yes/no, on/off, 1/0)", "'maybe'",
    ),
    "non-http base url": (
        {"config.yaml": "model: {base_url: 'ftp://llm'}"}, {},
        "config.yaml", "model.base_url", "a URL starting with http:// or https://",
        "'ftp://llm'",
    ),
    "empty host": (
        {"config.yaml": "api_server: {host: ''}"}, {},
        "config.yaml", "api_server.host", "a non-empty string", "''",
    ),
    "unknown time zone": (
        {}, {"HERMES_TIMEZONE": "Mars/Olympus"},
        "environment variable HERMES_TIMEZONE", "timezone",
        "an IANA time zone name, such as Europe/Berlin or UTC", "'Mars/Olympus'",
    ),
    "time zone that is a path": (
        {"config.yaml": "timezone: ../../etc/passwd"}, {},
        "config.yaml", "timezone",
        "an IANA time zone name, such as Europe/Berlin or UTC", "'../../etc/passwd'",
    ),
    "unknown log level": (
        {}, {"HERMES_LOG_LEVEL": "verbose"},
        "environment variable HERMES_LOG_LEVEL", "log_level",
        "one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'", "'verbose'",
    ),
    "non-positive timeout": (
        {}, {"HERMES_SHUTDOWN_TIMEOUT": "0"},
        "environment variable HERMES_SHUTDOWN_TIMEOUT", "gateway.shutdown_timeout",
        "a number of seconds > 0", "'0'",
    ),
    "infinite timeout": (
        {"config.yaml": "gateway: {turn_timeout: .inf}"}, {},
        "config.yaml", "gateway.turn_timeout", "a number of seconds > 0", "inf",
    ),
    "both model name and default": (
        {"config.yaml": "model: {name: a, default: b}"}, {},
        "config.yaml", "model.default", "only one of 'model.name' and 'model.default'",
        "both",
    ),
    "top level is a list": (
        {"config.yaml": f"- {CONFIDENTIAL}\n"}, {},
        "config.yaml", "(file)", "a mapping at the top level", "a value of type list",
    ),
    "secret of the wrong type": (
        {"config.yaml": "api_server: {key: 123456789}"}, {},
        "config.yaml", "api_server.key", "a string", "a value of type int",
    ),
    "unparsable yaml": (
        {"config.yaml": f"model:\n  api_key: {CONFIDENTIAL}: oops\n"}, {},
        "config.yaml", "(file)", "valid YAML",
        ("mapping values are not allowed here"
         f" at line 2, column {12 + len(CONFIDENTIAL)}"),
    ),
    "unparsable json": (
        {"gateway.json": f'{{"model": {{"api_key": "{CONFIDENTIAL}",}}}}'}, {},
        "gateway.json", "(file)", "valid JSON",
        ("Expecting property name enclosed in double quotes"
         f" at line 1, column {26 + len(CONFIDENTIAL)}"),
    ),
    "non-loopback host without key": (
        {"config.yaml": "api_server: {host: 0.0.0.0}"}, {},
        "config.yaml", "api_server.key",
        "a key (API_SERVER_KEY) when the HTTP API listens on a non-loopback address",
        "none (api_server.host is '0.0.0.0')",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_bad_values_raise_one_line_errors_naming_source_key_and_expectation(tmp_path, case):
    files, environ, source, key, expected, got = case
    for name, text in files.items():
        write(tmp_path, name, text)
    # A secret is configured in every case; no error may ever show it.
    environ = {"OPENAI_API_KEY": CONFIDENTIAL, **environ}
    if not source.startswith("environment variable"):
        source = f"{tmp_path}/{source}"

    error = load_error(tmp_path, environ)

    assert (error.source, error.key, error.expected, error.got) == (source, key, expected, got)
    assert str(error) == f"{source}: {key}: expected {expected}, got {got}"
    assert "\n" not in str(error)
    assert CONFIDENTIAL not in str(error)
    assert CONFIDENTIAL not in repr(error)


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("environment", "gateway.max_concurrent_turns"),
        (".env", "gateway.history_messages"),
        ("config.yaml", "api_server.key"),
    ],
)
def test_no_error_shows_a_configured_or_rejected_secret(tmp_path, source, key):
    environ = {"API_SERVER_KEY": CONFIDENTIAL}
    if source == "environment":
        environ["HERMES_MAX_CONCURRENT_TURNS"] = "zero"
    elif source == ".env":
        text = f"API_SERVER_KEY={CONFIDENTIAL}\nHERMES_HISTORY_MESSAGES=x\n"
        write(tmp_path, ".env", text)
    else:
        # The rejected value is itself the secret, inside a list.
        write(tmp_path, "config.yaml", f"api_server: {{key: [{CONFIDENTIAL}]}}")

    error = load_error(tmp_path, environ)

    assert error.key == key
    assert CONFIDENTIAL not in str(error)
    assert CONFIDENTIAL[:8] not in str(error)


def test_a_bad_value_is_reported_even_when_a_higher_source_overrides_it(tmp_path):
    write(tmp_path, "config.yaml", "api_server: {port: 70000}")

    error = load_error(tmp_path, {"API_SERVER_PORT": "8000"})

    assert error.source == str(tmp_path / "config.yaml")
    assert error.key == "api_server.port"


def test_non_loopback_host_from_environment_names_the_variable(tmp_path):
    error = load_error(tmp_path, {"API_SERVER_HOST": "192.168.1.5"})

    assert error.source == "environment variable API_SERVER_HOST"
    assert error.key == "api_server.key"
    assert "API_SERVER_KEY" in error.expected


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts_need_no_key(tmp_path, host):
    assert load(tmp_path, {"API_SERVER_HOST": host}).config.api_server.host == host


@pytest.mark.parametrize(
    "extra",
    [{"API_SERVER_KEY": CONFIDENTIAL}, {"API_SERVER_ENABLED": "false"}],
    ids=["with a key", "api disabled"],
)
def test_non_loopback_host_is_fine_with_a_key_or_with_the_api_off(tmp_path, extra):
    config = load(tmp_path, {"API_SERVER_HOST": "0.0.0.0", **extra}).config  # noqa: S104

    assert config.api_server.host == "0.0.0.0"  # noqa: S104


def test_unreadable_file_is_an_error(tmp_path):
    (tmp_path / "config.yaml").mkdir()

    error = load_error(tmp_path)

    assert (error.source, error.key) == (str(tmp_path / "config.yaml"), "(file)")
    assert error.expected == "a readable file"


def test_file_that_is_not_utf8_is_an_error(tmp_path):
    (tmp_path / "config.yaml").write_bytes(b"model: caf\xe9\n")

    error = load_error(tmp_path)

    assert (error.key, error.expected) == ("(file)", "UTF-8 text")


# --- secrets and immutability -------------------------------------------------------


def test_secrets_are_masked_and_collected(tmp_path):
    environ = {"API_SERVER_KEY": CONFIDENTIAL, "OPENAI_API_KEY": "sk-other-secret"}

    config = load(tmp_path, environ).config

    assert CONFIDENTIAL not in repr(config)
    assert "sk-other-secret" not in repr(config)
    assert CONFIDENTIAL not in str(config.api_server)
    assert repr(config.api_server.key) == "Secret('********')"
    assert str(config.api_server.key) == "Secret('********')"
    assert f"{config.api_server.key}" == "Secret('********')"
    assert config.api_server.key is not None
    assert config.api_server.key.reveal() == CONFIDENTIAL
    assert set(config.secrets()) == {CONFIDENTIAL, "sk-other-secret"}


def test_no_secrets_configured_means_none_to_redact(tmp_path):
    assert load(tmp_path).config.secrets() == ()


def test_config_is_frozen(tmp_path):
    config = load(tmp_path).config

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.log_level = "DEBUG"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.api_server.port = 1  # type: ignore[misc]


# --- the table and its reference page ----------------------------------------------


def test_every_dataclass_field_has_exactly_one_setting(tmp_path):
    config = Config.defaults(tmp_path)
    fields = set()
    for top in dataclasses.fields(config):
        value = getattr(config, top.name)
        if dataclasses.is_dataclass(value):
            fields |= {f"{top.name}.{f.name}" for f in dataclasses.fields(value)}
        elif top.name != "home":
            fields.add(top.name)

    paths = [setting.path for setting in SETTINGS]
    envs = [setting.env for setting in SETTINGS]
    assert sorted(paths) == sorted(fields)
    assert len(set(envs)) == len(envs)


def test_docs_match_the_generated_reference():
    assert DOCS.read_text(encoding="utf-8") == settings_reference_markdown()


def test_reference_lists_every_setting_with_its_default():
    reference = settings_reference_markdown()

    for setting in SETTINGS:
        row = next(
            line for line in reference.splitlines() if line.startswith(f"| `{setting.path}` |")
        )
        assert f"| `{setting.env}` |" in row
    assert "| `api_server.port` | `API_SERVER_PORT` | `8642` |" in reference
    assert "| `gateway.turn_timeout` | `HERMES_TURN_TIMEOUT` | `1800` |" in reference
    assert "| `api_server.key` | `API_SERVER_KEY` | (none) |" in reference


def test_honcho_memory_needs_a_key_or_a_self_hosted_url(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {"HERMES_MEMORY_PROVIDER": "honcho"})
    assert raised.value.key == "honcho.api_key"
    config = load(tmp_path, {"HERMES_MEMORY_PROVIDER": "honcho", "HONCHO_BASE_URL": "http://h"})
    assert config.config.memory.provider is MemoryProviderName.HONCHO


@pytest.mark.parametrize(
    "value",
    [
        "[1, 2]",
        '{"telegram": {"mode": "sometimes"}}',
        '{"telegram": {"at_hour": 25}}',
        '{"telegram": {"colour": "red"}}',
        "{not json",
    ],
)
def test_bad_per_platform_reset_policies_are_refused(tmp_path, value):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {"SESSION_RESET_PLATFORMS": value})
    assert raised.value.key == "session_reset.platforms"
