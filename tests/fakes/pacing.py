"""The clock of a scripted scenario: people write, and operators pull plugs, at set moments.

This is the one place a test's thread sleeps on purpose: it plays people, not a wait for the
gateway (those wait on events, with deadlines).
"""

from __future__ import annotations

import time


def pace_until(moment: float) -> None:
    """Return at ``moment`` (``time.monotonic()``), or at once if it has passed."""
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
