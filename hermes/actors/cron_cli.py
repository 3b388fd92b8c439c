"""The ``admin cron`` subcommands: list, add, remove, run, pause, resume.

A command group for ``hermes.actors.admin_cli`` (registered in ``__main__``): each subcommand
becomes one ``cron.*`` admin request, and its answer is rendered for a person. ``admin --json
cron ...`` prints the whole answer instead (``cron add`` then gives the job, not just its id).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from hermes.actors.admin_cli import Render, Request, Subparsers, ToRequest, command, items, mapping


def add_cron_commands(actions: Subparsers) -> None:
    """``cron`` and its subcommands."""
    cron = actions.add_parser("cron", help="scheduled jobs: list, add, remove, run, pause, resume")
    jobs = cron.add_subparsers(dest="cron_action", required=True)
    command(jobs, "list", "every scheduled job", lambda _: ("cron.list", {}), render_jobs)
    add = command(jobs, "add", "schedule a new job; prints its id", _add_request, _render_added)
    add.add_argument(
        "--schedule",
        required=True,
        help="'30m' (once, from now), 'every 2h', a cron expression '0 9 * * 1-5', "
        "or an ISO time '2026-12-24T18:00'",
    )
    add.add_argument("--prompt", required=True, help="what the agent does at each run")
    add.add_argument(
        "--deliver",
        metavar="TARGET",
        help="local (the default: a file only), telegram, discord (home channels), "
        "or platform:chat_id[:thread_id]",
    )
    add.add_argument("--name", help="a name to know it by (default: the prompt's beginning)")
    for name, help_text, done in (
        ("remove", "delete a job", "removed"),
        ("run", "run a job now, once", "started"),
        ("pause", "stop a job from running until resumed", "paused"),
        ("resume", "let a paused job run again", "resumed"),
    ):
        action = command(jobs, name, help_text, _id_request(name), _render_done(done))
        action.add_argument("job_id", metavar="ID")


def _add_request(args: argparse.Namespace) -> Request:
    fields: dict[str, object] = {"schedule": args.schedule, "prompt": args.prompt}
    if args.deliver is not None:
        fields["deliver"] = args.deliver
    if args.name is not None:
        fields["name"] = args.name
    return ("cron.add", fields)


def _id_request(name: str) -> ToRequest:
    def to_request(args: argparse.Namespace) -> Request:
        return (f"cron.{name}", {"job_id": args.job_id})

    return to_request


def _render_added(result: Mapping[str, object]) -> str:
    return str(result.get("job_id"))


def _render_done(done: str) -> Render:
    def render(result: Mapping[str, object]) -> str:
        return f"Job {result.get('job_id')} ({result.get('name')}) {done}."

    return render


def render_jobs(result: Mapping[str, object]) -> str:
    """``admin cron list`` for a person: one block per job."""
    jobs = [mapping(item) for item in items(result.get("jobs"))]
    if not jobs:
        return "No scheduled jobs."
    lines: list[str] = []
    for job in jobs:
        status = job.get("last_status") or "never run"
        error = f" ({job.get('last_error')})" if job.get("last_error") else ""
        last = f"{job.get('last_run_at') or '-'} {status}{error}"
        lines.extend(
            (
                f"{job.get('job_id')}  {job.get('name')}  [{job.get('state')}]",
                f"    schedule: {job.get('schedule')}   deliver: {job.get('deliver')}",
                f"    next run: {job.get('next_run_at') or '-'}   last run: {last}",
            )
        )
    return "\n".join(lines)
