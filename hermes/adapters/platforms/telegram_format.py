"""Outbound to Telegram, without the SDK: MarkdownV2 text, and each chat's order of sending.

``to_markdown_v2`` rewrites standard Markdown, as models write it, as Telegram's MarkdownV2; it
is a pure function over strings. Telegram rejects a whole message when one reserved character is
left unescaped or one entity is left open, so the conversion is built to be valid for *any*
input: every construct it emits is balanced and self-contained within one line (or one fenced
block), everything else is escaped, and a marker it cannot pair is escaped rather than left
dangling. Fenced code blocks become pre blocks (with their language), inline code stays code,
``**b**``/``__b__`` become bold, ``*i*``/``_i_`` italic, ``~~s~~`` strikethrough, links keep
their target, headings become bold lines and ``>`` lines a quotation.

``ChatLines`` keeps, on the adapter's event loop, each chat's deliveries in order and at most
one typing indicator per chat.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from hermes.messages.values import ChatAddress

_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!\\")
_MARKDOWN_ESCAPABLE: Final = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
"""ASCII punctuation: what a backslash escapes in CommonMark."""

_FENCE_OPEN: Final = re.compile(r"^ {0,3}(?P<marker>`{3,}|~{3,})[ \t]*(?P<info>[^\s`]*)[^`]*$")
_HEADING: Final = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<content>.*?)(?:[ \t]+#+)?[ \t]*$")
_QUOTE: Final = re.compile(r"^ {0,3}>[ \t]?(?P<content>.*)$")
_LANGUAGE_JUNK: Final = re.compile(r"[^\w+#.-]")
_LINK: Final = re.compile(
    r"\[(?P<text>[^\[\]\n]+)\]\((?P<url>(?:[^()\s\\]|\\.|\([^()\s]*\))+)\)", re.ASCII
)

_BOLD: Final = "bold"
_ITALIC: Final = "italic"
_STRIKE: Final = "strike"
_LINKS: Final = "link"


@dataclass(frozen=True, slots=True)
class _Marker:
    source: str
    style: str
    target: str


_MARKERS: Final = (
    _Marker("**", _BOLD, "*"),
    _Marker("__", _BOLD, "*"),
    _Marker("~~", _STRIKE, "~"),
    _Marker("*", _ITALIC, "_"),
    _Marker("_", _ITALIC, "_"),
)


def to_markdown_v2(text: str) -> str:
    """``text`` (standard Markdown) as Telegram MarkdownV2 that Telegram always accepts."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        fence = _FENCE_OPEN.match(lines[index])
        if fence is None:
            out.append(_convert_line(lines[index]))
            index += 1
            continue
        marker = fence.group("marker")
        body: list[str] = []
        index += 1
        while index < len(lines) and not _closes_fence(lines[index], marker):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence; an unclosed block runs to the end of the text
        out.append(_pre_block(body, fence.group("info")))
    return "\n".join(out)


def escape_markdown_v2(text: str) -> str:
    """``text`` with every character MarkdownV2 reserves escaped (shown exactly as given)."""
    return "".join("\\" + ch if ch in _RESERVED else ch for ch in text)


def _escape_code(text: str) -> str:
    return text.replace("\\", "\\\\").replace("`", "\\`")


def _escape_url(url: str) -> str:
    return url.replace("\\", "\\\\").replace(")", "\\)")


def _closes_fence(line: str, marker: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3  # noqa: PLR2004  (CommonMark: up to 3 spaces)
        and stripped.startswith(marker)
        and set(stripped) == {marker[0]}
    )


def _pre_block(body: list[str], info: str) -> str:
    language = _LANGUAGE_JUNK.sub("", info)
    return f"```{language}\n{_escape_code(chr(10).join(body))}```"


def _convert_line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading is not None and heading.group("content").strip():
        return "*" + _inline(heading.group("content"), frozenset({_BOLD})).text + "*"
    quote = _QUOTE.match(line)
    if quote is not None:
        return ">" + _inline(quote.group("content"), frozenset()).text
    return _inline(line, frozenset()).text


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    opens_italic: bool = False
    """Starts with an italic marker ``_``."""
    closes_italic: bool = False
    """Ends with an italic marker ``_``."""


def _inline(text: str, active: frozenset[str]) -> _Piece:
    """One line of inline Markdown; ``active`` are the styles already open around it."""
    pieces: list[_Piece] = []
    unclosable: dict[str, int] = {}
    """marker -> a start from which no closer was found (so none is found from later on)."""
    index = 0
    while index < len(text):
        piece, index = _next_piece(text, index, active, unclosable)
        if pieces and pieces[-1].closes_italic and piece.opens_italic:
            # "_a__b_" would open an underline: join adjacent italics into one
            last = pieces.pop()
            piece = _Piece(last.text[:-1] + piece.text[1:], last.opens_italic, piece.closes_italic)
        pieces.append(piece)
    if not pieces:
        return _Piece("")
    return _Piece("".join(p.text for p in pieces), pieces[0].opens_italic, pieces[-1].closes_italic)


def _next_piece(
    text: str, index: int, active: frozenset[str], unclosable: dict[str, int]
) -> tuple[_Piece, int]:
    """The rendering of what starts at ``index`` and the index after it."""
    char = text[index]
    if char == "\\" and index + 1 < len(text) and text[index + 1] in _MARKDOWN_ESCAPABLE:
        return _Piece(escape_markdown_v2(text[index + 1])), index + 2
    if char == "`":
        return _code_span(text, index)
    if char == "[" and _LINKS not in active:
        link = _LINK.match(text, index)
        if link is not None:
            label = _inline(link.group("text"), active | {_LINKS}).text
            url = _escape_url(_unescape_markdown(link.group("url")))
            return _Piece(f"[{label}]({url})"), link.end()
    emphasis = _emphasis(text, index, active, unclosable)
    if emphasis is not None:
        return emphasis
    return _Piece(escape_markdown_v2(char)), index + 1


def _emphasis(
    text: str, index: int, active: frozenset[str], unclosable: dict[str, int]
) -> tuple[_Piece, int] | None:
    """Bold, italic or strikethrough opening at ``index``, if its marker pairs up."""
    for marker in _MARKERS:
        if not text.startswith(marker.source, index) or not _can_open(text, index, marker.source):
            continue
        start = index + len(marker.source)
        if unclosable.get(marker.source, len(text)) <= start:
            continue  # keeps a line of many unpaired markers linear, not quadratic
        end = _find_closer(text, start, marker.source)
        if end is None:
            unclosable[marker.source] = start
            continue
        after = end + len(marker.source)
        if marker.style in active:  # no nesting of a style in itself: keep only the content
            return _inline(text[start:end], active), after
        inner = _inline(text[start:end], active | {marker.style}).text
        italic = marker.style == _ITALIC
        return _Piece(marker.target + inner + marker.target, italic, italic), after
    return None


def _code_span(text: str, index: int) -> tuple[_Piece, int]:
    run = _run_length(text, index, "`")
    close = _find_backtick_run(text, index + run, run)
    if close is None:
        return _Piece(escape_markdown_v2("`" * run)), index + run
    content = text[index + run : close]
    if len(content) > 2 and content[0] == " " and content[-1] == " " and content.strip():  # noqa: PLR2004
        content = content[1:-1]  # CommonMark strips one space on each side
    return _Piece("`" + _escape_code(content) + "`"), close + run


def _can_open(text: str, index: int, marker: str) -> bool:
    start = index + len(marker)
    if start >= len(text) or text[start].isspace():
        return False
    return not (marker[0] == "_" and index > 0 and text[index - 1].isalnum())  # snake_case


def _find_closer(text: str, start: int, marker: str) -> int | None:
    """Where emphasis whose content starts at ``start`` closes, or None if it cannot."""
    position = start
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char == "`":
            run = _run_length(text, position, "`")
            close = _find_backtick_run(text, position + run, run)
            position = position + run if close is None else close + run
            continue
        if text.startswith(marker, position):
            if len(marker) == 1 and text.startswith(marker * 2, position):
                position += 2  # a doubled marker is a construct of its own
                continue
            if _can_close(text, position, marker, start):
                return position
        position += 1
    return None


def _can_close(text: str, position: int, marker: str, start: int) -> bool:
    if position == start or text[position - 1].isspace():
        return False
    after = position + len(marker)
    return not (marker[0] == "_" and after < len(text) and text[after].isalnum())


def _run_length(text: str, index: int, char: str) -> int:
    end = index
    while end < len(text) and text[end] == char:
        end += 1
    return end - index


def _find_backtick_run(text: str, start: int, run: int) -> int | None:
    position = text.find("`" * run, start)
    while position != -1:
        length = _run_length(text, position, "`")
        if length == run:
            return position
        position = text.find("`" * run, position + length)
    return None


def _unescape_markdown(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


_Key = tuple[str, str | None]
"""(chat id, topic id)."""


class ChatLines:
    """Each chat's deliveries in order, and at most one typing indicator per chat (one loop).

    A delivery waits for the previous delivery to its chat, and ends the chat's typing
    indicator (Telegram clears it when a message arrives). A typing indicator pings at once,
    then every ``interval`` seconds, until stopped, until ``limit`` seconds passed, until its
    ping answers False, or until ``close``.
    """

    def __init__(self, interval: float, limit: float) -> None:
        """Ping typing indicators every ``interval`` seconds, for at most ``limit`` seconds."""
        self._interval = interval
        self._limit = limit
        self._sends: dict[_Key, asyncio.Task[None]] = {}
        """Each chat's last delivery: the next one waits for it."""
        self._typing: dict[_Key, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def deliver(self, chat: ChatAddress, send: Callable[[], Awaitable[None]]) -> None:
        """Run ``send()`` once the chat's earlier deliveries are done."""
        key = (chat.chat_id, chat.thread_id)
        work = self._after(key, self._sends.get(key), send)
        self._sends[key] = self._track(self._sends, key, work)

    def typing(self, chat: ChatAddress, ping: Callable[[], Awaitable[bool]] | None) -> None:
        """Keep ``chat``'s indicator alive with ``ping`` (None: stop it); never two per chat."""
        key = (chat.chat_id, chat.thread_id)
        if ping is None:
            self._stop_typing(key)
        elif key not in self._typing:
            self._typing[key] = self._track(self._typing, key, self._keep_typing(ping))

    async def close(self) -> None:
        """Cancel every delivery and indicator still running, and wait until they end."""
        work = list(self._running)
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)

    async def _after(
        self, key: _Key, previous: asyncio.Task[None] | None, send: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        self._stop_typing(key)
        await send()

    async def _keep_typing(self, ping: Callable[[], Awaitable[bool]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limit
        while await ping():
            left = deadline - loop.time()
            if left <= self._interval:
                return
            await asyncio.sleep(self._interval)

    def _stop_typing(self, key: _Key) -> None:
        task = self._typing.pop(key, None)
        if task is not None:
            task.cancel()

    def _track(
        self, tasks: dict[_Key, asyncio.Task[None]], key: _Key, work: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Run ``work``; ``tasks[key]`` holds it until it ends (unless replaced by then)."""
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            self._running.discard(done)
            if tasks.get(key) is done:
                del tasks[key]

        task.add_done_callback(forget)
        return task
