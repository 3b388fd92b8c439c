"""The fault-injection harness: the real gateway, as a subprocess, broken on purpose.

One *run* plays one ``Scenario`` with one seed: it starts the fake Telegram Bot API
(``FaultyTelegram``) and the fake model (``FakeLLM``), starts ``python -m hermes.actors`` on a
fresh home, and has 20 people send 200 messages in their private chats at a seeded pace while
it stops the gateway at seeded moments (``kill -9``, or SIGTERM for a graceful drain), leaves
it down for a seeded pause (people keep writing) and starts it again on the same home. Then it
waits, bounded, until every message has an outcome or the bot has been quiet for ``QUIET``
seconds, stops the gateway gracefully, starts it once more to see that a clean restart sends
nothing, and judges what the people got (``fault_verdict``).

The sleeps here are the scenario (``_pace_until``: when a person writes, when the operator
pulls the plug); every wait for the gateway has a deadline. Every process and fake a run
starts is stopped when it ends, failed or not. ``test_fault_injection`` runs a CI-sized set;
``fault_soak`` runs as many as asked and prints the table.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hermes.policies import texts
from tests.fakes.llm_server import FakeLLM
from tests.fakes.pacing import pace_until
from tests.fakes.telegram_faults import FaultyTelegram, Settled
from tests.fakes.telegram_server import FakeUser, SentMessage, private_chat
from tests.system.fault_gateway import FAULT_LOGGED
from tests.system.fault_scenarios import (
    BY_NAME,
    SCENARIOS,
    FlakyModel,
    Plan,
    Scenario,
    Size,
    plan_run,
)
from tests.system.fault_verdict import (
    Attribution,
    BotMessage,
    Resend,
    UserMessage,
    Verdict,
    judge,
    message_text,
    token,
)
from tests.system.gateway_process import KILL_TIMEOUT, READY_LINE, LogBuffer, gateway_env

START_TIMEOUT: Final = 30.0
"""Seconds a gateway may take to log that it runs (imports, opening the database)."""
STOP_TIMEOUT: Final = 30.0
"""Seconds a SIGTERM'd gateway may take to drain and exit."""
SHUTDOWN_TIMEOUT: Final = 5
"""The gateway's own drain deadline (``HERMES_SHUTDOWN_TIMEOUT``)."""
QUIET: Final = 12.0
"""Seconds without a send after which a run stops waiting for missing outcomes: longer than
the longest retry pause on the way (Delivery's 8 s backoff, the model client's retries)."""
SETTLE_TIMEOUT: Final = 60.0
"""The most a run waits for outcomes after its last scheduled event."""
CHECK_QUIET: Final = 3.0
"""Seconds a final clean restart is watched for anything sent (it should send nothing)."""
MAX_UNEXPECTED_EXITS: Final = 5
"""A gateway that dies by itself is restarted (as a supervisor would) this many times."""
FIRST_USER_ID: Final = 700_001
RESTART_TEXTS: Final = (texts.SHUTTING_DOWN, texts.RESTARTING)
"""The restart notices of a graceful stop: its cut messages are answered after the restart."""
NOTICE_TEXTS: Final = (texts.QUEUED_BUSY, *RESTART_TEXTS)
"""Notices that are no outcome: "still answering, yours is next" (queue mode), restarts."""

__all__ = ["BY_NAME", "SCENARIOS", "RunResult", "Size", "plan_run", "run_scenario"]


class HarnessError(RuntimeError):
    """The run could not be played (the gateway would not start, a fake failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What one run did and what the people got."""

    scenario: str
    seed: int
    verdict: Verdict
    stops: int
    """Stops actually made (a kill -9 or a SIGTERM of a running gateway)."""
    starts: int
    unexpected_exits: int
    """Gateways that exited without being stopped (restarted by the harness)."""
    hung_stops: int
    """SIGTERM'd gateways that did not exit within ``STOP_TIMEOUT`` (then killed)."""
    llm_failures: int
    send_rejections: int
    redeliveries: int
    disk_failures: int
    restart_notices: int
    settled: Settled
    seconds: float
    home: Path

    @property
    def ok(self) -> bool:
        """The run met the contract (resent-after-crash is allowed, and counted)."""
        return self.verdict.clean and not (self.unexpected_exits or self.hung_stops)

    def unexercised(self, scenario: Scenario) -> list[str]:
        """The faults ``scenario`` asks for that never happened in this run (a weak run)."""
        missing = []
        if scenario.stops and not self.stops:
            missing.append("no stop landed")
        if scenario.llm_failure_rate and not self.llm_failures:
            missing.append("the model never failed")
        if scenario.send_rejection_rate and not self.send_rejections:
            missing.append("Telegram never refused a send")
        if self.disk_failures < scenario.fail_writes:
            missing.append(f"the disk failed {self.disk_failures} of {scenario.fail_writes} times")
        if scenario.storm and self.redeliveries < self.verdict.messages:
            missing.append(f"only {self.redeliveries} redeliveries")
        return missing

    def describe(self) -> str:
        """A few lines for a failing test or the soak's log."""
        faults = (
            f"stops {self.stops}, starts {self.starts}, unexpected exits "
            f"{self.unexpected_exits}, hung stops {self.hung_stops}, restart notices "
            f"{self.restart_notices}, model failures "
            f"{self.llm_failures}, send rejections {self.send_rejections}, redeliveries "
            f"{self.redeliveries}, disk failures {self.disk_failures}"
        )
        return (
            f"{self.scenario} seed {self.seed} ({self.seconds:.0f} s, {self.settled}): "
            f"{self.verdict.describe()}\n  faults: {faults}\n  home: {self.home}"
        )


class GatewayRun:
    """One gateway process on the run's home, its stderr collected."""

    def __init__(self, home: Path, env: Mapping[str, str], args: Sequence[str]) -> None:
        module = "tests.system.fault_gateway" if args else "hermes.actors"
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--home", str(home)],
            env=gateway_env(env),
            cwd=home.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # signals come from the harness only
        )
        assert self.process.stderr is not None
        self.log = LogBuffer(self.process.stderr, f"fault-gateway-{self.process.pid}")
        self.stopping = False

    def exited_by_itself(self) -> bool:
        """True when it is gone although nobody stopped it."""
        return not self.stopping and self.process.poll() is not None

    def close(self) -> None:
        """SIGKILL it if it still runs; reap it; release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(KILL_TIMEOUT)
        self.log.close(KILL_TIMEOUT)


@dataclass
class _Counts:
    stops: int = 0
    starts: int = 0
    unexpected_exits: int = 0
    hung_stops: int = 0
    exit_notes: list[str] = field(default_factory=list)


class _Run:
    """The mechanics of one run (``run_scenario`` is the entry point)."""

    def __init__(
        self, scenario: Scenario, plan: Plan, home: Path, fakes: tuple[FaultyTelegram, FakeLLM]
    ) -> None:
        self.scenario, self.plan, self.home = scenario, plan, home
        self.telegram, llm = fakes
        self.env = {
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_BASE_URL": self.telegram.base_url,
            "GATEWAY_ALLOW_ALL_USERS": "true",
            "HERMES_MODEL": "fake-model",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "fault-suite",
            "API_SERVER_ENABLED": "false",
            "HERMES_BUSY_INPUT_MODE": "queue",
            "HERMES_TELEGRAM_TEXT_BATCH_DELAY_SECONDS": "0",
            "HERMES_MEMORY_PROVIDER": "none",
            "HERMES_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        }
        self.people = [
            FakeUser(FIRST_USER_ID + chat, f"Person{chat:02d}", username=f"person{chat:02d}")
            for chat in range(max((chat for _, chat, _ in plan.sends), default=0) + 1)
        ]
        self.users: list[UserMessage] = []
        self.gateways: list[GatewayRun] = []
        self.counts = _Counts()
        self.events: list[str] = []
        """What the harness did and when, for the post-mortem (``events.log``)."""
        self._t0 = time.monotonic()

    def note(self, event: str) -> None:
        """Record ``event`` with the seconds since the run began."""
        self.events.append(f"{time.monotonic() - self._t0:8.3f} {event}\n")

    @property
    def current(self) -> GatewayRun | None:
        return self.gateways[-1] if self.gateways else None

    def play(self) -> None:
        """Send every message and make every stop and start, on the plan's clock."""
        self._start()
        timeline: list[tuple[float, int, str, tuple[int, ...]]] = [
            (at, 1, "send", (chat, seq)) for at, chat, seq in self.plan.sends
        ]
        for at, pause in self.plan.stops:
            timeline += [(at, 0, "stop", ()), (at + pause, 0, "start", ())]
        t0 = time.monotonic()
        for at, _, what, detail in sorted(timeline):
            pace_until(t0 + at)
            self._revive()
            if what == "send":
                self._send(*detail)
            elif what == "stop":
                self._stop(graceful=self.scenario.graceful)
            else:
                self._start()

    def settle(self) -> Settled:
        """Wait (bounded) for every message's outcome, or for the bot to go quiet."""
        self._revive()
        gateway = self.current
        assert gateway is not None
        self._ready(gateway)
        attribution = Attribution(self.users, NOTICE_TEXTS)

        def all_answered(sent: list[SentMessage]) -> bool:
            attribution.add([_bot(message) for message in sent])
            return all(attribution.answered(user) for user in self.users)

        return self.telegram.wait_settled(
            all_answered, quiet=QUIET, since=time.monotonic(), timeout=SETTLE_TIMEOUT
        )

    def finish(self) -> None:
        """Stop gracefully, then watch one clean restart (it should send nothing)."""
        self._stop(graceful=True, fault=False)
        self._await_exit()
        self._start()
        gateway = self.current
        assert gateway is not None
        self._ready(gateway)
        self.telegram.wait_settled(
            lambda _sent: False, quiet=CHECK_QUIET, since=time.monotonic(), timeout=CHECK_QUIET
        )
        self._stop(graceful=True, fault=False)
        self._await_exit()

    def close(self) -> None:
        """Kill and reap every gateway started (one failing close does not skip the rest)."""
        with contextlib.ExitStack() as stack:
            for gateway in self.gateways:
                stack.callback(gateway.close)

    def logs(self) -> str:
        """The home's gateway log (rotated files first), every incarnation."""
        directory = self.home / "logs"
        if not directory.is_dir():
            return ""
        files = sorted(directory.glob("gateway.log*"), key=_rotation, reverse=True)
        return "".join(path.read_text(encoding="utf-8", errors="replace") for path in files)

    def _send(self, chat: int, seq: int) -> None:
        person = self.people[chat]
        update = self.telegram.send_text(private_chat(person), person, message_text(chat, seq))
        self.users.append(
            UserMessage(
                chat_id=person.id,
                token=token(chat, seq),
                seq=seq,
                message_id=int(update["message"]["message_id"]),
            )
        )

    def _start(self) -> None:
        current = self.current
        if current is not None and current.process.poll() is None:
            if not current.stopping:
                return  # still running: a stop found it already gone and revived it
            self._await_exit()
        args: tuple[str, ...] = ()
        if self.scenario.fail_writes and FAULT_LOGGED not in self.logs():
            # Until it has fired (a stop may come first), each gateway gets the fault.
            at, count = self.plan.fail_write_at, self.scenario.fail_writes
            args = ("--fail-write", str(at), "--fail-count", str(count))
        self.gateways.append(GatewayRun(self.home, self.env, args))
        self.counts.starts += 1
        self.note(f"start pid {self.gateways[-1].process.pid} {' '.join(args)}".rstrip())

    def _stop(self, *, graceful: bool, fault: bool = True) -> None:
        gateway = self.current
        if gateway is None or gateway.process.poll() is not None:
            return
        gateway.stopping = True
        if fault:
            self.counts.stops += 1
        if graceful:
            gateway.process.send_signal(signal.SIGTERM)
        else:
            gateway.process.kill()
        self.note(f"{'SIGTERM' if graceful else 'kill -9'} pid {gateway.process.pid}")

    def _await_exit(self) -> None:
        gateway = self.current
        if gateway is None:
            return
        try:
            gateway.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.counts.hung_stops += 1
            self.note(f"pid {gateway.process.pid} did not exit in {STOP_TIMEOUT} s: killed")
            gateway.process.kill()
            gateway.process.wait(KILL_TIMEOUT)

    def _revive(self) -> None:
        gateway = self.current
        if gateway is None or not gateway.exited_by_itself():
            return
        self.counts.unexpected_exits += 1
        self.note(f"pid {gateway.process.pid} exited by itself ({gateway.process.returncode})")
        gateway.log.wait_closed(KILL_TIMEOUT)
        self.counts.exit_notes.append(
            f"exit {gateway.process.returncode}: {gateway.log.text[-2000:]}"
        )
        if self.counts.unexpected_exits > MAX_UNEXPECTED_EXITS:
            raise HarnessError("the gateway keeps exiting:\n" + "\n".join(self.counts.exit_notes))
        gateway.stopping = True
        self._start()

    def _ready(self, gateway: GatewayRun) -> None:
        try:
            gateway.log.wait_for(READY_LINE, START_TIMEOUT)
        except AssertionError as error:
            raise HarnessError(f"the gateway did not start: {error}") from None


def run_scenario(scenario: Scenario, seed: int, size: Size, workdir: Path) -> RunResult:
    """Play ``scenario`` with ``seed`` at ``size`` in ``workdir`` (module doc)."""
    plan = plan_run(scenario, size, seed)
    home = workdir / f"{scenario.name}-{seed}" / "home"
    home.parent.mkdir(parents=True, exist_ok=False)
    began = time.monotonic()
    model = FlakyModel(scenario.llm_failure_rate, size.model_delay, seed + 1)
    with FaultyTelegram() as telegram, FakeLLM() as llm:
        llm.script(model)
        if scenario.send_rejection_rate:
            telegram.reject_sends(
                scenario.send_rejection_rate, seed=seed + 2, statuses=(500, 429), retry_after=1
            )
        if scenario.storm:
            telegram.storm()
        run = _Run(scenario, plan, home, (telegram, llm))
        try:
            run.play()
            run.note(f"all {len(run.users)} messages sent")
            settled = run.settle()
            run.note(f"settled: {settled}")
            run.finish()
        finally:
            run.close()
            (home.parent / "events.log").write_text("".join(run.events), encoding="utf-8")
        sent = telegram.sent
        rejections, redeliveries = telegram.rejected, telegram.repeated
    log = run.logs()
    verdict = judge(run.users, [_bot(m) for m in sent], Resend.parse(log), NOTICE_TEXTS)
    return RunResult(
        scenario=scenario.name,
        seed=seed,
        verdict=verdict,
        stops=run.counts.stops,
        starts=run.counts.starts,
        unexpected_exits=run.counts.unexpected_exits,
        hung_stops=run.counts.hung_stops,
        llm_failures=model.failures,
        send_rejections=rejections,
        redeliveries=redeliveries,
        disk_failures=log.count(FAULT_LOGGED),
        restart_notices=sum(m.text.strip() in RESTART_TEXTS for m in sent),
        settled=settled,
        seconds=time.monotonic() - began,
        home=home,
    )


def _bot(message: SentMessage) -> BotMessage:
    reply = message.reply_parameters or {}
    replied = reply.get("message_id")
    return BotMessage(
        chat_id=message.chat_id,
        text=message.text,
        reply_to=int(replied) if replied is not None else None,
    )


def _rotation(path: Path) -> int:
    """0 for ``gateway.log``, N for ``gateway.log.N`` (older)."""
    suffix = path.name.rpartition(".")[2]
    return int(suffix) if suffix.isdigit() else 0
