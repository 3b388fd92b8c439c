"""The texts memory tools hand back to the agent: bounded, dated, and the same for every provider.

Pure functions over plain values; no I/O. Every result is capped, so a large memory cannot
flood the model's context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_RESULT_CHARS: Final = 4_000
"""Longest text a memory tool returns."""
SEARCH_LIMIT: Final = 8
"""Most excerpts a search returns."""
MAX_EXCERPT_CHARS: Final = 400
_MAX_QUERY_ECHO: Final = 80
NOTHING_SAVED: Final = "Nothing saved about this user yet."


@dataclass(frozen=True, slots=True, kw_only=True)
class Excerpt:
    """One search hit: who said it, when, and the matching part of what they said."""

    role: str
    """``user`` or ``assistant``."""
    sender_id: str
    sender_name: str | None
    created_at: str
    """ISO 8601, UTC."""
    text: str


def bounded(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a visible marker when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rstrip() + "..."


def quoted(query: str) -> str:
    """The query as the reply echoes it: one line, short."""
    return '"' + bounded(" ".join(query.split()), _MAX_QUERY_ECHO) + '"'


def speaker(excerpt: Excerpt) -> str:
    """Who said an excerpt, as the agent reads it."""
    if excerpt.role != "user":
        return excerpt.role
    if excerpt.sender_name:
        return f"{excerpt.sender_name} (user {excerpt.sender_id})"
    return f"user {excerpt.sender_id}"


def excerpt_lines(excerpts: Sequence[Excerpt]) -> list[str]:
    """One dated line per excerpt, best first."""
    lines = []
    for excerpt in excerpts[:SEARCH_LIMIT]:
        text = bounded(" ".join(excerpt.text.split()), MAX_EXCERPT_CHARS)
        lines.append(f"- [{excerpt.created_at[:10]}] {speaker(excerpt)}: {text}")
    return lines


def search_text(query: str, excerpts: Sequence[Excerpt]) -> str:
    """The answer of a memory search."""
    if not excerpts:
        return f"No earlier messages match {quoted(query)}."
    header = f"Earlier messages matching {quoted(query)}, best first:"
    return bounded("\n".join([header, *excerpt_lines(excerpts)]))


def profile_text(facts: Sequence[str], header: str = "Saved about this user:") -> str:
    """The answer of a profile read: ``header``, then the facts about the user, one per line."""
    if not facts:
        return NOTHING_SAVED
    return bounded("\n".join([header, *(f"- {fact}" for fact in facts)]))


def context_text(query: str, facts: Sequence[str], excerpts: Sequence[Excerpt]) -> str:
    """A context answer made without a model: the profile, then the best excerpts."""
    if not facts and not excerpts:
        return f"Nothing in memory relates to {quoted(query)} yet."
    parts = [profile_text(facts)]
    if excerpts:
        parts.append(search_text(query, excerpts))
    return bounded("\n\n".join(parts))
