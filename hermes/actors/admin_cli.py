"""The admin command line: which ``admin`` subcommands exist, their arguments, their output.

Each command group (the core ones here; pairing and cron in their own modules) adds its
subcommands with ``argparse``'s ``set_defaults``: ``to_request`` turns the parsed arguments into
the request sent over the admin socket, and ``render`` turns the answer into text for a person.
``__main__`` only collects the groups.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from typing import Any

Request = tuple[str, dict[str, object]]
"""An admin request: the command name and its arguments."""
ToRequest = Callable[[argparse.Namespace], Request]
Render = Callable[[Mapping[str, object]], str]
Subparsers = Any  # argparse._SubParsersAction, which typeshed keeps private
"""Where a group adds its subcommands (``ArgumentParser.add_subparsers()``)."""


def command(
    actions: Subparsers, name: str, help_text: str, to_request: ToRequest, render: Render
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``; the caller adds its arguments to the returned parser."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    parser.set_defaults(to_request=to_request, render=render)
    return parser


def as_json(result: Mapping[str, object]) -> str:
    """The fallback rendering: the result as indented JSON."""
    return json.dumps(result, indent=2, sort_keys=True)


def mapping(value: object) -> Mapping[str, object]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: object) -> list[object]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def add_core_commands(actions: Subparsers) -> None:
    """status, sessions, reset, stop."""
    command(
        actions,
        "status",
        "uptime, platforms, sessions, turns, queues",
        lambda _: ("status", {}),
        render_status,
    )
    sessions = command(
        actions, "sessions", "known sessions, most recent first", _sessions_request, render_sessions
    )
    sessions.add_argument(
        "--active", type=int, metavar="MINUTES", help="only those active in the last MINUTES"
    )
    reset = command(
        actions,
        "reset",
        "start a fresh session for a key",
        lambda a: ("reset", {"session_key": a.session_key}),
        _render_reset,
    )
    reset.add_argument("session_key")
    command(
        actions,
        "stop",
        "drain and stop the gateway",
        lambda _: ("stop", {}),
        lambda _: "The gateway is stopping.",
    )


def _sessions_request(args: argparse.Namespace) -> Request:
    return ("sessions", {} if args.active is None else {"active_minutes": args.active})


def _render_reset(result: Mapping[str, object]) -> str:
    key, previous = result.get("session_key"), result.get("previous_session_id")
    return f"Session {key} reset (was {previous})."


def render_status(result: Mapping[str, object]) -> str:
    """``admin status`` for a person."""
    sessions = mapping(result.get("sessions"))
    turns = mapping(result.get("turns"))
    delivery = mapping(result.get("delivery"))
    store = mapping(result.get("store"))
    lines = [
        f"Uptime: {result.get('uptime_seconds')} s",
        f"Agent: {result.get('agent')}",
        f"Memory: {result.get('memory')}",
        "Platforms:",
    ]
    for platform in items(result.get("platforms")):
        item = mapping(platform)
        detail = f" ({item.get('detail')})" if item.get("detail") else ""
        lines.append(f"  {item.get('platform')}: {item.get('state')}{detail}")
    lines.append(
        f"Sessions: {sessions.get('live_sessions')} live, "
        f"{sessions.get('stopping')} stopping, "
        f"{sessions.get('buffered_messages')} messages buffered, "
        f"{sessions.get('unauthorized_dropped')} unauthorized messages ignored"
    )
    running = items(turns.get("running"))
    lines.append(
        f"Turns: {len(running)} running, {turns.get('waiting')} waiting, "
        f"{turns.get('completed')} completed, {turns.get('failed')} failed"
    )
    for turn in running:
        item = mapping(turn)
        flag = "  OVER TIMEOUT" if item.get("over_timeout") else ""
        if item.get("abandoned"):
            flag += " (abandoned: reported to its chat, ignores cancellation)"
        lines.append(f"  {item.get('session_key')}: {item.get('running_seconds')} s{flag}")
    lines.append(
        f"Delivery: {delivery.get('in_flight')} in flight, {delivery.get('sent')} sent, "
        f"{delivery.get('failed')} failed"
    )
    lines.append(
        f"Store: {store.get('path')} ({store.get('pending_writes')} writes pending, "
        f"{store.get('commits')} commits)"
    )
    lines.append(f"Timers: {result.get('timers')}")
    return "\n".join(lines)


def render_sessions(result: Mapping[str, object]) -> str:
    """``admin sessions`` for a person: a table."""
    rows = [mapping(item) for item in items(result.get("sessions"))]
    if not rows:
        return "No sessions."
    header = f"{'SESSION KEY':<48} {'SESSION ID':<26} {'PLATFORM':<11} {'LAST ACTIVITY':<26} TOKENS"
    lines = [header]
    lines.extend(
        f"{row.get('session_key')!s:<48} {row.get('session_id')!s:<26} "
        f"{row.get('platform')!s:<11} {row.get('last_activity')!s:<26} {row.get('total_tokens')}"
        for row in rows
    )
    return "\n".join(lines)
