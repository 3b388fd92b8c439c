import asyncio

from hermes.adapters.agents.echo_agent import FLUSH_SKIPPED, EchoAgent
from hermes.messages.agent import TurnContext, TurnPurpose, TurnResult
from hermes.messages.values import ChatAddress, ChatMessage, Platform, Role, SessionKey, TokenUsage


def make_context(*inputs: str, purpose: TurnPurpose = TurnPurpose.REPLY) -> TurnContext:
    return TurnContext(
        turn_id="turn-1",
        session_key=SessionKey(value="agent:main:console:dm:me"),
        session_id="session-1",
        memory_scope="agent:main:console:dm:me",
        origin=ChatAddress(platform=Platform.CONSOLE, chat_id="me"),
        history=(ChatMessage(role=Role.USER, content="earlier"),),
        inputs=inputs,
        purpose=purpose,
    )


def test_reply_says_no_model_is_configured_and_how_to_set_one():
    result = asyncio.run(EchoAgent().run_turn(make_context("hello"), None))

    assert result.text.startswith("No model is configured")
    assert "HERMES_MODEL" in result.text
    assert "config.yaml" in result.text
    assert result.text.endswith("You said: hello")
    assert result.usage == TokenUsage()


def test_echoes_every_input_separated_by_a_blank_line():
    result = asyncio.run(EchoAgent().run_turn(make_context("one", "two"), None))

    assert result.text.endswith("You said: one\n\ntwo")
    assert "earlier" not in result.text


def test_deltas_concatenate_to_the_reply():
    deltas: list[str] = []

    result = asyncio.run(EchoAgent().run_turn(make_context("hi"), deltas.append))

    assert deltas
    assert "".join(deltas) == result.text


def test_description_and_close():
    agent = EchoAgent()

    asyncio.run(agent.aclose())

    assert agent.description == "echo (no model configured)"


def test_a_flush_turn_has_nothing_to_save_and_streams_nothing():
    deltas: list[str] = []
    context = make_context("save what matters", purpose=TurnPurpose.FLUSH)

    result = asyncio.run(EchoAgent().run_turn(context, deltas.append))

    assert result == TurnResult(text="(nothing to save: no model is configured)")
    assert result.text == FLUSH_SKIPPED
    assert deltas == []
