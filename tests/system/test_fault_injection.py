"""The fault-injection suite, CI-sized: the real gateway as a subprocess, broken on purpose.

Each ``slow`` test plays one scenario of ``fault_harness`` with one seed (200 messages across
20 private chats; kill -9 three times, or the fault the scenario names) and requires that
every message was answered exactly once (a reply re-sent after a crash, which the gateway logs
as ``delivery resend:``, is allowed and counted), in per-chat order, and that the fault really
happened. ``python -m tests.system.fault_soak`` runs the same scenarios longer.

The fast tests pin the judge and the faults themselves, so a green slow test means what it says.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_faults import FaultyTelegram
from tests.fakes.telegram_server import FakeUser, private_chat
from tests.system.fault_gateway import WriteFault
from tests.system.fault_harness import BY_NAME, Size, plan_run, run_scenario
from tests.system.fault_verdict import BotMessage, Resend, UserMessage, judge, token

CI_RUNS = (
    ("kill", 1),
    ("kill", 2),
    ("llm", 3),
    ("send", 4),
    ("disk", 5),
    ("storm", 6),
    ("drain", 7),
)
"""(scenario, seed): about 20 s each on a 2-core machine."""
NOTICE = "⏳ yours is next"
HTTP_TIMEOUT = 10.0


@pytest.mark.slow
@pytest.mark.timeout(240)  # ~20 s when healthy; a broken gateway still ends with a verdict
@pytest.mark.parametrize(("scenario", "seed"), CI_RUNS, ids=[f"{n}-{s}" for n, s in CI_RUNS])
def test_every_message_is_answered_once_in_order(scenario: str, seed: int, tmp_path: Path):
    result = run_scenario(BY_NAME[scenario], seed, Size(), tmp_path)
    print(result.describe())  # the figures, with -s or -rA

    assert result.unexercised(BY_NAME[scenario]) == [], result.describe()
    assert result.ok, result.describe()


# -- the judge ------------------------------------------------------------------------------------


def _users(chat_id: int, count: int, first_id: int = 100) -> list[UserMessage]:
    return [
        UserMessage(chat_id=chat_id, token=token(0, seq), seq=seq, message_id=first_id + seq)
        for seq in range(1, count + 1)
    ]


def _echo(chat_id: int, seq: int) -> BotMessage:
    return BotMessage(chat_id=chat_id, text=f"echo: msg {token(0, seq)}")


def test_a_clean_run_is_clean():
    users = _users(7, 3)
    verdict = judge(users, [_echo(7, 1), _echo(7, 2), _echo(7, 3)], [], [NOTICE])

    assert verdict.clean
    assert (verdict.messages, verdict.answers, verdict.lost) == (3, 3, ())


def test_lost_duplicated_and_out_of_order_are_counted():
    users = _users(7, 4)
    bots = [_echo(7, 2), _echo(7, 1), _echo(7, 1), _echo(7, 1), _echo(7, 4)]

    verdict = judge(users, bots, [], [NOTICE])

    assert verdict.lost == (token(0, 3),)
    assert verdict.duplicated == 2
    assert verdict.duplicated_examples == (token(0, 1),)
    assert verdict.out_of_order == (token(0, 2),)  # answered before the 1st
    assert not verdict.clean


def test_a_logged_resend_excuses_one_extra_answer_of_its_message_only():
    users = _users(7, 2)
    bots = [_echo(7, 1), _echo(7, 1), _echo(7, 1), _echo(7, 2), _echo(7, 2)]
    log = (
        "WARNING hermes.actors.delivery: delivery resend: id=ab chat=7 in_reply_to=7:101 (...)\n"
        "WARNING hermes.actors.delivery: delivery resend: id=cd chat=8 in_reply_to=8:102 (...)\n"
    )

    verdict = judge(users, bots, Resend.parse(log), [NOTICE])

    assert verdict.resent_after_crash == 1  # message 1 (id 101): one of its two extras
    assert verdict.duplicated == 2  # its other extra, and message 2's (the resend was chat 8's)


def test_notices_are_no_outcome_and_unknown_bot_messages_are_unattributed():
    users = _users(7, 1)
    bots = [BotMessage(chat_id=7, text=NOTICE), BotMessage(chat_id=7, text="⚠️ Something broke")]

    verdict = judge(users, bots, [], [NOTICE])

    assert verdict.lost == (token(0, 1),)
    assert verdict.notices == 1
    assert verdict.unattributed == ("⚠️ Something broke",)


def test_an_error_notice_answers_the_message_it_quotes_or_replies_to():
    users = _users(7, 2)
    quoting = BotMessage(chat_id=7, text="The request failed: 'msg c00-0001' went wrong.")
    replying = BotMessage(chat_id=7, text="The request failed.", reply_to=102)
    elsewhere = BotMessage(chat_id=8, text="echo: msg c00-0001")  # another chat's token

    verdict = judge(users, [quoting, replying, elsewhere], [], [NOTICE])

    assert (verdict.lost, verdict.error_notices, verdict.answers) == ((), 2, 0)
    assert verdict.unattributed == ("echo: msg c00-0001",)


# -- the plan and the faults ----------------------------------------------------------------------


def test_a_plan_is_reproducible_and_keeps_each_chat_in_order():
    size = Size(messages=200, chats=20)
    plan = plan_run(BY_NAME["kill"], size, seed=11)

    assert plan == plan_run(BY_NAME["kill"], size, seed=11)
    assert plan != plan_run(BY_NAME["kill"], size, seed=12)
    assert len(plan.sends) == 200
    for chat in range(20):
        seqs = [seq for _, c, seq in plan.sends if c == chat]
        assert seqs == list(range(1, 11))
    assert len(plan.stops) == 3
    assert all(0 < at < plan.sends[-1][0] for at, _ in plan.stops)


def test_a_write_fault_strikes_the_batches_it_names():
    fault = WriteFault(3, count=2)

    assert [fault.strikes() for _ in range(6)] == [None, None, 3, 4, None, None]


def _call(telegram: FaultyTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310  (the fake's loopback URL)
        f"{telegram.base_url}{telegram.token}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_a_storm_delivers_every_message_twice():
    person = FakeUser(42, "Ann")
    with FaultyTelegram() as telegram:
        telegram.storm()
        first = telegram.send_text(private_chat(person), person, "hello")["update_id"]

        _, got = _call(telegram, "getUpdates", offset=0, timeout=0)
        assert [u["update_id"] for u in got["result"]] == [first]
        _, again = _call(telegram, "getUpdates", offset=first + 1, timeout=1)
        _, after = _call(telegram, "getUpdates", offset=first + 2, timeout=0)

    ids = [u["update_id"] for u in again["result"]]
    assert ids == [first, first + 1]  # the same id past the offset, then a copy
    assert {u["message"]["message_id"] for u in again["result"]} == {
        got["result"][0]["message"]["message_id"]
    }
    assert after["result"] == []  # copies are not stormed again
    assert telegram.repeated == 2


def test_rejected_sends_are_seeded_retryable_and_send_nothing():
    person = FakeUser(42, "Ann")

    def outcomes(seed: int) -> tuple[list[int], int]:
        with FaultyTelegram() as telegram:
            telegram.know_chat(private_chat(person))
            telegram.reject_sends(0.5, seed=seed, statuses=(500, 429), retry_after=2)
            answers = [_call(telegram, "sendMessage", chat_id=42, text="hi") for _ in range(40)]
            sent = len(telegram.sent)
        for status, body in answers:
            if status == 429:
                assert body["parameters"] == {"retry_after": 2}
        return [status for status, _ in answers], sent

    statuses, sent = outcomes(seed=5)

    assert statuses == outcomes(seed=5)[0]
    assert {500, 429, 200} == set(statuses)
    assert sent == statuses.count(200)
