"""``admin cron ...`` from the command line, against a gateway running as a subprocess."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.waiting import wait_until
from tests.system.gateway_process import GatewayProcesses, run_admin

JOB_ID = re.compile(r"[0-9a-f]{12}")


@pytest.fixture
def gateways() -> Iterator[GatewayProcesses]:
    with GatewayProcesses() as started:
        yield started


def cli(home: Path, *args: str) -> str:
    done = run_admin(home, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def last_status(home: Path, job_id: str) -> object:
    jobs = json.loads(cli(home, "--json", "cron", "list"))["result"]["jobs"]
    return next(job["last_status"] for job in jobs if job["job_id"] == job_id)


def test_admin_cron_commands_against_a_running_gateway(
    tmp_path: Path, gateways: GatewayProcesses
) -> None:
    home = tmp_path / "home"
    gateway = gateways.start(home)
    gateway.wait_ready()

    job_id = cli(home, "cron", "add", "--schedule", "every 1h", "--prompt", "hi", "--name", "greet")
    assert JOB_ID.fullmatch(job_id), job_id
    as_json = json.loads(
        cli(home, "--json", "cron", "add", "--schedule", "2h", "--prompt", "later")
    )
    assert as_json["ok"] is True
    second = as_json["result"]
    assert (second["schedule"], second["deliver"], second["state"]) == (
        "in 2h",
        "local",
        "scheduled",
    )

    listing = cli(home, "cron", "list")
    assert f"{job_id}  greet  [scheduled]" in listing
    assert second["job_id"] in listing

    assert cli(home, "cron", "run", job_id) == f"Job {job_id} (greet) started."
    outputs = home / "cron" / "output" / job_id
    wait_until(lambda: outputs.is_dir() and any(outputs.iterdir()), 10.0, "the run's output")
    (document,) = outputs.iterdir()
    assert "You said: hi" in document.read_text(encoding="utf-8")  # the echo agent
    wait_until(lambda: last_status(home, job_id) == "ok", 10.0, "the run's status")

    assert cli(home, "cron", "pause", job_id) == f"Job {job_id} (greet) paused."
    assert f"{job_id}  greet  [paused]" in cli(home, "cron", "list")
    assert cli(home, "cron", "resume", job_id) == f"Job {job_id} (greet) resumed."
    assert cli(home, "cron", "remove", job_id) == f"Job {job_id} (greet) removed."
    assert job_id not in cli(home, "cron", "list")

    missing = run_admin(home, "cron", "remove", job_id)
    assert missing.returncode == 1
    assert f"there is no job '{job_id}'" in missing.stderr
    bad = run_admin(home, "cron", "add", "--schedule", "whenever", "--prompt", "x")
    assert bad.returncode == 1
    assert "cannot read the schedule 'whenever'" in bad.stderr

    assert gateway.stop() == 0, gateway.log
    assert "Traceback" not in gateway.log
