import re

import pytest

from hermes.policies.commands import ALIASES, CommandName, ParsedCommand, help_text, parse_command

N = CommandName

COMMAND_CASES = [
    pytest.param("/new", N.NEW, "", id="new"),
    pytest.param("/reset", N.NEW, "", id="reset-is-new"),
    pytest.param("/status", N.STATUS, "", id="status"),
    pytest.param("/stop", N.STOP, "", id="stop"),
    pytest.param("/help", N.HELP, "", id="help"),
    pytest.param("/queue later please", N.QUEUE, "later please", id="queue"),
    pytest.param("/q later please", N.QUEUE, "later please", id="q-is-queue"),
    pytest.param("/NEW", N.NEW, "", id="upper-case"),
    pytest.param("/ReSeT", N.NEW, "", id="mixed-case-alias"),
    pytest.param("/Q hi", N.QUEUE, "hi", id="upper-case-short-alias"),
    pytest.param("/status@MyBot", N.STATUS, "", id="addressed-to-bot"),
    pytest.param("/queue@My_Bot2 hi", N.QUEUE, "hi", id="addressed-with-args"),
    pytest.param("/new my project", N.NEW, "my project", id="args-kept"),
    pytest.param("   /status   ", N.STATUS, "", id="surrounding-whitespace"),
    pytest.param("\n/stop\n", N.STOP, "", id="surrounding-newlines"),
    pytest.param("/queue   padded args   ", N.QUEUE, "padded args", id="args-trimmed"),
    pytest.param(
        "/queue first line\nsecond line\n\nthird",
        N.QUEUE,
        "first line\nsecond line\n\nthird",
        id="multi-line-args",
    ),
    pytest.param(
        "/q\nonly on the next line", N.QUEUE, "only on the next line", id="args-after-newline"
    ),
    pytest.param("/queue\ttabbed", N.QUEUE, "tabbed", id="args-after-tab"),
]


@pytest.mark.parametrize(("text", "name", "args"), COMMAND_CASES)
def test_parse_command(text: str, name: CommandName, args: str) -> None:
    assert parse_command(text) == ParsedCommand(name=name, args=args)


NOT_COMMAND_CASES = [
    pytest.param("/imagine a cat", id="unknown-command"),
    pytest.param("/home/me/file.txt", id="unix-path"),
    pytest.param("/", id="bare-slash"),
    pytest.param("/ new", id="space-after-slash"),
    pytest.param("//new", id="double-slash"),
    pytest.param("/news today", id="known-prefix-is-not-enough"),
    pytest.param("/new/", id="trailing-slash"),
    pytest.param("/status-now", id="punctuation-after-name"),
    pytest.param("/status@", id="empty-bot-name"),
    pytest.param("hello /new", id="command-not-at-start"),
    pytest.param("new", id="no-slash"),
    pytest.param("reset everything", id="no-slash-alias"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("\\new", id="backslash"),
]


@pytest.mark.parametrize("text", NOT_COMMAND_CASES)
def test_text_that_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_help_lists_every_command_and_alias(alias: str) -> None:
    assert re.search(rf"/{re.escape(alias)}\b", help_text()), f"/{alias} missing from help"


def test_every_command_has_a_spelling() -> None:
    assert set(ALIASES.values()) == set(CommandName)


@pytest.mark.parametrize("name", list(CommandName), ids=str)
def test_the_command_name_itself_parses(name: CommandName) -> None:
    parsed = parse_command(f"/{name.value}")

    assert parsed is not None
    assert parsed.name is name
