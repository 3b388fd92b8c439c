"""Scheduled jobs in the whole gateway: made by the agent's tool or an operator, run by the
Scheduler as isolated turns against the fake model, delivered through real platform adapters.

The clock is a ``FakeClock``: a test moves it past a job's time and tells the Scheduler
``CheckDueJobs``, as its own wake-up timer would.
"""

from __future__ import annotations

import pytest

from hermes.actors import SystemOverrides, start_system
from hermes.adapters.platforms.embedded import EmbeddedChat, EmbeddedPlatform
from hermes.config import load_config
from hermes.messages.cron import CheckDueJobs
from hermes.messages.delivery import OutboundKind
from hermes.messages.ports import PlatformState
from tests.fakes.llm_server import Body, FakeLLM, Reply, offered_tools, tool_results
from tests.fakes.recording import FakeClock
from tests.fakes.telegram_server import FakeChat, FakeTelegram, FakeUser, private_chat
from tests.fakes.waiting import wait_until

ALICE = FakeUser(1001, "Alice", username="alice")
HOME = FakeChat(-2001, "group", title="Home")
JOB_MARK = "You are running the scheduled job"


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake
        fake.release("stuck")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def gateway(tmp_path, llm, clock):
    systems = []

    def start(platforms=(), **env: str):
        environ = {
            "API_SERVER_ENABLED": "false",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "HERMES_SHUTDOWN_TIMEOUT": "5",
            "HERMES_MEMORY_PROVIDER": "none",
            "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            "HERMES_TIMEZONE": "Europe/Berlin",
            **env,
        }
        config = load_config(home=tmp_path / "home", environ=environ).config
        overrides = SystemOverrides(platforms=platforms, admin_socket=False, clock=clock)
        system = start_system(config, overrides)
        systems.append(system)
        return system

    yield start
    llm.release("stuck")
    for system in systems:
        system.stop()


def is_job_run(body: Body) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and JOB_MARK in str(messages[0].get("content"))


def admin(system, command: str, **args):
    answer = system.admin.run({"command": command, "args": args})
    assert answer["ok"], answer
    return answer["result"]


def tick(system, clock, **delta: float) -> None:
    clock.advance(**delta)
    system.scheduler.address.tell(CheckDueJobs())


def test_a_job_made_by_the_agent_is_delivered_to_the_chat_it_was_made_in(gateway, llm, clock):
    def model(body: Body) -> Reply | None:
        if is_job_run(body):
            return Reply(text="Time to stretch!")
        if tool_results(body):
            return Reply(text="Done: I will remind you every hour.")
        if "cronjob" in offered_tools(body):
            create = {"action": "create", "prompt": "Remind me to stretch.", "schedule": "every 1h"}
            return Reply(tool_calls=(("cronjob", create),))
        return None

    llm.script(model)
    with FakeTelegram(bot_username="hermes_bot") as telegram:
        system = gateway(
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_BASE_URL=telegram.base_url,
            TELEGRAM_ALLOWED_USERS=str(ALICE.id),
        )
        wait_until(lambda: any(p["state"] == "running" for p in platforms(system)), 10.0)
        telegram.send_text(private_chat(ALICE), ALICE, "remind me to stretch every hour")
        (confirmation,) = telegram.wait_for_sent(1, chat_id=ALICE.id)
        assert confirmation.text == "Done: I will remind you every hour."
        (job,) = admin(system, "cron.list")["jobs"]
        assert (job["origin"], job["creator"], job["deliver"]) == (
            "telegram:1001",
            "1001",
            "origin",
        )

        tick(system, clock, hours=1)

        reminder = telegram.wait_for_sent(2, chat_id=ALICE.id)[-1]
        assert reminder.text == "Time to stretch!"
        run = next(body for body in llm.received() if is_job_run(body))
        assert [m["role"] for m in run["messages"]] == ["system", "user"]
        assert run["messages"][1]["content"] == "Remind me to stretch."
        assert "tools" not in run  # no cron tools in a job: it cannot schedule jobs
        wait_until(lambda: admin(system, "cron.list")["jobs"][0]["last_status"] == "ok")
        outputs = list((system.config.home / "cron" / "output" / job["job_id"]).iterdir())
        assert len(outputs) == 1
        assert "Time to stretch!" in outputs[0].read_text(encoding="utf-8")


def platforms(system) -> list[dict[str, str]]:
    return admin(system, "status")["platforms"]


def test_an_operators_job_goes_to_the_home_channel(gateway, llm, clock):
    llm.script(lambda body: Reply(text="The daily digest.") if is_job_run(body) else None)
    with FakeTelegram(bot_username="hermes_bot") as telegram:
        system = gateway(
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_BASE_URL=telegram.base_url,
            TELEGRAM_HOME_CHANNEL=str(HOME.id),
        )
        wait_until(lambda: platforms(system)[0]["state"] == PlatformState.RUNNING.value, 10.0)
        telegram.send_text(HOME, ALICE, "the bot may post here")  # the fake now knows the chat
        job = admin(system, "cron.add", schedule="0 9 * * *", prompt="digest", deliver="telegram")
        assert job["next_run_at"] == "2026-11-23T08:00:00+00:00"  # 09:00 in Berlin

        tick(system, clock, hours=20)

        (digest,) = telegram.wait_for_sent(1, chat_id=HOME.id)
        assert digest.text == "The daily digest."


def test_a_silent_answer_is_saved_and_not_delivered(gateway, llm, clock):
    llm.script(lambda body: Reply(text="[SILENT]") if is_job_run(body) else None)
    chat = EmbeddedPlatform()
    system = gateway(platforms=(chat,))
    job = admin(system, "cron.add", schedule="every 1h", prompt="news?", deliver="embedded:c")

    tick(system, clock, hours=1)

    wait_until(lambda: admin(system, "cron.list")["jobs"][0]["last_status"] == "silent")
    assert chat.outbox() == []
    (output,) = (system.config.home / "cron" / "output" / job["job_id"]).iterdir()
    assert "[SILENT]" in output.read_text(encoding="utf-8")


def test_a_failing_job_delivers_a_failure_notice(gateway, llm, clock):
    chat = EmbeddedPlatform()
    system = gateway(platforms=(chat,))
    admin(
        system,
        "cron.add",
        schedule="every 1h",
        prompt="[fail:500] break",
        name="breaker",
        deliver="embedded:c",
    )

    tick(system, clock, hours=1)

    (notice,) = chat.wait_for(1, chat_id="c", timeout=15.0)
    assert notice.text.startswith("⚠️ Cron job 'breaker' failed: ")
    assert notice.kind is OutboundKind.ERROR
    wait_until(lambda: admin(system, "cron.list")["jobs"][0]["last_status"] == "failed")


def test_ten_jobs_due_at_once_with_one_hanging_the_other_nine_deliver(gateway, llm, clock):
    chat = EmbeddedPlatform()
    system = gateway(platforms=(chat,))
    for index in range(10):
        prompt = "[hold:stuck] wait" if index == 0 else f"job {index}"
        admin(system, "cron.add", schedule="every 1h", prompt=prompt, deliver=f"embedded:c{index}")

    tick(system, clock, hours=1)

    delivered = chat.wait_for(9, timeout=10.0)
    assert sorted(m.target.chat_id for m in delivered) == [f"c{i}" for i in range(1, 10)]
    assert chat.outbox("c0") == []
    wait_until(lambda: system.scheduler.status(2.0).running_jobs == 1)  # the hung one
    llm.release("stuck")
    chat.wait_for(1, chat_id="c0", timeout=10.0)


def test_admin_cron_commands(gateway, clock):
    chat = EmbeddedPlatform()
    system = gateway(platforms=(chat,))

    job = admin(system, "cron.add", schedule="every 2h", prompt="ping", name="pinger")
    assert (job["name"], job["deliver"], job["state"]) == ("pinger", "local", "scheduled")
    job_id = job["job_id"]
    assert admin(system, "cron.pause", job_id=job_id)["state"] == "paused"
    assert admin(system, "cron.resume", job_id=job_id)["state"] == "scheduled"
    ran = admin(system, "cron.run", job_id=job_id)
    assert ran["last_run_at"] is not None
    wait_until(lambda: admin(system, "cron.list")["jobs"][0]["last_status"] == "ok")
    assert admin(system, "cron.remove", job_id=job_id)["job_id"] == job_id
    assert admin(system, "cron.list") == {"jobs": []}

    for command, args, fragment in (
        ("cron.add", {"schedule": "sometime", "prompt": "x"}, "cannot read the schedule"),
        ("cron.add", {"schedule": "every 1h"}, "prompt is required"),
        ("cron.run", {"job_id": "0123456789ab"}, "there is no job"),
        ("cron.pause", {}, "job_id is required"),
    ):
        answer = system.admin.run({"command": command, "args": args})
        assert answer["ok"] is False
        assert fragment in answer["error"]


def test_jobs_survive_a_restart(gateway, clock):
    first = gateway(platforms=(EmbeddedPlatform(),))
    job = admin(first, "cron.add", schedule="every 1h", prompt="keep me")
    first.stop()

    second = gateway(platforms=(EmbeddedPlatform(),))

    (kept,) = admin(second, "cron.list")["jobs"]
    assert (kept["job_id"], kept["prompt"], kept["next_run_at"]) == (
        job["job_id"],
        "keep me",
        job["next_run_at"],
    )


def test_a_chat_can_schedule_through_the_agent_in_a_group_thread(gateway, llm, clock):
    def model(body: Body) -> Reply | None:
        if is_job_run(body):
            return Reply(text="topic reminder")
        if tool_results(body):
            return Reply(text="ok")
        create = {"action": "create", "prompt": "remind", "schedule": "30m"}
        return Reply(tool_calls=(("cronjob", create),))

    llm.script(model)
    chat = EmbeddedPlatform()
    system = gateway(platforms=(chat,))
    chat.send("remind me in 30m", EmbeddedChat(chat_id="g", user_id="u1", thread_id="5"))
    chat.wait_for(1, chat_id="g")

    tick(system, clock, minutes=30)

    reminder = chat.wait_for(2, chat_id="g")[-1]
    assert (reminder.text, reminder.target.thread_id) == ("topic reminder", "5")
    (job,) = admin(system, "cron.list")["jobs"]
    assert (job["state"], job["origin"]) == ("completed", "embedded:g:5")
