"""The cap and the cleaning every platform applies to an inbound text."""

from hermes.adapters.platforms.inbound_text import MAX_MESSAGE_CHARS, clean_text


def test_a_text_within_the_cap_is_unchanged():
    assert clean_text("hello 👋") == "hello 👋"
    assert clean_text("x" * MAX_MESSAGE_CHARS) == "x" * MAX_MESSAGE_CHARS


def test_a_text_over_the_cap_keeps_its_beginning_and_says_how_much_was_cut():
    text = "".join(chr(ord("a") + n % 26) for n in range(MAX_MESSAGE_CHARS * 3))

    cut = clean_text(text)

    assert len(cut) <= MAX_MESSAGE_CHARS
    kept = MAX_MESSAGE_CHARS - 200
    assert cut.startswith(text[:kept])
    assert cut[kept:] == (
        f"\n\n[message cut: it had 300,000 characters; the first {kept:,} are above, "
        f"the limit is {MAX_MESSAGE_CHARS:,}]"
    )


def test_lone_surrogates_are_replaced_and_the_rest_kept():
    assert clean_text("a\ud800b\udfffc 👋") == "a\ufffdb\ufffdc 👋"
    assert clean_text("a\ud800b").encode() == "a\ufffdb".encode()
