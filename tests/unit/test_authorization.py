"""The allowlist rules, each rule and each order conflict (reference §3.1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hermes.messages.values import ChatAddress, InboundMessage, Platform, Sender
from hermes.policies.authorization import AuthRules, PlatformRules, Verdict, authorize


def message(platform: Platform, user_id: str = "42", user_name: str | None = "alice"):
    return InboundMessage(
        message_id="m1",
        origin=ChatAddress(platform=platform, chat_id="c1"),
        sender=Sender(user_id=user_id, user_name=user_name),
        text="hi",
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
    )


TG = Platform.TELEGRAM
DC = Platform.DISCORD


def rules(*, gateway=(), allow_all=False, telegram=(), tg_all=False, discord=(), names=True):
    return AuthRules(
        allowed_users=frozenset(gateway),
        allow_all=allow_all,
        platforms=(
            PlatformRules(platform=TG, allowed_users=frozenset(telegram), allow_all=tg_all),
            PlatformRules(platform=DC, allowed_users=frozenset(discord), match_names=names),
        ),
    )


@pytest.mark.parametrize(
    ("auth", "msg", "verdict"),
    [
        (rules(), message(Platform.API_SERVER), Verdict.TRUSTED),
        (rules(), message(Platform.EMBEDDED, user_id=""), Verdict.TRUSTED),
        (rules(), message(TG, user_id=""), Verdict.NO_USER),
        (rules(tg_all=True), message(TG, user_id=""), Verdict.NO_USER),
        (rules(tg_all=True), message(TG), Verdict.PLATFORM_ALLOW_ALL),
        (rules(tg_all=True), message(DC), Verdict.NO_ALLOWLIST),
        (rules(), message(TG), Verdict.NO_ALLOWLIST),
        (rules(allow_all=True), message(TG), Verdict.GATEWAY_ALLOW_ALL),
        (rules(telegram={"42"}), message(TG), Verdict.LISTED),
        (rules(gateway={"42"}), message(TG), Verdict.LISTED),
        (rules(gateway={"42"}), message(DC), Verdict.LISTED),
        (rules(telegram={"7"}), message(TG), Verdict.NOT_LISTED),
        (rules(telegram={"7"}, allow_all=True), message(TG), Verdict.NOT_LISTED),
        (rules(telegram={"7"}, tg_all=True), message(TG), Verdict.PLATFORM_ALLOW_ALL),
        (rules(telegram={"7"}), message(DC), Verdict.NO_ALLOWLIST),
        (rules(discord={"alice"}), message(DC), Verdict.LISTED),
        (rules(discord={"alice"}, names=False), message(DC), Verdict.NOT_LISTED),
        (rules(telegram={"alice"}), message(TG), Verdict.NOT_LISTED),
    ],
    ids=[
        "http-trusted",
        "embedded-trusted-without-user",
        "no-user-denied",
        "no-user-beats-allow-all",
        "platform-allow-all",
        "allow-all-is-per-platform",
        "nothing-configured-denies",
        "gateway-allow-all-without-lists",
        "platform-list",
        "gateway-list",
        "gateway-list-covers-every-platform",
        "unlisted",
        "a-list-beats-gateway-allow-all",
        "platform-allow-all-beats-its-list",
        "lists-are-per-platform",
        "discord-by-name",
        "names-only-where-unique",
        "telegram-names-never-match",
    ],
)
def test_the_rules_in_order(auth, msg, verdict):
    assert authorize(auth, msg) is verdict
    assert verdict.allowed == (
        verdict
        in {Verdict.TRUSTED, Verdict.PLATFORM_ALLOW_ALL, Verdict.LISTED, Verdict.GATEWAY_ALLOW_ALL}
    )


def test_a_platform_nobody_could_use_is_detected():
    assert rules().denies_everyone_on(TG)
    assert not rules(telegram={"1"}).denies_everyone_on(TG)
    assert not rules(gateway={"1"}).denies_everyone_on(TG)
    assert not rules(allow_all=True).denies_everyone_on(TG)
    assert rules(telegram={"1"}).denies_everyone_on(DC)
