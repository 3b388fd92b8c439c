import asyncio
import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam

from hermes.adapters.agents.memory_tools import (
    MAX_ARGUMENT_CHARS,
    MAX_RESULT_CHARS,
    TRUNCATED_MARKER,
    MemoryTool,
    memory_tool_definitions,
    run_memory_tool,
)
from hermes.adapters.agents.tool_loop import (
    TOOL_LIMIT_NOTICE,
    ModelReply,
    StreamedToolCalls,
    ToolCall,
    ToolPolicy,
    converse,
)
from hermes.adapters.agents.toolbox import MemoryTools, Toolbox
from hermes.messages.memory import MemoryUnavailableError
from hermes.messages.values import TokenUsage


class RecordingMemory:
    """A MemoryHandle that records every call; answers name the handle and the call."""

    def __init__(self, name: str = "m", *, failure: str | None = None, answer: str | None = None):
        self.name = name
        self.failure = failure
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    async def profile(self) -> str:
        return self._record("profile", "")

    async def search(self, query: str) -> str:
        return self._record("search", query)

    async def context(self, query: str) -> str:
        return self._record("context", query)

    async def conclude(self, conclusion: str) -> str:
        return self._record("conclude", conclusion)

    def _record(self, operation: str, argument: str) -> str:
        self.calls.append((operation, argument))
        if self.failure is not None:
            raise MemoryUnavailableError(self.failure)
        if self.answer is not None:
            return self.answer
        return f"{self.name} {operation}: {argument}"


class BrokenMemory(RecordingMemory):
    async def search(self, query: str) -> str:
        raise TypeError(f"a bug in the memory adapter ({query})")


def run(name: str, arguments: str, memory: RecordingMemory) -> str:
    return asyncio.run(run_memory_tool(memory, name, arguments))


# --- the tool definitions -------------------------------------------------------------


def test_the_four_tools_are_in_the_standard_openai_format():
    definitions = memory_tool_definitions()

    assert [d["function"]["name"] for d in definitions] == [
        "memory_profile",
        "memory_search",
        "memory_context",
        "memory_conclude",
    ]
    for definition in definitions:
        assert definition["type"] == "function"
        function = definition["function"]
        assert function.get("description")
        parameters = function.get("parameters")
        assert parameters is not None
        assert parameters["type"] == "object"
    json.dumps(definitions)  # they go over the wire as they are


@pytest.mark.parametrize(
    ("tool", "required"),
    [
        (MemoryTool.PROFILE, []),
        (MemoryTool.SEARCH, ["query"]),
        (MemoryTool.CONTEXT, ["query"]),
        (MemoryTool.CONCLUDE, ["conclusion"]),
    ],
)
def test_each_tool_requires_exactly_its_argument(tool, required):
    (definition,) = [d for d in memory_tool_definitions() if d["function"]["name"] == tool]
    parameters = definition["function"].get("parameters")
    assert parameters is not None

    assert parameters["required"] == required
    properties = parameters["properties"]
    assert isinstance(properties, dict)
    assert list(properties) == required


def test_every_call_builds_a_fresh_list():
    first = memory_tool_definitions()
    first.clear()

    assert len(memory_tool_definitions()) == 4


# --- dispatch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "call"),
    [
        ("memory_profile", "{}", ("profile", "")),
        ("memory_profile", "", ("profile", "")),
        ("memory_search", '{"query": "green tea"}', ("search", "green tea")),
        (
            "memory_context",
            '{"query": "what does she drink?"}',
            ("context", "what does she drink?"),
        ),
        ("memory_conclude", '{"conclusion": "Likes tea."}', ("conclude", "Likes tea.")),
    ],
)
def test_a_call_reaches_the_matching_handle_method(name, arguments, call):
    memory = RecordingMemory("mine")

    result = run(name, arguments, memory)

    assert memory.calls == [call]
    assert result == f"mine {call[0]}: {call[1]}"


def test_each_call_reaches_only_the_handle_it_is_given():
    alice, bob = RecordingMemory("alice"), RecordingMemory("bob")

    assert run("memory_search", '{"query": "a"}', alice) == "alice search: a"
    assert run("memory_conclude", '{"conclusion": "b"}', bob) == "bob conclude: b"

    assert alice.calls == [("search", "a")]
    assert bob.calls == [("conclude", "b")]


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("memory_search", "{not json", "Error: the arguments are not valid JSON"),
        ("memory_search", '["tea"]', "Error: the arguments must be a JSON object."),
        ("memory_search", "{}", "Error: the argument 'query' is required"),
        ("memory_search", '{"query": "   "}', "Error: the argument 'query' is required"),
        ("memory_context", '{"query": 42}', "Error: the argument 'query' is required"),
        ("memory_conclude", '{"fact": "x"}', "Error: the argument 'conclusion' is required"),
        ("send_message", "{}", "Error: there is no tool named 'send_message'"),
    ],
)
def test_bad_calls_become_error_texts_and_reach_no_memory(name, arguments, error):
    memory = RecordingMemory()

    result = run(name, arguments, memory)

    assert result.startswith(error)
    assert memory.calls == []


def test_an_unknown_tool_error_lists_the_real_tools():
    result = run("honcho_search", '{"query": "x"}', RecordingMemory())

    for tool in MemoryTool:
        assert tool.value in result


def test_an_argument_of_the_maximum_length_passes_and_a_longer_one_does_not():
    memory = RecordingMemory(answer="ok")
    longest = "x" * MAX_ARGUMENT_CHARS

    accepted = run("memory_conclude", json.dumps({"conclusion": longest}), memory)
    refused = run("memory_conclude", json.dumps({"conclusion": longest + "x"}), memory)

    assert accepted == "ok"
    assert refused.startswith("Error: the argument 'conclusion' is too long")
    assert memory.calls == [("conclude", longest)]


def test_memory_unavailable_becomes_an_error_text_with_its_reason():
    memory = RecordingMemory(failure="the memory server did not answer")

    result = run("memory_search", '{"query": "x"}', memory)

    assert result.startswith("Error: memory is unavailable")
    assert "the memory server did not answer" in result
    assert memory.calls == [("search", "x")]


def test_long_results_are_capped_and_marked():
    memory = RecordingMemory(answer="y" * (MAX_RESULT_CHARS * 3))

    result = run("memory_profile", "{}", memory)

    assert len(result) == MAX_RESULT_CHARS
    assert result.endswith(TRUNCATED_MARKER)


def test_a_result_of_exactly_the_cap_is_not_cut():
    memory = RecordingMemory(answer="y" * MAX_RESULT_CHARS)

    assert run("memory_profile", "{}", memory) == "y" * MAX_RESULT_CHARS


def test_a_long_memory_error_is_capped_too():
    memory = RecordingMemory(failure="z" * (MAX_RESULT_CHARS * 2))

    assert len(run("memory_profile", "{}", memory)) == MAX_RESULT_CHARS


def test_a_bug_in_the_memory_adapter_is_not_hidden_from_the_turn():
    with pytest.raises(TypeError, match="a bug in the memory adapter"):
        run("memory_search", '{"query": "x"}', BrokenMemory())


# --- streamed tool calls -----------------------------------------------------------------


def piece(index, *, call_id=None, name=None, arguments=None):
    function: dict[str, str] | None = None if name is None and arguments is None else {}
    if function is not None:
        if name is not None:
            function["name"] = name
        if arguments is not None:
            function["arguments"] = arguments
    return {"index": index, "id": call_id, "function": function, "type": "function"}


def test_streamed_tool_calls_are_put_together_by_index():
    calls = StreamedToolCalls()
    calls.add(piece(0, call_id="call_a", name="memory_search", arguments=""))
    calls.add(piece(1, call_id="call_b", name="memory_conclude", arguments='{"conc'))
    calls.add(piece(0, arguments='{"query"'))
    calls.add(piece(0, arguments=': "tea"}'))
    calls.add(piece(1, arguments='lusion": "x"}'))

    assert calls.calls() == (
        ToolCall(call_id="call_a", name="memory_search", arguments='{"query": "tea"}'),
        ToolCall(call_id="call_b", name="memory_conclude", arguments='{"conclusion": "x"}'),
    )


def test_a_streamed_call_without_an_id_gets_one():
    calls = StreamedToolCalls()
    calls.add(piece(3, name="memory_profile", arguments="{}"))

    assert calls.calls() == (ToolCall(call_id="call_3", name="memory_profile", arguments="{}"),)


# --- the loop, with a scripted model -------------------------------------------------------


class ScriptedModel:
    """An AskModel answering from a list; records the tools and messages of every request."""

    def __init__(self, *replies: ModelReply):
        self.replies = list(replies)
        self.requests: list[tuple[list[str], list[dict[str, Any]]]] = []

    async def __call__(self, messages, tools, on_delta):
        names = [tool["function"]["name"] for tool in tools or []]
        self.requests.append((names, [dict(m) for m in messages]))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if on_delta is not None and reply.content:
            on_delta(reply.content)
        return reply


def search(call_id: str, query: str) -> ToolCall:
    return ToolCall(call_id=call_id, name="memory_search", arguments=json.dumps({"query": query}))


def loop(model, memory, *, rounds=6, final_answer=True, on_delta=None):
    policy = ToolPolicy(max_tool_rounds=rounds, final_answer=final_answer)
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    toolbox = None if memory is None else Toolbox((MemoryTools(memory),))
    return asyncio.run(converse(model, messages, toolbox, policy, on_delta))


def test_the_loop_sends_results_back_in_call_order_and_sums_usage():
    usage = TokenUsage(input_tokens=3, output_tokens=2)
    model = ScriptedModel(
        ModelReply(content="", tool_calls=(search("c1", "a"), search("c2", "b")), usage=usage),
        ModelReply(content="done", usage=usage),
    )

    outcome = loop(model, RecordingMemory("m"))

    assert outcome.text == "done"
    assert outcome.usage == TokenUsage(input_tokens=6, output_tokens=4)
    assert outcome.tool_rounds == 1
    assert not outcome.limited
    _, messages = model.requests[1]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"] is None
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "m search: a"},
        {"role": "tool", "tool_call_id": "c2", "content": "m search: b"},
    ]


def test_without_memory_no_tools_are_offered_and_tool_calls_are_ignored():
    model = ScriptedModel(ModelReply(content="plain", tool_calls=(search("c1", "a"),)))

    outcome = loop(model, None)

    assert outcome.text == "plain"
    assert model.requests == [([], [{"role": "user", "content": "hi"}])]


def test_past_the_limit_the_model_is_asked_once_more_without_tools():
    model = ScriptedModel(ModelReply(content="", tool_calls=(search("c", "again"),)))
    memory = RecordingMemory()

    outcome = loop(model, memory, rounds=2)

    assert [names for names, _ in model.requests] == [
        [t.value for t in MemoryTool],
        [t.value for t in MemoryTool],
        [],
    ]
    assert len(memory.calls) == 2
    assert outcome.limited
    assert outcome.text == TOOL_LIMIT_NOTICE


def test_a_loop_without_a_final_answer_just_stops_at_the_limit():
    model = ScriptedModel(ModelReply(content="", tool_calls=(search("c", "again"),)))

    outcome = loop(model, RecordingMemory(), rounds=2, final_answer=False)

    assert len(model.requests) == 2
    assert outcome.limited
    assert outcome.text == ""


def test_streamed_text_of_every_round_equals_the_returned_text():
    model = ScriptedModel(
        ModelReply(content="Let me check.", tool_calls=(search("c1", "a"),)),
        ModelReply(content="You like tea."),
    )
    deltas: list[str] = []

    outcome = loop(model, RecordingMemory(), on_delta=deltas.append)

    assert outcome.text == "Let me check.\n\nYou like tea."
    assert "".join(deltas) == outcome.text


def test_the_limit_notice_is_streamed_too():
    model = ScriptedModel(ModelReply(content="", tool_calls=(search("c", "x"),)))
    deltas: list[str] = []

    outcome = loop(model, RecordingMemory(), rounds=1, on_delta=deltas.append)

    assert "".join(deltas) == outcome.text == TOOL_LIMIT_NOTICE


class BarrierMemory(RecordingMemory):
    """Every search waits until ``parties`` searches have started: they must overlap."""

    def __init__(self, parties: int):
        super().__init__("barrier")
        self.parties = parties
        self.started = 0
        self.all_started: asyncio.Event | None = None

    async def search(self, query: str) -> str:
        if self.all_started is None:
            self.all_started = asyncio.Event()
        self.started += 1
        if self.started == self.parties:
            self.all_started.set()
        await asyncio.wait_for(self.all_started.wait(), timeout=2.0)
        return self._record("search", query)


def test_the_calls_of_one_round_run_concurrently():
    calls = tuple(search(f"c{i}", f"q{i}") for i in range(3))
    model = ScriptedModel(ModelReply(content="", tool_calls=calls), ModelReply(content="ok"))
    memory = BarrierMemory(parties=3)

    outcome = loop(model, memory)

    assert outcome.text == "ok"
    _, messages = model.requests[1]
    assert [m["content"] for m in messages[2:]] == [f"barrier search: q{i}" for i in range(3)]
