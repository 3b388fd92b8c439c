"""The access rules, each rule and each order conflict (reference §3.1), pairing included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hermes.messages.access import PlatformUser
from hermes.messages.values import ChatAddress, ChatType, InboundMessage, Platform, Sender
from hermes.policies.authorization import (
    AuthRules,
    DmBehavior,
    PlatformRules,
    Verdict,
    authorize,
    dm_behavior,
    offers_pairing,
)


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


# -- approved pairings and what an unauthorized DM gets -----------------------------------------

PAIRED_42 = frozenset({PlatformUser(platform=TG, user_id="42")})


def dm_message(platform: Platform = TG, user_id: str = "42", chat_type=ChatType.DM):
    return InboundMessage(
        message_id="m1",
        origin=ChatAddress(platform=platform, chat_id="c1", chat_type=chat_type),
        sender=Sender(user_id=user_id),
        text="hi",
        received_at=datetime(2026, 11, 22, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("auth", "msg", "verdict"),
    [
        (rules(), message(TG), Verdict.PAIRED),
        (rules(telegram={"7"}), message(TG), Verdict.PAIRED),
        (rules(gateway={"7"}), message(TG), Verdict.PAIRED),
        (rules(telegram={"42"}), message(TG), Verdict.PAIRED),
        (rules(tg_all=True), message(TG), Verdict.PLATFORM_ALLOW_ALL),
        (rules(), message(TG, user_id=""), Verdict.NO_USER),
        (rules(), message(TG, user_id="43"), Verdict.NO_ALLOWLIST),
        (rules(), message(DC), Verdict.NO_ALLOWLIST),
        (rules(discord={"7"}), message(DC), Verdict.NOT_LISTED),
        (rules(), message(Platform.API_SERVER), Verdict.TRUSTED),
    ],
    ids=[
        "paired-without-lists",
        "paired-beats-the-platform-list",
        "paired-beats-the-gateway-list",
        "paired-before-listed",
        "platform-allow-all-before-paired",
        "no-user-before-paired",
        "pairing-is-per-user",
        "pairing-is-per-platform",
        "pairing-is-per-platform-with-lists",
        "trusted-before-paired",
    ],
)
def test_approved_pairings_in_the_order(auth, msg, verdict):
    assert authorize(auth, msg, PAIRED_42) is verdict
    assert Verdict.PAIRED.allowed


def dm_rules(*, gateway=(), telegram=(), everywhere=None, on_telegram=None, on_discord=None):
    return AuthRules(
        allowed_users=frozenset(gateway),
        unauthorized_dm=everywhere,
        platforms=(
            PlatformRules(
                platform=TG, allowed_users=frozenset(telegram), unauthorized_dm=on_telegram
            ),
            PlatformRules(platform=DC, unauthorized_dm=on_discord),
        ),
    )


PAIR, IGNORE = DmBehavior.PAIR, DmBehavior.IGNORE


@pytest.mark.parametrize(
    ("auth", "platform", "behavior"),
    [
        (dm_rules(), TG, PAIR),
        (dm_rules(telegram={"1"}), TG, IGNORE),
        (dm_rules(telegram={"1"}), DC, PAIR),
        (dm_rules(gateway={"1"}), DC, IGNORE),
        (dm_rules(everywhere=IGNORE), TG, IGNORE),
        (dm_rules(telegram={"1"}, everywhere=PAIR), TG, PAIR),
        (dm_rules(telegram={"1"}, on_telegram=PAIR), TG, PAIR),
        (dm_rules(everywhere=IGNORE, on_telegram=PAIR), TG, PAIR),
        (dm_rules(everywhere=PAIR, on_discord=IGNORE), DC, IGNORE),
        (dm_rules(everywhere=PAIR, on_discord=IGNORE), TG, PAIR),
    ],
    ids=[
        "no-list-pairs",
        "a-platform-list-ignores",
        "lists-are-per-platform",
        "the-gateway-list-ignores-everywhere",
        "gateway-setting",
        "gateway-setting-beats-the-list-default",
        "platform-setting-beats-the-list-default",
        "platform-setting-beats-the-gateway-setting",
        "platform-ignore-beats-gateway-pair",
        "platform-setting-is-its-own",
    ],
)
def test_what_an_unauthorized_dm_gets(auth, platform, behavior):
    assert dm_behavior(auth, platform) is behavior


@pytest.mark.parametrize(
    ("auth", "msg", "offered"),
    [
        (dm_rules(), dm_message(), True),
        (dm_rules(on_telegram=PAIR, telegram={"7"}), dm_message(), True),
        (dm_rules(telegram={"7"}), dm_message(), False),
        (dm_rules(on_telegram=IGNORE), dm_message(), False),
        (dm_rules(), dm_message(chat_type=ChatType.GROUP), False),
        (dm_rules(), dm_message(chat_type=ChatType.THREAD), False),
        (dm_rules(), dm_message(user_id=""), False),
    ],
    ids=[
        "stranger-dm-pairs",
        "unlisted-dm-pairs-when-asked-to",
        "unlisted-dm-ignored-by-default",
        "ignore",
        "groups-are-silent",
        "threads-are-silent",
        "no-user-no-code",
    ],
)
def test_when_pairing_is_offered(auth, msg, offered):
    verdict = authorize(auth, msg)
    assert not verdict.allowed
    assert offers_pairing(auth, msg, verdict) is offered


def test_a_served_message_is_never_offered_pairing():
    auth = dm_rules(telegram={"42"})
    verdict = authorize(auth, dm_message())
    assert verdict is Verdict.LISTED
    assert not offers_pairing(auth, dm_message(), verdict)
