import pytest

from hermes.policies.hooks import (
    HookSpec,
    HookSpecError,
    directory_problem,
    is_event_pattern,
    matches,
    parse_hook_spec,
    unknown_events,
)

# --- HOOK.yaml -------------------------------------------------------------------------------


def test_a_full_spec_is_parsed():
    spec = parse_hook_spec(
        {
            "name": "audit",
            "description": "  Log sessions  ",
            "events": ["session:start", "command:*", "*"],
        },
        directory_name="audit-dir",
    )

    assert spec == HookSpec(
        name="audit", description="Log sessions", events=("session:start", "command:*", "*")
    )


def test_name_defaults_to_the_directory_and_description_to_empty():
    spec = parse_hook_spec({"events": ["agent:end"]}, directory_name="my-hook")

    assert spec.name == "my-hook"
    assert spec.description == ""
    assert spec.events == ("agent:end",)


def test_events_are_stripped_and_repeats_dropped_in_file_order():
    spec = parse_hook_spec(
        {"events": [" session:end ", "agent:start", "session:end"]}, directory_name="h"
    )

    assert spec.events == ("session:end", "agent:start")


SPEC_ERRORS = [
    pytest.param(None, "must be a mapping", id="empty-file"),
    pytest.param(["session:start"], "must be a mapping", id="a-list"),
    pytest.param("events: x", "must be a mapping", id="text"),
    pytest.param({}, "events is missing", id="no-events"),
    pytest.param({"events": None}, "events is missing", id="events-null"),
    pytest.param({"events": []}, "events is empty", id="events-empty"),
    pytest.param({"events": "session:start"}, "must be a list", id="events-a-string"),
    pytest.param({"events": {"session:start": True}}, "must be a list", id="events-a-mapping"),
    pytest.param({"events": ["session:start", 3]}, "must be text", id="event-a-number"),
    pytest.param({"events": [None]}, "must be text", id="event-null"),
    pytest.param({"events": ["session start"]}, "bad event", id="no-colon"),
    pytest.param({"events": ["session:"]}, "bad event", id="nothing-after-colon"),
    pytest.param({"events": [":start"]}, "bad event", id="no-family"),
    pytest.param({"events": ["session:*:x"]}, "bad event", id="wildcard-not-last"),
    pytest.param({"events": ["session*"]}, "bad event", id="glob-without-colon"),
    pytest.param({"events": ["Session:start"]}, "bad event", id="upper-case-family"),
    pytest.param({"events": ["command:n w"]}, "bad event", id="space-in-name"),
    pytest.param({"events": [""]}, "bad event", id="empty-event"),
    pytest.param({"events": ["*"], "name": ""}, "name must be", id="empty-name"),
    pytest.param({"events": ["*"], "name": 7}, "name must be", id="name-a-number"),
    pytest.param({"events": ["*"], "name": "a\nb"}, "name must be", id="name-two-lines"),
    pytest.param({"events": ["*"], "name": "x" * 101}, "name must be", id="name-too-long"),
    pytest.param({"events": ["*"], "description": ["x"]}, "description must", id="description"),
]


@pytest.mark.parametrize(("raw", "message"), SPEC_ERRORS)
def test_a_bad_spec_is_refused_with_what_is_wrong(raw, message):
    with pytest.raises(HookSpecError, match=message):
        parse_hook_spec(raw, directory_name="h")


def test_the_bad_event_is_named_in_the_error():
    with pytest.raises(HookSpecError) as caught:
        parse_hook_spec({"events": ["session:start", "oops"]}, directory_name="h")

    assert "'oops'" in str(caught.value)


# --- patterns --------------------------------------------------------------------------------

MATCHES = [
    pytest.param("session:start", "session:start", True, id="exact"),
    pytest.param("command:new", "command:new", True, id="exact-command"),
    pytest.param("session:start", "session:end", False, id="exact-other-event"),
    pytest.param("session:start", "session:start:x", False, id="exact-is-not-prefix"),
    pytest.param("command:*", "command:new", True, id="family-wildcard"),
    pytest.param("command:*", "command:sethome", True, id="family-wildcard-other-name"),
    pytest.param("session:*", "session:reset", True, id="session-family"),
    pytest.param("session:*", "sessions:start", False, id="family-is-not-a-prefix-of-a-word"),
    pytest.param("session:*", "agent:start", False, id="other-family"),
    pytest.param("session:*", "session:", False, id="family-alone"),
    pytest.param("command:*", "command", False, id="no-colon"),
    pytest.param("*", "gateway:startup", True, id="star-gateway"),
    pytest.param("*", "command:new", True, id="star-command"),
    pytest.param("*", "anything:at_all", True, id="star-anything"),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), MATCHES)
def test_matches(pattern, event, expected):
    assert matches(pattern, event) is expected


def test_a_spec_wants_what_one_of_its_patterns_matches():
    spec = parse_hook_spec({"events": ["session:start", "command:*"]}, directory_name="h")

    assert spec.wants("session:start")
    assert spec.wants("command:stop")
    assert not spec.wants("session:end")
    assert not spec.wants("agent:start")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*", True),
        ("agent:*", True),
        ("command:set-home", True),
        ("command:q", True),
        ("gateway:startup", True),
        ("**", False),
        ("*:start", False),
        ("agent", False),
        ("agent:start ", False),
    ],
)
def test_is_event_pattern(text, expected):
    assert is_event_pattern(text) is expected


def test_patterns_that_can_never_match_are_reported():
    patterns = ["*", "session:*", "sesion:start", "session:strat", "command:anything", "foo:*"]

    assert unknown_events(patterns) == ("sesion:start", "session:strat", "foo:*")


def test_every_emitted_event_is_known():
    emitted = [
        "gateway:startup",
        "session:start",
        "session:end",
        "session:reset",
        "agent:start",
        "agent:end",
        "command:new",
    ]

    assert unknown_events(emitted) == ()


# --- directory names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["audit", "my-hook", "hook_2", "v1.2", "A", "0start", "x" * 64])
def test_safe_directory_names_are_accepted(name):
    assert directory_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(".hidden", id="dot-first"),
        pytest.param("__pycache__", id="underscore-first"),
        pytest.param("-flag", id="dash-first"),
        pytest.param("has space", id="space"),
        pytest.param("new\nline", id="newline"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("ünïcode", id="non-ascii"),
        pytest.param("a/b", id="slash"),
    ],
)
def test_unsafe_directory_names_are_refused_with_a_reason(name):
    problem = directory_problem(name)

    assert problem is not None
    assert "unsafe directory name" in problem
