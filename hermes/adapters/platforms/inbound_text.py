"""How long, and how clean, a text that a platform hands the gateway as one message may be.

Every platform adapter applies the same cap. The HTTP API refuses a longer input with a 400,
because its client can shorten it and send again. Telegram and Discord cut it and add a marker
that the agent reads: a chat user cannot be answered with a 400, and a message must never
vanish. (Real Telegram and Discord messages are far shorter; the cap bites when Telegram
fragments are gathered, or when a server misbehaves.) Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Final

MAX_MESSAGE_CHARS: Final = 100_000
"""The longest text one inbound message may carry, in characters (code points)."""
_MARKER_ROOM: Final = 200
"""Characters kept free at the end of a cut text for the marker."""
_REPLACEMENT: Final = "\ufffd"


def clean_text(text: str) -> str:
    r"""``text`` fit to route: lone surrogates replaced, cut to ``MAX_MESSAGE_CHARS`` if longer.

    A lone surrogate (which JSON's ``\ud800`` escapes can carry) cannot be encoded as UTF-8,
    so the journal or the agent's request would fail on it: it becomes U+FFFD. A text over the
    cap keeps its beginning and ends with a marker that says how much was cut.
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        text = "".join(_REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    kept = MAX_MESSAGE_CHARS - _MARKER_ROOM
    return (
        text[:kept] + f"\n\n[message cut: it had {len(text):,} characters; the first {kept:,} "
        f"are above, the limit is {MAX_MESSAGE_CHARS:,}]"
    )
