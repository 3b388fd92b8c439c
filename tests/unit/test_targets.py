"""Delivery targets written as text."""

from __future__ import annotations

import pytest

from hermes.messages.values import ChatAddress, HomeChannel, Platform
from hermes.policies.targets import TargetError, resolve_target

HOME = HomeChannel(
    platform=Platform.TELEGRAM,
    address=ChatAddress(platform=Platform.TELEGRAM, chat_id="-1001", thread_id="5"),
    name="Home",
)
HOMES = {Platform.TELEGRAM: HOME}


@pytest.mark.parametrize(
    ("spec", "chat_id", "thread_id"),
    [
        ("telegram", "-1001", "5"),
        ("TELEGRAM", "-1001", "5"),
        (" telegram ", "-1001", "5"),
        ("telegram:123", "123", None),
        ("telegram:-100AbC:17", "-100AbC", "17"),
        ("discord:9876543210", "9876543210", None),
    ],
)
def test_targets_that_resolve(spec, chat_id, thread_id):
    address = resolve_target(spec, HOMES)
    assert (address.chat_id, address.thread_id) == (chat_id, thread_id)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("discord", "DISCORD_HOME_CHANNEL"),
        ("slack", "unknown platform 'slack'"),
        ("telegram:", "malformed"),
        ("telegram:1:2:3", "malformed"),
        ("origin", "not supported"),
        ("local", "not supported"),
        ("", "unknown platform"),
    ],
)
def test_targets_that_do_not(spec, fragment):
    with pytest.raises(TargetError, match=fragment):
        resolve_target(spec, HOMES)
