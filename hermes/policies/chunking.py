"""Split a long reply into chunks that fit a platform's message-length limit.

A pure function over strings: no I/O. Break points are chosen in the last half of
each window, preferring a blank line, then a newline, then a space, then a hard
split; a split never lands inside an inline code span when a break outside one
exists in the window. A split inside a fenced code block closes the fence and
reopens it, with the same info string, in the next chunk, so every chunk renders as
valid Markdown. Unlike the original gateway we add no ``" (i/n)"`` suffix: platforms
show the chunks as separate messages in order, and the numbering is noise.

Whitespace at a split point, exactly: outside a fenced block, the whitespace between
the last non-whitespace character of a chunk and the start of the next chunk is
dropped, except that a chunk which starts a new line keeps that line's indentation.
Inside a fenced block nothing is dropped but the one newline the split replaces; a
code line too long for a chunk is continued on the next chunk's first line. Every
other character appears exactly once, in order, so the chunks minus the added fence
lines are consecutive slices of the input.

Work is linear in the text length: the text is scanned once for fences and code
spans, and each window is searched with ``str.rfind`` from its right end.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final

MIN_LIMIT: Final = 100
"""The smallest limit accepted: a closed and reopened fence needs room for content."""

_BREAKS: Final = ("\n\n", "\n", " ")
_FENCE_LINE: Final = re.compile(r"^ {0,3}(?P<marker>`{3,}|~{3,})(?P<info>.*)$", re.MULTILINE)
_BACKTICKS: Final = re.compile(r"`+")
_BLANK_LINE: Final = re.compile(r"\n[ \t]*\n")
_NON_WHITESPACE: Final = re.compile(r"\S")


@dataclass(frozen=True, slots=True)
class _Fence:
    """One fenced code block, as text positions, with its close and reopen lines."""

    marker_start: int
    body_start: int
    body_end: int
    """Start of the closing fence line, or the text length for an unclosed block."""
    closer_end: int
    closed: bool
    reopen: str
    close: str

    def covers(self, cut: int) -> bool:
        """Whether a split at ``cut`` falls between the opening marker and block end."""
        return self.marker_start < cut and (not self.closed or cut < self.closer_end)

    def blocked_from(self, cut: int) -> int | None:
        """Start of the forbidden zone around a covered ``cut``, or None if allowed.

        Splitting within the opening line or its first body character, or from the
        newline before the closing line on, would leave an empty or broken fence.
        """
        if cut <= self.body_start:
            return self.marker_start + 1
        if self.closed and cut >= self.body_end - 1:
            return self.body_end - 1
        return None


@dataclass(frozen=True, slots=True)
class _Cut:
    """A chosen split: content ends at ``end``; the next chunk starts at ``resume``."""

    end: int
    resume: int
    fence: _Fence | None
    """The block the split lands inside, which must be closed and reopened."""


def split_message(text: str, limit: int) -> tuple[str, ...]:
    """Split ``text`` into chunks of at most ``limit`` characters, in text order.

    Args:
        text: The reply, in Markdown.
        limit: The platform's maximum message length, in Python ``str`` characters.

    Returns:
        The chunks. Text that fits is returned unchanged as a 1-tuple. Empty text,
        and whitespace-only text longer than ``limit``, give an empty tuple, so
        callers send nothing. No chunk is empty.

    Raises:
        ValueError: If ``limit`` is below ``MIN_LIMIT``.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    if not text:
        return ()
    if len(text) <= limit:
        return (text,)
    splitter = _Splitter.scan(text, limit)
    chunks: list[str] = []
    pos = 0
    fence: _Fence | None = None
    while pos < len(text):
        prefix = fence.reopen if fence is not None else ""
        avail = limit - len(prefix)
        if len(text) - pos <= avail:
            chunks.append(prefix + text[pos:])
            break
        cut = splitter.choose_cut(pos, avail)
        suffix = cut.fence.close if cut.fence is not None else ""
        piece = prefix + text[pos : cut.end] + suffix
        if piece:
            chunks.append(piece)
        pos, fence = cut.resume, cut.fence
    return tuple(chunks)


@dataclass(frozen=True, slots=True)
class _Splitter:
    """The text with its fenced blocks and inline code spans located, ready to cut."""

    text: str
    fences: tuple[_Fence, ...]
    fence_starts: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    span_starts: tuple[int, ...]

    @classmethod
    def scan(cls, text: str, limit: int) -> _Splitter:
        """Locate the fences and code spans of ``text`` once."""
        fences = _find_fences(text, limit)
        spans = _code_spans(text, fences)
        return cls(
            text=text,
            fences=fences,
            fence_starts=tuple(f.marker_start for f in fences),
            spans=spans,
            span_starts=tuple(s[0] for s in spans),
        )

    def choose_cut(self, pos: int, avail: int) -> _Cut:
        """The best split for a chunk starting at ``pos`` with ``avail`` characters."""
        lo = pos + avail // 2
        return (
            self._break_cut(pos, lo, avail, respect_spans=True)
            or self._hard_cut(pos, lo, avail, respect_spans=True)
            or self._break_cut(pos, lo, avail, respect_spans=False)
            or self._hard_cut(pos, pos + 1, avail, respect_spans=False)
            # Reached only when a fence line alone is longer than the chunk.
            or _Cut(end=pos + avail, resume=pos + avail, fence=None)
        )

    def _break_cut(self, pos: int, lo: int, avail: int, *, respect_spans: bool) -> _Cut | None:
        text = self.text
        for pattern in _BREAKS:
            width = len(pattern)
            at = text.rfind(pattern, lo, min(pos + avail + width, len(text)))
            while at != -1:
                blocked = self._blocked_from(at, respect_spans=respect_spans)
                if blocked is None:
                    cut = self._whitespace_cut(pos, at, pattern)
                    if _overflow(cut.end, cut.fence, pos, avail) <= 0:
                        return cut
                    blocked = at
                # Jump left past the whole obstacle, so each window is scanned once.
                at = text.rfind(pattern, lo, blocked - 1 + width)
        return None

    def _hard_cut(self, pos: int, lo: int, avail: int, *, respect_spans: bool) -> _Cut | None:
        cut = pos + avail
        while cut >= lo:
            blocked = self._blocked_from(cut, respect_spans=respect_spans)
            if blocked is not None:
                cut = blocked - 1
                continue
            fence = self._fence_inside(cut)
            overflow = _overflow(cut, fence, pos, avail)
            if overflow <= 0:
                return _Cut(end=cut, resume=cut, fence=fence)
            cut -= overflow
        return None

    def _whitespace_cut(self, pos: int, at: int, pattern: str) -> _Cut:
        fence = self._fence_inside(at)
        if fence is not None:
            # Code keeps its spaces; only the newline is replaced by the fence lines.
            end = at + 1 if pattern == " " else at
            return _Cut(end=end, resume=at + 1, fence=fence)
        text = self.text
        end = pos + len(text[pos:at].rstrip())
        found = _NON_WHITESPACE.search(text, at)
        if found is None:
            return _Cut(end=end, resume=len(text), fence=None)
        newline = text.rfind("\n", at, found.start())
        resume = newline + 1 if newline != -1 else found.start()
        return _Cut(end=end, resume=resume, fence=None)

    def _blocked_from(self, cut: int, *, respect_spans: bool) -> int | None:
        fence = self._fence_covering(cut)
        if fence is not None:
            return fence.blocked_from(cut)
        if respect_spans:
            index = bisect_left(self.span_starts, cut) - 1
            if index >= 0 and cut < self.spans[index][1]:
                return self.spans[index][0] + 1
        return None

    def _fence_covering(self, cut: int) -> _Fence | None:
        index = bisect_left(self.fence_starts, cut) - 1
        if index >= 0 and self.fences[index].covers(cut):
            return self.fences[index]
        return None

    def _fence_inside(self, cut: int) -> _Fence | None:
        fence = self._fence_covering(cut)
        if fence is not None and fence.blocked_from(cut) is None:
            return fence
        return None


def _overflow(end: int, fence: _Fence | None, pos: int, avail: int) -> int:
    """How many characters a chunk from ``pos`` to ``end`` would exceed ``avail`` by."""
    return end - pos + (len(fence.close) if fence is not None else 0) - avail


def _find_fences(text: str, limit: int) -> tuple[_Fence, ...]:
    """Locate fenced code blocks, CommonMark-style: a closer repeats the opener."""
    fences: list[_Fence] = []
    opener: re.Match[str] | None = None
    for line in _FENCE_LINE.finditer(text):
        marker, info = line["marker"], line["info"]
        if opener is None:
            # A backtick line whose info has a backtick is an inline span, not a fence.
            if not (marker[0] == "`" and "`" in info):
                opener = line
            continue
        opening = opener["marker"]
        if marker[0] == opening[0] and len(marker) >= len(opening) and not info.strip():
            fences.extend(_make_fence(text, opener, line, limit))
            opener = None
    if opener is not None:
        fences.extend(_make_fence(text, opener, None, limit))
    return tuple(fences)


def _make_fence(
    text: str, opener: re.Match[str], closer: re.Match[str] | None, limit: int
) -> tuple[_Fence, ...]:
    """Build a block, or none if its fence lines cannot fit a quarter of the limit."""
    marker, info = opener["marker"], opener["info"].rstrip()
    close = "\n" + marker
    words = info.split(maxsplit=1)
    for head in (info, words[0] if words else "", ""):
        reopen = f"{marker}{head}\n"
        if len(reopen) + len(close) <= limit // 4:
            break
    else:
        return ()
    return (
        _Fence(
            marker_start=opener.start("marker"),
            body_start=min(opener.end() + 1, len(text)),
            body_end=closer.start() if closer is not None else len(text),
            closer_end=closer.end() if closer is not None else len(text),
            closed=closer is not None,
            reopen=reopen,
            close=close,
        ),
    )


def _code_spans(text: str, fences: tuple[_Fence, ...]) -> tuple[tuple[int, int], ...]:
    """Inline code spans outside fenced blocks, as ``(start, end)`` positions."""
    barriers = [m.start() for m in _BLANK_LINE.finditer(text)]
    spans: list[tuple[int, int]] = []
    region_start = 0
    for region_end, next_start in [(f.marker_start, f.closer_end) for f in fences] + [
        (len(text), len(text))
    ]:
        runs = [m.span() for m in _BACKTICKS.finditer(text, region_start, region_end)]
        spans.extend(_match_runs(runs, barriers))
        region_start = next_start
    return tuple(spans)


def _match_runs(runs: list[tuple[int, int]], barriers: list[int]) -> list[tuple[int, int]]:
    """Pair backtick runs into spans: a run closes at the next run of the same length.

    A span never crosses a blank line; an unpaired run is literal text.
    """
    following: list[int | None] = [None] * len(runs)
    last_of_length: dict[int, int] = {}
    for index in reversed(range(len(runs))):
        start, end = runs[index]
        following[index] = last_of_length.get(end - start)
        last_of_length[end - start] = index
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(runs):
        partner = following[index]
        if partner is not None:
            opened, closing = runs[index][1], runs[partner][0]
            barrier = bisect_left(barriers, opened)
            if barrier == len(barriers) or barriers[barrier] >= closing:
                spans.append((runs[index][0], runs[partner][1]))
                index = partner + 1
                continue
        index += 1
    return spans
