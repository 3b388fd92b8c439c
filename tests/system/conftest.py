"""Fixtures shared by the whole-gateway tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_server import FakeLLM


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    """A fake OpenAI-compatible model server on loopback, stopped after the test."""
    with FakeLLM() as fake:
        yield fake
