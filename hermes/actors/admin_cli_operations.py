"""The ``admin`` subcommands for operators: ``pairing list|approve|revoke``, ``send``, ``reload``.

A command group for ``hermes.actors.__main__``'s ``ADMIN_COMMAND_GROUPS``: each subcommand turns
its arguments into a request for the handlers of ``hermes.actors.admin_operations`` and renders
the answer for a person (``--json`` prints the answer itself).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from hermes.actors.admin_cli import Request, Subparsers, command, items, mapping


def add_operation_commands(actions: Subparsers) -> None:
    """Pairing (list, approve, revoke), send, reload."""
    pairing = actions.add_parser("pairing", help="DM pairing: list, approve, revoke")
    pairing_actions = pairing.add_subparsers(dest="pairing_action", required=True)
    command(
        pairing_actions,
        "list",
        "pending requests (never their codes) and approved users",
        lambda _: ("pairing.list", {}),
        render_pairing_list,
    )
    approve = command(
        pairing_actions,
        "approve",
        "approve the code a user was given",
        lambda a: ("pairing.approve", {"platform": a.platform, "code": a.code}),
        _render_approved,
    )
    approve.add_argument("platform", help="telegram or discord")
    approve.add_argument("code")
    revoke = command(
        pairing_actions,
        "revoke",
        "remove a user's access at once",
        lambda a: ("pairing.revoke", {"platform": a.platform, "user_id": a.user_id}),
        _render_revoked,
    )
    revoke.add_argument("platform", help="telegram or discord")
    revoke.add_argument("user_id")
    send = command(
        actions, "send", "send a message and wait for the platform to accept it", _send, _sent
    )
    send.add_argument(
        "target", help="a platform's home channel (telegram) or platform:CHAT_ID[:THREAD_ID]"
    )
    send.add_argument("text", nargs="+", help="the message (words are joined by spaces)")
    command(
        actions,
        "reload",
        "re-read .env and config.yaml; apply what can change live",
        lambda _: ("reload", {}),
        render_reload,
    )


def _send(args: argparse.Namespace) -> Request:
    return ("send", {"target": args.target, "text": " ".join(args.text)})


def _sent(result: Mapping[str, object]) -> str:
    return f"Delivered to {result.get('target')}."


def _render_approved(result: Mapping[str, object]) -> str:
    return (
        f"Approved {_who(result)} on {result.get('platform')}; they were told "
        "and can talk to the bot now."
    )


def _render_revoked(result: Mapping[str, object]) -> str:
    what = "approval revoked" if result.get("revoked") else "no approval"
    code = "; pending code withdrawn" if result.get("withdrew_code") else ""
    return f"User {result.get('user_id')} on {result.get('platform')}: {what}{code}."


def _who(row: Mapping[str, object]) -> str:
    name = row.get("user_name")
    return f"{name} ({row.get('user_id')})" if name else f"user {row.get('user_id')}"


def render_pairing_list(result: Mapping[str, object]) -> str:
    """``admin pairing list`` for a person."""
    pending = [mapping(item) for item in items(result.get("pending"))]
    approved = [mapping(item) for item in items(result.get("approved"))]
    lines = ["Pending requests:" if pending else "No pending requests."]
    lines.extend(
        f"  {row.get('platform')}: {_who(row)}, asked {_age(row.get('age_seconds'))} ago "
        f"(expires {row.get('expires_at')})"
        for row in pending
    )
    lines.append("Approved users:" if approved else "No approved users.")
    lines.extend(
        f"  {row.get('platform')}: {_who(row)}, approved {row.get('approved_at')}"
        for row in approved
    )
    for item in items(result.get("locked")):
        row = mapping(item)
        lines.append(
            f"Pairing on {row.get('platform')} is locked until {row.get('locked_until')} "
            "(too many failed approvals)."
        )
    return "\n".join(lines)


def _age(seconds: object) -> str:
    if not isinstance(seconds, int):
        return "?"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def render_reload(result: Mapping[str, object]) -> str:
    """``admin reload`` for a person."""
    applied = [str(path) for path in items(result.get("applied"))]
    restart = [str(path) for path in items(result.get("needs_restart"))]
    if not applied and not restart:
        return "Configuration reloaded: nothing changed."
    lines = ["Configuration reloaded."]
    if applied:
        lines.append("Applied now: " + ", ".join(applied))
    if restart:
        lines.append("Changed, but in force only after a restart: " + ", ".join(restart))
    return "\n".join(lines)
