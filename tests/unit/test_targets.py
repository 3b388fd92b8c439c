"""Delivery targets written as text."""

from __future__ import annotations

import pytest

from hermes.messages.values import ChatAddress, HomeChannel, Platform
from hermes.policies.targets import LocalTarget, TargetContext, TargetError, resolve_target

HOME = HomeChannel(
    platform=Platform.TELEGRAM,
    address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-1001", thread_id="5"),
    name="Home",
)
HOMES = {Platform.TELEGRAM: HOME}
TEAM = ChatAddress(platform=Platform.TELEGRAM, chat_id="-2001", chat_name="Team")
CONTEXT = TargetContext(homes=HOMES, directory=(TEAM,))


@pytest.mark.parametrize(
    ("spec", "chat_id", "thread_id"),
    [
        ("telegram", "-1001", "5"),
        ("TELEGRAM", "-1001", "5"),
        (" telegram ", "-1001", "5"),
        ("telegram:123", "123", None),
        ("telegram:@SomeChannel:17", "@SomeChannel", "17"),
        ("discord:9876543210", "9876543210", None),
    ],
)
def test_targets_that_resolve(spec, chat_id, thread_id):
    address = resolve_target(spec, CONTEXT)
    assert isinstance(address, ChatAddress)
    assert (address.chat_id, address.thread_id) == (chat_id, thread_id)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("discord", "DISCORD_HOME_CHANNEL"),
        ("slack", "unknown platform 'slack'"),
        ("telegram:", "malformed"),
        ("telegram:1:2:3", "malformed"),
        ("origin", "needs a chat"),
        ("telegram:Nobody", "no telegram chat called 'Nobody'"),
        ("", "unknown platform"),
    ],
)
def test_targets_that_do_not(spec, fragment):
    with pytest.raises(TargetError, match=fragment):
        resolve_target(spec, CONTEXT)


def test_origin_and_local():
    origin = ChatAddress(platform=Platform.DISCORD, chat_id="42", thread_id="7")
    assert resolve_target("origin", TargetContext(homes={}, origin=origin)) == origin
    assert resolve_target("LOCAL", CONTEXT) == LocalTarget()


def test_names_the_gateway_has_seen():
    address = resolve_target("telegram:#team:9", CONTEXT)
    assert isinstance(address, ChatAddress)
    assert (address.chat_id, address.thread_id) == ("-2001", "9")
    twins = TargetContext(
        homes={},
        directory=(TEAM, ChatAddress(platform=Platform.TELEGRAM, chat_id="-3", chat_name="team")),
    )
    with pytest.raises(TargetError, match="several"):
        resolve_target("telegram:Team", twins)
