"""The rules of user hooks: what a ``HOOK.yaml`` may say, which events a pattern matches.

Pure: the hook runner (``hermes.adapters.hooks``) reads the files and imports the handlers; this
module only judges what it read. A hook lives in ``$HERMES_HOME/hooks/<name>/``; its
``HOOK.yaml`` names the events it wants, each exactly (``session:start``, ``command:new``), by
family (``command:*``) or all of them (``*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

HOOK_DIRECTORY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A hook directory's name: letters, digits, ``_``, ``.``, ``-``; at most 64; no leading dot."""
EVENT_PATTERN: Final = re.compile(r"\*|[a-z][a-z0-9_]*:(?:\*|[A-Za-z0-9_][A-Za-z0-9_.-]*)")
"""``*``, ``<family>:*`` or ``<family>:<what>``."""
MAX_NAME_CHARS: Final = 100
EVENT_FAMILIES: Final = frozenset({"gateway", "session", "agent", "command"})
"""Families the gateway emits; every name is a command's in ``command``."""
KNOWN_EVENTS: Final = frozenset(
    {"gateway:startup", "session:start", "session:end", "session:reset", "agent:start", "agent:end"}
)
"""The events of the other families."""


class HookSpecError(ValueError):
    """A ``HOOK.yaml`` that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HookSpec:
    """What a hook's ``HOOK.yaml`` says."""

    name: str
    """Its ``name``, else the name of its directory."""
    description: str = ""
    events: tuple[str, ...]
    """Event patterns, in file order, without repeats."""

    def wants(self, event_name: str) -> bool:
        """True when one of the hook's patterns matches ``event_name``."""
        return any(matches(pattern, event_name) for pattern in self.events)


def parse_hook_spec(raw: object, *, directory_name: str) -> HookSpec:
    """The spec that ``raw`` (a loaded ``HOOK.yaml``) describes.

    Raises:
        HookSpecError: ``raw`` is not a mapping, or its name, description or events misfit.
    """
    if not isinstance(raw, Mapping):
        raise HookSpecError(f"HOOK.yaml must be a mapping with an events list, not {_kind(raw)}")
    return HookSpec(
        name=_name(raw.get("name"), directory_name),
        description=_description(raw.get("description")),
        events=_events(raw.get("events")),
    )


def matches(pattern: str, event_name: str) -> bool:
    """True when ``pattern`` (``*``, ``family:*`` or exact) matches ``event_name``."""
    if pattern == "*":
        return True
    if pattern.endswith(":*"):
        family = pattern[:-1]  # keeps the colon: "session:*" never matches "sessions:start"
        return event_name.startswith(family) and len(event_name) > len(family)
    return pattern == event_name


def is_event_pattern(text: str) -> bool:
    """True when ``text`` is a well-formed event pattern."""
    return EVENT_PATTERN.fullmatch(text) is not None


def directory_problem(name: str) -> str | None:
    """Why a hook directory called ``name`` is refused, or None when its name is safe."""
    if HOOK_DIRECTORY_NAME.fullmatch(name):
        return None
    return (
        "unsafe directory name: use letters, digits, '_', '.' and '-' (at most 64), "
        "starting with a letter or digit"
    )


def unknown_events(patterns: Iterable[str]) -> tuple[str, ...]:
    """The patterns that can never match an event the gateway emits (typos, as a rule)."""
    return tuple(pattern for pattern in patterns if not _can_match(pattern))


def _can_match(pattern: str) -> bool:
    if pattern == "*":
        return True
    family, _, what = pattern.partition(":")
    if family not in EVENT_FAMILIES:
        return False
    return what == "*" or family == "command" or pattern in KNOWN_EVENTS


def _name(raw: object, directory_name: str) -> str:
    if raw is None:
        return directory_name
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise HookSpecError(
            f"name must be one line of printable text (at most {MAX_NAME_CHARS} characters)"
        )
    return name


def _description(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise HookSpecError(f"description must be text, not {_kind(raw)}")
    return raw.strip()


def _events(raw: object) -> tuple[str, ...]:
    if raw is None:
        raise HookSpecError("events is missing: list the events to handle, such as [session:start]")
    if not isinstance(raw, list):
        raise HookSpecError(f"events must be a list, such as [session:start], not {_kind(raw)}")
    if not raw:
        raise HookSpecError("events is empty: list the events to handle, such as [session:start]")
    events: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise HookSpecError(f"events must be text, but one is {_kind(item)}")
        pattern = item.strip()
        if not is_event_pattern(pattern):
            raise HookSpecError(
                f"bad event {item!r}: expected '*', 'family:*' or 'family:name', "
                "such as session:start, command:new or command:*"
            )
        if pattern not in events:
            events.append(pattern)
    return tuple(events)


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a value of type {type(value).__name__}"
