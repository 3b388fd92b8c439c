import random
import re
import string
import time

import pytest

from hermes.policies.chunking import MIN_LIMIT, split_message

TELEGRAM_LIMIT = 4096
DISCORD_LIMIT = 2000

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ADDED_OPEN = re.compile(r"(`{3,}|~{3,})[^\n]*\n")
_ADDED_CLOSE = re.compile(r"\n(`{3,}|~{3,})\Z")


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not cryptography


def fences_balanced(chunk: str) -> bool:
    """CommonMark-style fence state over one chunk: every opened fence is closed."""
    opening: str | None = None
    for line in chunk.split("\n"):
        match = _FENCE.match(line)
        if match is None:
            continue
        marker, info = match.groups()
        if opening is None:
            opening = marker
        elif marker[0] == opening[0] and len(marker) >= len(opening) and not info.strip():
            opening = None
    return opening is None


def fence_line_count(chunk: str) -> int:
    return sum(1 for line in chunk.split("\n") if _FENCE.match(line))


def _piece_variants(chunk: str) -> list[str]:
    """The chunk with or without a leading reopen line and a trailing close line."""
    opened = _ADDED_OPEN.match(chunk)
    closed = _ADDED_CLOSE.search(chunk)
    heads = [0] + ([opened.end()] if opened else [])
    tails = [len(chunk)] + ([closed.start()] if closed else [])
    return [chunk[h:t] for h in heads for t in tails if h <= t]


def reassembles(text: str, chunks: tuple[str, ...]) -> bool:
    """Chunks minus added fence lines are consecutive slices; gaps are whitespace."""
    seen: set[tuple[int, int]] = set()

    def place(index: int, pos: int) -> bool:
        if (index, pos) in seen:
            return False
        seen.add((index, pos))
        gap_end = pos
        while gap_end < len(text) and text[gap_end].isspace():
            gap_end += 1
        if index == len(chunks):
            return gap_end == len(text)
        for piece in _piece_variants(chunks[index]):
            for start in range(pos, gap_end + 1):
                if text.startswith(piece, start) and place(index + 1, start + len(piece)):
                    return True
        return False

    return place(0, 0)


def words_text(rng: random.Random, size: int) -> str:
    """Exactly ``size`` characters of words, single spaces and single newlines."""
    out: list[str] = []
    length = 0
    line = 0
    while length < size:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 9)))
        line += len(word) + 1
        sep = "\n" if line > 70 else " "
        line = 0 if sep == "\n" else line
        out.append(word + sep)
        length += len(word) + 1
    return "".join(out)[: size - 1] + "z"


def assert_valid(text: str, limit: int, chunks: tuple[str, ...]) -> None:
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert all(fences_balanced(chunk) for chunk in chunks)
    assert reassembles(text, chunks)


# Basic contract


def test_text_that_fits_is_returned_unchanged() -> None:
    assert split_message("hello  world\n", 100) == ("hello  world\n",)


def test_text_of_exactly_the_limit_is_one_chunk() -> None:
    text = ("abcd " * 40)[:100]
    assert split_message(text, 100) == (text,)


def test_one_character_over_the_limit_gives_two_chunks() -> None:
    text = ("abcd " * 40)[:101]
    chunks = split_message(text, 100)
    assert len(chunks) == 2
    assert_valid(text, 100, chunks)


def test_one_character_over_the_limit_without_spaces_hard_splits() -> None:
    assert split_message("x" * 101, 100) == ("x" * 100, "x")


def test_empty_text_gives_no_chunks() -> None:
    assert split_message("", TELEGRAM_LIMIT) == ()


def test_long_whitespace_only_text_gives_no_chunks() -> None:
    assert split_message(" \n" * 300, 100) == ()


def test_leading_whitespace_is_not_sent_alone() -> None:
    assert split_message("\n" * 200 + "hello", 100) == ("hello",)


@pytest.mark.parametrize("limit", [0, -5, MIN_LIMIT - 1])
def test_limit_below_minimum_raises(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        split_message("hello", limit)


def test_minimum_limit_is_accepted() -> None:
    assert split_message("hello", MIN_LIMIT) == ("hello",)


# Platform limits


@pytest.fixture
def ten_thousand_chars() -> str:
    # Five 1,998-character paragraphs of words and lines; blank lines between them.
    rng = seeded(7)
    paragraphs = [words_text(rng, 1998) for _ in range(5)]
    text = "\n\n".join(paragraphs) + "!!"
    assert len(text) == 10_000
    return text


@pytest.mark.parametrize(("limit", "expected"), [(TELEGRAM_LIMIT, 3), (DISCORD_LIMIT, 5)])
def test_platform_limits_give_expected_chunk_counts(
    ten_thousand_chars: str, limit: int, expected: int
) -> None:
    chunks = split_message(ten_thousand_chars, limit)
    assert len(chunks) == expected
    assert_valid(ten_thousand_chars, limit, chunks)
    assert "\n\n".join(chunks) == ten_thousand_chars


def test_order_is_preserved() -> None:
    text = " ".join(f"w{i:05d}" for i in range(3000))
    chunks = split_message(text, DISCORD_LIMIT)
    numbers = [int(word[1:]) for chunk in chunks for word in chunk.split()]
    assert numbers == list(range(3000))


# Break preference


def test_paragraph_break_preferred_over_newline_and_space() -> None:
    text = "a" * 60 + "\n\n" + "b" * 10 + "\n" + "c" * 10 + " " + "d" * 50
    assert split_message(text, 100) == ("a" * 60, "b" * 10 + "\n" + "c" * 10 + " " + "d" * 50)


def test_newline_preferred_over_space() -> None:
    text = "a" * 60 + " " + "b" * 10 + "\n" + "c" * 10 + " " + "d" * 50
    chunks = split_message(text, 100)
    assert chunks[0] == "a" * 60 + " " + "b" * 10


def test_space_preferred_over_hard_split() -> None:
    text = "a" * 70 + " " + "b" * 80
    assert split_message(text, 100) == ("a" * 70, "b" * 80)


def test_break_in_the_first_half_of_the_window_is_not_used() -> None:
    # A paragraph break at 20 would make a tiny chunk; the newline at 83 wins.
    text = "a" * 20 + "\n\n" + "b" * 60 + "\n" + "c" * 60
    assert split_message(text, 100) == ("a" * 20 + "\n\n" + "b" * 60, "c" * 60)


def test_word_longer_than_limit_is_hard_split() -> None:
    text = "intro " + "x" * 250 + " outro"
    chunks = split_message(text, 100)
    assert chunks == ("intro " + "x" * 94, "x" * 100, "x" * 56 + " outro")


def test_indentation_of_the_next_line_is_kept() -> None:
    text = "a" * 80 + "  \n\n    - nested item, indented"
    assert split_message(text, 100) == ("a" * 80, "    - nested item, indented")


# Inline code spans


def test_inline_code_span_not_broken_when_avoidable() -> None:
    head = "word " * 15
    span = "`code with many spaces inside it`"
    text = head + span + " tail" * 10
    chunks = split_message(text, 100)
    assert chunks[0] == head.rstrip()
    assert chunks[1].startswith(span)
    assert_valid(text, 100, chunks)


def test_inline_code_span_longer_than_limit_is_split() -> None:
    text = "see `" + "tok " * 60 + "` end"
    chunks = split_message(text, 100)
    assert len(chunks) > 1
    assert_valid(text, 100, chunks)


def test_triple_backticks_inside_a_line_are_an_inline_span_not_a_fence() -> None:
    text = "word " * 16 + "```a b c d e f```" + " tail" * 10
    chunks = split_message(text, 100)
    assert any("```a b c d e f```" in chunk for chunk in chunks)


# Fenced code blocks


def test_fenced_block_longer_than_limit_is_closed_and_reopened() -> None:
    code = "\n".join(f"    value_{i} = compute({i}, factor={i * 3})" for i in range(40))
    text = "Here is the code:\n\n```python\n" + code + "\n```\n\nThat is all."
    chunks = split_message(text, 500)
    assert len(chunks) >= 4
    for chunk in chunks:
        assert len(chunk) <= 500
        assert fence_line_count(chunk) % 2 == 0
        assert fences_balanced(chunk)
    for chunk in chunks[1:-1]:
        assert chunk.startswith("```python\n")
        assert chunk.endswith("\n```")
    bodies = [
        body for chunk in chunks for body in re.findall(r"```python\n(.*?)\n```", chunk, re.DOTALL)
    ]
    assert "\n".join(bodies) == code
    assert_valid(text, 500, chunks)


def test_tilde_fence_repeats_its_marker_and_info_string() -> None:
    code = "\n".join(f"line {i} of the script" for i in range(30))
    text = "~~~~ bash title=run.sh\n" + code + "\n~~~~\n"
    chunks = split_message(text, 200)
    assert len(chunks) > 1
    assert all(chunk.startswith("~~~~ bash title=run.sh\n") for chunk in chunks)
    assert all(fences_balanced(chunk) for chunk in chunks)
    assert_valid(text, 200, chunks)


def test_split_prefers_the_paragraph_before_a_fence() -> None:
    prose = "word " * 15 + "\n\n"
    code = "```\n" + "x = 1\n" * 10 + "```"
    text = prose + code
    chunks = split_message(text, 100)
    assert chunks == (prose.rstrip(), code)


def test_split_never_lands_inside_the_opening_fence_line() -> None:
    prose = "word " * 15 + "word"
    text = prose + "\n```python\nprint('" + "a" * 40 + "')\n```"
    chunks = split_message(text, 100)
    assert chunks == (prose, text.removeprefix(prose + "\n"))


def test_split_never_leaves_only_the_closing_fence_for_the_next_chunk() -> None:
    # The newline before the (long) closing fence is the rightmost break that fits;
    # taking it would make the next chunk an empty reopened block.
    text = "```\n" + "abcdefgh\n" * 10 + "``````````\nafter the block"
    chunks = split_message(text, 100)
    assert chunks[1].startswith("```\nabcdefgh\n``````````")
    assert_valid(text, 100, chunks)


def test_unclosed_fence_is_reopened_and_left_open_at_the_end() -> None:
    code = "\n".join(f"step {i}" for i in range(40))
    text = "```sh\n" + code
    chunks = split_message(text, 100)
    assert all(chunk.startswith("```sh\n") for chunk in chunks)
    assert all(fences_balanced(chunk) for chunk in chunks[:-1])
    assert not fences_balanced(chunks[-1])
    assert reassembles(text, chunks)


def test_code_line_longer_than_the_window_is_continued() -> None:
    code = "data = '" + "ab" * 150 + "'"
    text = "```js\n" + code + "\n```"
    chunks = split_message(text, 100)
    assert all(len(chunk) <= 100 and fences_balanced(chunk) for chunk in chunks)
    bodies = [chunk.removeprefix("```js\n").removesuffix("\n```") for chunk in chunks]
    assert "".join(bodies) == code


# Property-style: many seeded random texts


def _random_code(rng: random.Random) -> str:
    marker = rng.choice(["```", "~~~", "````"])
    lang = rng.choice(["", "python", "js", " bash"])
    lines = []
    for _ in range(rng.randint(0, 80)):
        indent = " " * rng.choice([0, 0, 4, 8])
        width = rng.choice([3, 8, 30, 300])
        words = [rng.choice(["x", "y=1", "call(a)", "# note", "ret"]) for _ in range(width // 4)]
        lines.append(indent + " ".join(words) if rng.random() > 0.1 else "")
    return f"\n{marker}{lang}\n" + "\n".join(lines) + f"\n{marker}\n"


def _random_text(rng: random.Random) -> str:
    parts: list[str] = []
    size = 0
    target = rng.choice([50, 500, 3000, 12000])
    while size < target:
        roll = rng.random()
        if roll < 0.05:
            part = _random_code(rng)
        elif roll < 0.12:
            part = (
                "`"
                + " ".join(rng.choice(["a", "bb", "ccc"]) for _ in range(rng.randint(1, 40)))
                + "`"
            )
        elif roll < 0.14:
            part = "q" * rng.randint(50, 6000)
        else:
            part = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 12)))
        parts.append(part + rng.choice([" ", " ", " ", " ", "\n", "\n\n", "  ", "\n   ", " \n\n "]))
        size += len(parts[-1])
    return "".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_random_texts_split_validly(seed: int) -> None:
    rng = seeded(seed)
    for _ in range(10):
        text = _random_text(rng)
        limit = rng.randint(MIN_LIMIT, 5000)
        chunks = split_message(text, limit)
        assert all(0 < len(chunk) <= limit for chunk in chunks)
        assert all(fences_balanced(chunk) for chunk in chunks)
        assert reassembles(text, chunks), (seed, limit)
        if len(text) <= limit:
            assert chunks == (text,)


# Speed


def _megabyte(rng: random.Random) -> str:
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 10)))
        for _ in range(500)
    ]
    seps = [" "] * 12 + ["\n", "\n\n"]
    return "".join(rng.choice(words) + rng.choice(seps) for _ in range(200_000))[:1_000_000]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_megabyte(seeded(3)), id="prose"),
        pytest.param("a" * 1_000_000, id="no-whitespace"),
        pytest.param("`" + "a b " * 250_000 + "`", id="one-huge-code-span"),
        pytest.param("```py\n" + "x y z\n" * 166_000 + "```\n", id="one-huge-fence"),
        pytest.param("` `` ``` " * 110_000, id="dense-backticks"),
    ],
)
def test_one_megabyte_splits_fast(text: str) -> None:
    started = time.perf_counter()
    chunks = split_message(text, TELEGRAM_LIMIT)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert all(len(chunk) <= TELEGRAM_LIMIT for chunk in chunks)
    assert len(chunks) < 2 * len(text) // TELEGRAM_LIMIT + 2
