"""The hook runner against real hook directories: HOOK.yaml files and handler.py modules.

Every handler records what it received by appending a JSON line to ``calls.jsonl`` in its own
directory, so the tests read what user code was actually given. Handlers that must "hang" wait
for a ``release`` file (with a deadline of their own), so no test waits on a sleep.
"""

import json
import logging
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from hermes.adapters.hooks.runner import HookRunner, HookStatus
from hermes.messages.address import Address
from hermes.messages.hooks import HookEvent
from tests.fakes.waiting import wait_until

WAIT = 5.0
LOGGER = "hermes.adapters.hooks"

PRELUDE = """\
import asyncio, json, pathlib, threading, time

HERE = pathlib.Path(__file__).parent

def record(event_type, context, **extra):
    line = json.dumps({"event": event_type, "context": context, **extra})
    with (HERE / "calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(line + "\\n")

def wait_for_release(limit=10.0):
    deadline = time.monotonic() + limit
    pause = threading.Event()
    while not (HERE / "release").exists() and time.monotonic() < deadline:
        pause.wait(0.01)
"""

RECORD = """
def handle(event_type, context):
    record(event_type, context)
"""


def make_hook(
    hooks_dir: Path,
    directory: str,
    events: object,
    body: str = RECORD,
    extra: dict[str, object] | None = None,
) -> Path:
    path = hooks_dir / directory
    path.mkdir(parents=True)
    (path / "HOOK.yaml").write_text(yaml.safe_dump({"events": events, **(extra or {})}))
    (path / "handler.py").write_text(PRELUDE + textwrap.dedent(body))
    return path


def calls(directory: Path) -> list[dict[str, object]]:
    log = directory / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def release(directory: Path) -> None:
    (directory / "release").touch()


def by_name(runner: HookRunner) -> dict[str, HookStatus]:
    return {hook.name: hook for hook in runner.status().hooks}


def logged(caplog, *needles: str) -> list[str]:
    return [
        record.getMessage()
        for record in list(caplog.records)
        if record.levelno >= logging.WARNING
        and all(needle in record.getMessage() for needle in needles)
    ]


@pytest.fixture
def hooks_dir(tmp_path):
    return tmp_path / "hooks"


@pytest.fixture
def make_runner(hooks_dir):
    runners: list[HookRunner] = []

    def make(timeout: float = 5.0, **limits) -> HookRunner:
        runner = HookRunner(hooks_dir, timeout, **limits)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.stop(WAIT)


SESSION_START = HookEvent(
    name="session:start",
    payload=(
        ("platform", "telegram"),
        ("user_id", "111"),
        ("session_id", "s-1"),
        ("session_key", "agent:main:telegram:dm:111"),
    ),
)
COMMAND_NEW = HookEvent(
    name="command:new",
    payload=(("platform", "discord"), ("command", "new"), ("args", "my project")),
)
STARTUP = HookEvent(name="gateway:startup", payload=(("platforms", ("telegram", "discord")),))


# --- dispatch --------------------------------------------------------------------------------


def test_exact_family_and_star_patterns_get_their_events_with_the_payload(hooks_dir, make_runner):
    exact = make_hook(hooks_dir, "exact", ["session:start"])
    family = make_hook(hooks_dir, "family", ["command:*"])
    star = make_hook(hooks_dir, "star", ["*"])
    runner = make_runner()
    runner.start()

    for event in (SESSION_START, COMMAND_NEW, STARTUP):
        runner.tell(event)

    assert runner.wait_idle(WAIT)
    session_context = {
        "platform": "telegram",
        "user_id": "111",
        "session_id": "s-1",
        "session_key": "agent:main:telegram:dm:111",
    }
    command_context = {"platform": "discord", "command": "new", "args": "my project"}
    assert calls(exact) == [{"event": "session:start", "context": session_context}]
    assert calls(family) == [{"event": "command:new", "context": command_context}]
    assert calls(star) == [
        {"event": "session:start", "context": session_context},
        {"event": "command:new", "context": command_context},
        {"event": "gateway:startup", "context": {"platforms": ["telegram", "discord"]}},
    ]
    counts = {name: hook.calls for name, hook in by_name(runner).items()}
    assert counts == {"exact": 1, "family": 1, "star": 3}


def test_an_async_handler_is_awaited(hooks_dir, make_runner):
    hook = make_hook(
        hooks_dir,
        "async-hook",
        ["session:*"],
        """
        async def handle(event_type, context):
            await asyncio.sleep(0)
            record(event_type, context, on_loop=asyncio.get_running_loop() is not None)
        """,
    )
    runner = make_runner()
    runner.start()

    runner.tell(SESSION_START)

    assert runner.wait_idle(WAIT)
    assert calls(hook) == [
        {"event": "session:start", "context": dict(SESSION_START.payload), "on_loop": True}
    ]
    assert by_name(runner)["async-hook"].calls == 1


def test_each_handler_gets_a_dict_of_its_own(hooks_dir, make_runner):
    mutator = make_hook(
        hooks_dir,
        "a-mutator",
        ["*"],
        """
        def handle(event_type, context):
            record(event_type, context)
            context["platforms"].append("evil")
            context["added"] = True
        """,
    )
    reader = make_hook(hooks_dir, "b-reader", ["*"])
    # One call at a time, in load order: the reader runs after the mutator has changed its dict.
    runner = make_runner(max_concurrent=1)
    runner.start()

    runner.tell(STARTUP)
    runner.tell(STARTUP)

    assert runner.wait_idle(WAIT)
    untouched = {"event": "gateway:startup", "context": {"platforms": ["telegram", "discord"]}}
    assert calls(mutator) == [untouched, untouched]
    assert calls(reader) == [untouched, untouched]


def test_the_runner_is_an_address_of_hook_events(hooks_dir, make_runner):
    hook = make_hook(hooks_dir, "h", ["*"])
    address: Address[HookEvent] = make_runner()
    assert isinstance(address, HookRunner)
    address.start()

    address.tell(STARTUP)

    assert address.wait_idle(WAIT)
    assert [call["event"] for call in calls(hook)] == ["gateway:startup"]


# --- failures --------------------------------------------------------------------------------


def test_a_raising_hook_is_logged_and_counted_and_the_others_still_get_the_event(
    hooks_dir, make_runner, caplog
):
    make_hook(
        hooks_dir,
        "broken",
        ["*"],
        """
        def handle(event_type, context):
            raise RuntimeError("kaboom " + event_type)
        """,
    )
    healthy = make_hook(hooks_dir, "healthy", ["*"])
    runner = make_runner()
    runner.start()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        runner.tell(SESSION_START)
        runner.tell(COMMAND_NEW)
        assert runner.wait_idle(WAIT)

    assert [call["event"] for call in calls(healthy)] == ["session:start", "command:new"]
    broken = by_name(runner)["broken"]
    assert (broken.calls, broken.failures, broken.timeouts) == (2, 2, 0)
    assert by_name(runner)["healthy"].failures == 0
    failures = logged(caplog, "broken", "session:start", "RuntimeError", "kaboom")
    assert len(failures) == 1
    assert not logged(caplog, "agent:main:telegram:dm:111")  # never the payload


def test_system_exit_in_a_hook_is_only_a_failure(hooks_dir, make_runner):
    make_hook(
        hooks_dir,
        "exits",
        ["*"],
        """
        import sys
        def handle(event_type, context):
            sys.exit(3)
        """,
    )
    make_hook(
        hooks_dir,
        "exits-async",
        ["*"],
        """
        import sys
        async def handle(event_type, context):
            sys.exit(4)
        """,
    )
    healthy = make_hook(hooks_dir, "healthy", ["*"])
    runner = make_runner()
    runner.start()

    runner.tell(STARTUP)
    runner.tell(COMMAND_NEW)

    assert runner.wait_idle(WAIT)
    assert len(calls(healthy)) == 2
    hooks = by_name(runner)
    assert (hooks["exits"].failures, hooks["exits-async"].failures) == (2, 2)


def test_a_sync_hook_past_its_timeout_is_abandoned_and_the_others_go_on(
    hooks_dir, make_runner, caplog
):
    sleeper = make_hook(
        hooks_dir,
        "sleeper",
        ["session:start"],
        """
        def handle(event_type, context):
            record(event_type, context, phase="start")
            wait_for_release()
            record(event_type, context, phase="end")
        """,
    )
    fast = make_hook(hooks_dir, "fast", ["*"])
    runner = make_runner(timeout=0.2)
    runner.start()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        runner.tell(SESSION_START)
        runner.tell(COMMAND_NEW)
        assert runner.wait_idle(WAIT)  # the abandoned call does not count as running
        runner.tell(SESSION_START)  # the sleeper still runs: it misses this one
        runner.tell(STARTUP)
        assert runner.wait_idle(WAIT)

    assert [call["event"] for call in calls(fast)] == [
        "session:start",
        "command:new",
        "session:start",
        "gateway:startup",
    ]
    assert [call.get("phase") for call in calls(sleeper)] == ["start"]
    status = by_name(runner)["sleeper"]
    assert (status.calls, status.timeouts, status.failures, status.missed) == (1, 1, 0, 1)
    assert logged(caplog, "sleeper", "timed out", "session:start")
    assert logged(caplog, "sleeper", "misses", "session:start")

    began = time.monotonic()
    runner.stop(WAIT)
    assert time.monotonic() - began < 2.0  # stop does not wait for the abandoned call

    release(sleeper)
    wait_until(lambda: len(calls(sleeper)) == 2, WAIT, "the abandoned call to end")


def test_an_abandoned_sync_call_that_returns_frees_its_hook_again(hooks_dir, make_runner):
    sleeper = make_hook(
        hooks_dir,
        "sleeper",
        ["*"],
        """
        def handle(event_type, context):
            record(event_type, context)
            if event_type == "session:start":
                wait_for_release()
        """,
    )
    runner = make_runner(timeout=0.2)
    runner.start()
    runner.tell(SESSION_START)
    assert runner.wait_idle(WAIT)
    assert by_name(runner)["sleeper"].timeouts == 1

    runner.tell(COMMAND_NEW)
    assert runner.wait_idle(WAIT)
    assert by_name(runner)["sleeper"].missed == 1

    release(sleeper)
    # The abandoned call ends soon after the release; events told after that reach the hook.
    wait_until(lambda: _told_and_handled(runner, sleeper), WAIT, "the hook to take events again")

    assert by_name(runner)["sleeper"].timeouts == 1


def _told_and_handled(runner: HookRunner, directory: Path) -> bool:
    runner.tell(COMMAND_NEW)
    assert runner.wait_idle(WAIT)
    return any(call["event"] == "command:new" for call in calls(directory))


def test_an_async_hook_awaiting_for_ever_is_cancelled_at_its_timeout(
    hooks_dir, make_runner, caplog
):
    stuck = make_hook(
        hooks_dir,
        "stuck",
        ["*"],
        """
        async def handle(event_type, context):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                record(event_type, context, phase="cancelled")
                raise
        """,
    )
    fast = make_hook(hooks_dir, "fast", ["*"])
    runner = make_runner(timeout=0.2)
    runner.start()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        runner.tell(SESSION_START)
        assert runner.wait_idle(WAIT)
        wait_until(lambda: len(calls(stuck)) == 1, WAIT, "the cancellation")
        runner.tell(COMMAND_NEW)  # cancelled cleanly, so this one is not missed
        assert runner.wait_idle(WAIT)
    wait_until(lambda: len(calls(stuck)) == 2, WAIT, "the second cancellation")

    assert [call["phase"] for call in calls(stuck)] == ["cancelled", "cancelled"]
    assert len(calls(fast)) == 2
    status = by_name(runner)["stuck"]
    assert (status.calls, status.timeouts, status.missed) == (2, 2, 0)
    assert logged(caplog, "stuck", "timed out", "command:new")


def test_at_most_max_concurrent_calls_run_at_once(hooks_dir, make_runner):
    body = """
    def handle(event_type, context):
        record(event_type, context)
        wait_for_release()
    """
    blockers = [make_hook(hooks_dir, f"blocker-{n}", ["*"], body) for n in range(3)]
    runner = make_runner(timeout=WAIT, max_concurrent=2)
    runner.start()

    runner.tell(STARTUP)
    wait_until(lambda: sum(len(calls(b)) for b in blockers) == 2, WAIT, "two calls to start")

    assert not runner.wait_idle(0.3)
    assert sum(len(calls(b)) for b in blockers) == 2
    assert runner.status().running == 2
    assert runner.status().waiting == 1
    for blocker in blockers:
        release(blocker)
    assert runner.wait_idle(WAIT)
    assert all(len(calls(b)) == 1 for b in blockers)


# --- loading ---------------------------------------------------------------------------------


def test_unusable_hooks_are_skipped_with_reasons_and_the_others_load(
    hooks_dir, make_runner, caplog
):
    good = make_hook(hooks_dir, "good", ["*"])
    make_hook(hooks_dir, "fails-import", ["*"], "import no_such_module_anywhere\n")
    make_hook(hooks_dir, "empty-events", [])
    make_hook(hooks_dir, "bad-event", ["session start"])
    make_hook(hooks_dir, "no-handle", ["*"], "x = 1\n")
    make_hook(hooks_dir, "one-arg", ["*"], "def handle(event_type):\n    pass\n")
    make_hook(hooks_dir, ".hidden", ["*"])
    make_hook(hooks_dir, "has space", ["*"])
    broken_yaml = make_hook(hooks_dir, "broken-yaml", ["*"])
    (broken_yaml / "HOOK.yaml").write_text("events: [unclosed\n")
    no_spec = make_hook(hooks_dir, "no-spec", ["*"])
    (no_spec / "HOOK.yaml").unlink()
    no_handler = make_hook(hooks_dir, "no-handler", ["*"])
    (no_handler / "handler.py").unlink()
    make_hook(hooks_dir, "twin", ["*"], extra={"name": "good"})
    (hooks_dir / "README.txt").write_text("not a hook\n")
    runner = make_runner()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        runner.start()
        runner.tell(STARTUP)
        assert runner.wait_idle(WAIT)

    status = runner.status()
    assert [hook.name for hook in status.hooks] == ["good"]
    assert len(calls(good)) == 1
    reasons = {skip.directory: skip.reason for skip in status.skipped}
    expected = {
        ".hidden": "unsafe directory name",
        "has space": "unsafe directory name",
        "fails-import": "ModuleNotFoundError",
        "empty-events": "events is empty",
        "bad-event": "bad event 'session start'",
        "no-handle": "defines no handle",
        "one-arg": "two arguments",
        "broken-yaml": "not valid YAML",
        "no-spec": "no HOOK.yaml",
        "no-handler": "no handler.py",
        "twin": "'good' is taken by good/",
    }
    assert set(reasons) == set(expected)
    for directory, needle in expected.items():
        assert needle in reasons[directory], (directory, reasons[directory])
        assert logged(caplog, "skipped", repr(directory))


def test_a_handler_that_hangs_at_import_does_not_hold_up_start_and_is_skipped(
    hooks_dir, make_runner
):
    hanging = make_hook(hooks_dir, "hangs", ["*"], "wait_for_release()\n" + RECORD)
    good = make_hook(hooks_dir, "good", ["*"])
    runner = make_runner(timeout=1.0)

    began = time.monotonic()
    runner.start()
    runner.tell(STARTUP)

    assert time.monotonic() - began < 0.5
    assert not runner.status().ready
    assert runner.wait_idle(WAIT)
    status = runner.status()
    assert [hook.name for hook in status.hooks] == ["good"]
    assert [
        (skip.directory, "did not finish within 1 s" in skip.reason) for skip in status.skipped
    ] == [("hangs", True)]
    assert len(calls(good)) == 1
    release(hanging)


def test_events_told_before_loading_ends_are_dispatched_after_it_in_order(hooks_dir, make_runner):
    slow = make_hook(hooks_dir, "slow-import", ["command:*"], "wait_for_release()\n" + RECORD)
    recorder = make_hook(hooks_dir, "recorder", ["*"])
    runner = make_runner(timeout=WAIT)
    events = [HookEvent(name=f"command:c{n}", payload=(("n", n),)) for n in range(6)]

    runner.tell(events[0])  # even before start
    runner.start()
    for event in events[1:]:
        runner.tell(event)
    assert not runner.status().ready
    release(slow)

    assert runner.wait_idle(WAIT)
    expected = [{"event": e.name, "context": {"n": n}} for n, e in enumerate(events)]
    assert calls(recorder) == expected
    assert calls(slow) == expected


def test_no_hooks_directory_means_no_hooks_and_no_error(hooks_dir, make_runner, caplog):
    runner = make_runner()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        runner.start()
        runner.tell(STARTUP)
        assert runner.wait_idle(WAIT)

    status = runner.status()
    assert (status.ready, status.hooks, status.skipped, status.dropped) == (True, (), (), 0)
    assert not logged(caplog, "hooks")


# --- limits and lifecycle --------------------------------------------------------------------


def test_events_beyond_max_queued_are_dropped_counted_and_logged_once(
    hooks_dir, make_runner, caplog
):
    recorder = make_hook(hooks_dir, "recorder", ["*"])
    runner = make_runner(max_queued=3)
    events = [HookEvent(name=f"command:c{n}") for n in range(6)]

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for event in events:
            runner.tell(event)  # not started: nothing drains
    runner.start()

    assert runner.wait_idle(WAIT)
    assert [call["event"] for call in calls(recorder)] == ["command:c0", "command:c1", "command:c2"]
    assert runner.status().dropped == 3
    assert len(logged(caplog, "dropping")) == 1


def test_tell_after_stop_neither_raises_nor_blocks(hooks_dir, make_runner):
    recorder = make_hook(hooks_dir, "recorder", ["*"])
    runner = make_runner()
    runner.start()
    runner.tell(STARTUP)
    runner.stop(WAIT)

    began = time.monotonic()
    for _ in range(2000):
        runner.tell(COMMAND_NEW)
    assert time.monotonic() - began < 1.0

    assert [call["event"] for call in calls(recorder)] == ["gateway:startup"]
    assert runner.status().dropped == 0
    runner.stop(WAIT)  # idempotent


def test_stop_lets_waiting_calls_finish(hooks_dir, make_runner):
    recorder = make_hook(hooks_dir, "recorder", ["*"])
    runner = make_runner()
    runner.start()
    for _ in range(20):
        runner.tell(COMMAND_NEW)

    runner.stop(WAIT)

    assert len(calls(recorder)) == 20


def test_a_runner_never_started_stops_and_a_stopped_one_cannot_start(hooks_dir, make_runner):
    runner = make_runner()
    runner.tell(STARTUP)
    runner.stop(WAIT)

    with pytest.raises(RuntimeError, match="only once"):
        runner.start()


def test_the_loop_thread_ends_with_stop(hooks_dir, make_runner):
    make_hook(hooks_dir, "h", ["*"])
    runner = make_runner()
    runner.start()
    runner.tell(STARTUP)
    assert runner.wait_idle(WAIT)
    assert runner._thread.is_alive()

    runner.stop(WAIT)

    assert not runner._thread.is_alive()


@pytest.mark.parametrize(
    "limits", [{"timeout": 0}, {"timeout": -1.0}, {"max_concurrent": 0}, {"max_queued": 0}]
)
def test_bad_limits_are_refused(hooks_dir, limits):
    arguments = {"timeout": 1.0, **limits}
    with pytest.raises(ValueError, match="timeout must be"):
        HookRunner(hooks_dir, **arguments)
