"""Markdown -> MarkdownV2, checked against the fake server's strict (tdlib-like) parser."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from hermes.adapters.platforms.telegram_format import ChatLines, escape_markdown_v2, to_markdown_v2
from hermes.messages.values import ChatAddress, Platform
from tests.fakes.telegram_server import EntityParseError, parse_markdown_v2

CASES = [
    pytest.param("Hello. World!", r"Hello\. World\!", id="plain-punctuation"),
    pytest.param("**bold** text", "*bold* text", id="bold"),
    pytest.param("__bold__ text", "*bold* text", id="underscore-bold"),
    pytest.param("*it* and _it_", "_it_ and _it_", id="italic"),
    pytest.param("~~gone~~", "~gone~", id="strike"),
    pytest.param("**a *b* c**", "*a _b_ c*", id="italic-in-bold"),
    pytest.param("*a **b** c*", "_a *b* c_", id="bold-in-italic"),
    pytest.param("*x*_y_", "_xy_", id="adjacent-italics-merge"),
    pytest.param("`a*b_c\\d`", "`a*b_c\\\\d`", id="inline-code-keeps-markers"),
    pytest.param("``a ` b``", "`a \\` b`", id="double-backtick-code"),
    pytest.param(
        "```python\nprint('x`y\\\\')\n```",
        "```python\nprint('x\\`y\\\\\\\\')```",
        id="fenced-block-with-language",
    ),
    pytest.param("```\na.b\n```\nafter.", "```\na.b```\nafter\\.", id="fenced-block-plain"),
    pytest.param("~~~\ncode\n~~~", "```\ncode```", id="tilde-fence"),
    pytest.param("```sh\nrm -rf", "```sh\nrm -rf```", id="unclosed-fence-closed"),
    pytest.param(
        "[the docs](https://e.x/a_(b)) here",
        "[the docs](https://e.x/a_(b\\)) here",
        id="link-url-escapes",
    ),
    pytest.param("[**b** c](https://e.x)", "[*b* c](https://e.x)", id="formatted-link-text"),
    pytest.param("# Title\ntext", "*Title*\ntext", id="heading"),
    pytest.param("## **Big** news ##", "*Big news*", id="heading-no-nested-bold"),
    pytest.param("> quoted.\n> more\nafter", ">quoted\\.\n>more\nafter", id="quote"),
    pytest.param("- a\n* b\n1. c", "\\- a\n\\* b\n1\\. c", id="lists"),
    pytest.param("snake_case_name", "snake\\_case\\_name", id="snake-case"),
    pytest.param("unclosed **bold", "unclosed \\*\\*bold", id="unbalanced-bold"),
    pytest.param("a * b * c", "a \\* b \\* c", id="spaced-stars"),
    pytest.param("2 < 3 > 1 | x {y}", "2 < 3 \\> 1 \\| x \\{y\\}", id="reserved"),
    pytest.param("\\*not italic\\*", "\\*not italic\\*", id="markdown-escape"),
    pytest.param("C:\\path", "C:\\\\path", id="backslash"),
    pytest.param("![alt](https://e.x/i.png)", "\\![alt](https://e.x/i.png)", id="image"),
    pytest.param("||spoiler||", "\\|\\|spoiler\\|\\|", id="no-spoilers"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("markdown", "expected"), CASES)
def test_conversion(markdown: str, expected: str) -> None:
    converted = to_markdown_v2(markdown)

    assert converted == expected
    parse_markdown_v2(converted)  # and Telegram's parser takes it


def test_escape_shows_text_exactly() -> None:
    text = "_*[]()~`>#+-=|{}.!\\ plain"

    assert parse_markdown_v2(escape_markdown_v2(text)) == text


REJECTED = [
    pytest.param("a.b", "Character '.' is reserved", id="unescaped-dot"),
    pytest.param("*bold", "Can't find end of Bold entity at byte offset 0", id="open-bold"),
    pytest.param("_a*b_*", "Can't find end of Bold entity", id="crossed-entities"),
    pytest.param("[a](https://e.x", "Can't find end of a URL", id="open-url"),
    pytest.param("1 > 0", "Character '>' is reserved", id="mid-line-quote"),
    pytest.param("```py\nx", "Can't find end of PreCode entity", id="open-pre"),
    pytest.param(">*b\nc*", "Can't find end of Bold entity", id="bold-across-quote-end"),
    pytest.param("a|b", "Character '|' is reserved", id="single-pipe"),
]


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_the_validator_is_strict(text: str, reason: str) -> None:
    with pytest.raises(EntityParseError, match=re.escape(reason)):
        parse_markdown_v2(text)


def test_the_validator_shows_entities_as_text() -> None:
    shown = parse_markdown_v2("*b* _i_ __u__ ~s~ ||p|| `c` [l](https://e.x) \\. ```py\nx```")

    assert shown == "b i u s p c l . x"


TOKENS = [*"ab c_*~`[]>#+-=|{}.!\\\n\t\ré😀"]
TOKENS += ["**", "__", "~~", "```", "```lang9\n", "\n```\n", "[x](https://e.x/1)", "# ", "> "]
FENCE_WITH_OTHER_INFO = re.compile(
    r"^ {0,3}(?:`{3,}|~{3,})(?!(?:[ \t]*lang9)?[ \t]*$)", re.MULTILINE
)
MARKUP = re.compile(r"[\s\\*_~`#>\[\]()|]")


def random_texts(seed: int, tokens: list[str], count: int = 3000) -> list[str]:
    rng = random.Random(seed)  # noqa: S311  (reproducible texts, not secrets)
    return ["".join(rng.choice(tokens) for _ in range(rng.randint(0, 40))) for _ in range(count)]


def without_markup(text: str) -> str:
    """The characters that must survive conversion: no markup, link targets, languages."""
    return MARKUP.sub("", text.replace("https://e.x/1", "").replace("lang9", ""))


@pytest.mark.parametrize("seed", range(5))
def test_any_text_converts_to_markdown_telegram_accepts(seed: int) -> None:
    for text in random_texts(seed, [*TOKENS, "(", ")", "](", "[a]("]):
        converted = to_markdown_v2(text)
        try:
            parse_markdown_v2(converted)
        except EntityParseError as error:
            pytest.fail(f"{text!r} -> {converted!r} refused: {error}")


@pytest.mark.parametrize("seed", range(5))
def test_conversion_keeps_every_visible_character(seed: int) -> None:
    # Bare parentheses are left out: "[a](b)" built by chance would be a link whose target is
    # (rightly) hidden. A fence's info string other than lang9 is markup too, so is skipped.
    checked = 0
    for text in random_texts(seed, TOKENS):
        if FENCE_WITH_OTHER_INFO.search(text):
            continue
        shown = parse_markdown_v2(to_markdown_v2(text))
        assert without_markup(shown) == without_markup(text), text
        checked += 1
    assert checked > 2000


@pytest.mark.parametrize("line", ["_a " * 1400, "**a " * 1000, "*a* " * 1000, "~~a " * 1000])
def test_many_unpaired_markers_convert_valid(line: str) -> None:
    assert parse_markdown_v2(to_markdown_v2(line))


# -- ChatLines: each chat's order, one typing indicator per chat ------------------------------


def chat(chat_id: str, thread: str | None = None) -> ChatAddress:
    return ChatAddress(platform=Platform.TELEGRAM, chat_id=chat_id, thread_id=thread)


async def until(probe, seconds: float = 2.0) -> None:
    """Wait (bounded) for a condition that has no event of its own."""
    async with asyncio.timeout(seconds):
        while True:
            if probe():
                return
            await asyncio.sleep(0.005)


def test_deliveries_to_one_chat_keep_their_order_and_other_chats_do_not_wait() -> None:
    async def scenario() -> list[str]:
        lines, log = ChatLines(interval=1.0, limit=10.0), []
        release, done = asyncio.Event(), asyncio.Event()

        def send(name: str, gate: asyncio.Event | None = None):
            async def run() -> None:
                if gate is not None:
                    await gate.wait()
                log.append(name)
                if name == "1-second":
                    done.set()

            return run

        lines.deliver(chat("1"), send("1-first", release))
        lines.deliver(chat("1"), send("1-second"))
        lines.deliver(chat("2"), send("2-only"))
        await until(lambda: log == ["2-only"])
        log.append("released")
        release.set()
        await asyncio.wait_for(done.wait(), 2.0)
        await lines.close()
        return log

    assert asyncio.run(scenario()) == ["2-only", "released", "1-first", "1-second"]


def test_typing_pings_until_stopped_and_never_twice_per_chat() -> None:
    async def scenario() -> tuple[int, int]:
        lines, pings = ChatLines(interval=0.01, limit=10.0), {"1": 0, "2": 0}

        def ping(name: str):
            async def run() -> bool:
                pings[name] += 1
                return True

            return run

        lines.typing(chat("1"), ping("1"))
        lines.typing(chat("1"), ping("1"))  # already typing: no second indicator
        await until(lambda: pings["1"] >= 5)
        lines.typing(chat("1"), None)
        stopped = pings["1"]
        lines.typing(chat("2"), ping("2"))  # a clock: 5 pings of chat 2 take 40 ms at least
        await until(lambda: pings["2"] >= 5)
        await lines.close()
        return stopped, pings["1"]

    stopped, later = asyncio.run(scenario())
    assert later == stopped


def test_typing_stops_at_its_limit_on_refusal_and_on_a_delivery() -> None:
    async def scenario() -> tuple[dict[str, int], bool]:
        lines = ChatLines(interval=0.01, limit=0.05)
        counts = {"limit": 0, "refused": 0, "sent": 0}

        def ping(name: str, answer: bool = True):
            async def run() -> bool:
                counts[name] += 1
                return answer

            return run

        async def nothing() -> None:
            return None

        lines.typing(chat("1"), ping("limit"))
        lines.typing(chat("2"), ping("refused", answer=False))
        lines.typing(chat("3", "7"), ping("sent"))
        lines.deliver(chat("3", "7"), nothing)
        await until(lambda: not lines._typing and not lines._sends)
        await lines.close()
        return counts, True

    counts, ended = asyncio.run(scenario())
    assert ended
    assert 2 <= counts["limit"] <= 6
    assert counts["refused"] == 1
    assert counts["sent"] <= 1


def test_close_cancels_every_waiting_delivery_and_indicator() -> None:
    async def scenario() -> list[str]:
        lines, ran = ChatLines(interval=0.01, limit=10.0), []
        never, typing = asyncio.Event(), asyncio.Event()

        async def blocked() -> None:
            ran.append("first started")
            await never.wait()

        async def chained() -> None:
            ran.append("second")

        async def ping() -> bool:
            typing.set()
            return True

        lines.deliver(chat("1"), blocked)
        lines.deliver(chat("1"), chained)
        lines.typing(chat("2"), ping)
        await until(lambda: ran == ["first started"] and typing.is_set())
        await asyncio.wait_for(lines.close(), 1.0)
        return ran

    assert asyncio.run(scenario()) == ["first started"]
