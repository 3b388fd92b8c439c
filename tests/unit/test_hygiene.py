"""House rules checked on the source: size, docstrings, no print/global/sleep, docs in sync."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERMES = REPO / "hermes"
TESTS = REPO / "tests"
MAX_MODULE_LINES = 400


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def hermes_files() -> list[Path]:
    return sorted(HERMES.rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_scan_sees_the_real_tree() -> None:
    assert len(hermes_files()) >= 30
    assert HERMES / "config.py" in hermes_files()


def test_modules_stay_under_the_line_cap() -> None:
    too_long = [
        f"{relative(path)}: {count} lines"
        for path in hermes_files()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]

    assert not too_long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(too_long)


def test_every_module_has_a_docstring() -> None:
    missing = [
        relative(path)
        for path in hermes_files()
        if not (ast.get_docstring(parsed(path)) or "").strip()
    ]

    assert not missing, "modules without a docstring:\n" + "\n".join(missing)


def print_calls(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        ):
            yield node.lineno


def global_statements(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            yield node.lineno


def sleep_calls(tree: ast.AST) -> Iterator[int]:
    """Lines calling time.sleep (however time or sleep was imported)."""
    time_names = {"time"}
    sleep_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            time_names.update(
                alias.asname or alias.name for alias in node.names if alias.name == "time"
            )
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            sleep_names.update(
                alias.asname or alias.name for alias in node.names if alias.name == "sleep"
            )
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id in time_names
        ) or (isinstance(func, ast.Name) and func.id in sleep_names):
            yield node.lineno


def test_no_print_in_hermes() -> None:
    found = [
        f"{relative(path)}:{line}" for path in hermes_files() for line in print_calls(parsed(path))
    ]

    assert not found, "print() in hermes/ (use logging):\n" + "\n".join(found)


def test_no_global_statements_in_hermes() -> None:
    found = [
        f"{relative(path)}:{line}"
        for path in hermes_files()
        for line in global_statements(parsed(path))
    ]

    assert not found, "global statements in hermes/:\n" + "\n".join(found)


def _isort_key(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    """Ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest; natural sort."""
    if name.isupper() and len(name) > 1:
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    natural = [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    ]
    return category, natural


def dunder_all_lists(tree: ast.Module) -> Iterator[tuple[int, list[str]]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        names_all = any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
        if names_all and isinstance(node.value, ast.List | ast.Tuple):
            names = [
                element.value
                for element in node.value.elts
                if isinstance(element, ast.Constant) and isinstance(element.value, str)
            ]
            yield node.lineno, names


def is_sorted(names: list[str]) -> bool:
    return names in (sorted(names), sorted(names, key=_isort_key))


def test_dunder_all_is_sorted() -> None:
    unsorted = [
        f"{relative(path)}:{line}: {names}"
        for path in hermes_files()
        for line, names in dunder_all_lists(parsed(path))
        if not is_sorted(names)
    ]

    assert not unsorted, "unsorted __all__:\n" + "\n".join(unsorted)


def test_files_outside_fakes_never_sleep() -> None:
    fakes = TESTS / "fakes"
    found = [
        f"{relative(path)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        if not path.is_relative_to(fakes)
        for line in sleep_calls(parsed(path))
    ]

    assert not found, (
        "time.sleep in tests (wait on an Event, a future or expect() instead):\n" + "\n".join(found)
    )


DETECTOR_SAMPLES = [
    pytest.param("print('x')\n", print_calls, [1], id="print-call"),
    pytest.param("log.print('x')\nprinted = 1\n", print_calls, [], id="print-method"),
    pytest.param("def f():\n    global X\n    X = 1\n", global_statements, [2], id="global"),
    pytest.param("import time\ntime.sleep(1)\n", sleep_calls, [2], id="time-sleep"),
    pytest.param("import time as t\nt.sleep(0.1)\n", sleep_calls, [2], id="aliased-time-sleep"),
    pytest.param("from time import sleep\nsleep(1)\n", sleep_calls, [2], id="from-time-sleep"),
    pytest.param("from time import sleep as nap\nnap(1)\n", sleep_calls, [2], id="renamed-sleep"),
    pytest.param(
        "import asyncio, time\nawait_me = asyncio.sleep(0)\ntime.monotonic()\n",
        sleep_calls,
        [],
        id="not-time-sleep",
    ),
]


@pytest.mark.parametrize(("source", "detector", "expected"), DETECTOR_SAMPLES)
def test_detectors(source: str, detector: object, expected: list[int]) -> None:
    assert callable(detector)
    assert list(detector(ast.parse(source))) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["System", "SystemOverrides", "start_system"], True, id="sorted"),
        pytest.param(["MAX", "Alpha", "beta"], True, id="isort-style"),
        pytest.param(["start_system", "System"], False, id="unsorted"),
        pytest.param(["b", "a"], False, id="reversed"),
    ],
)
def test_sort_check(names: list[str], expected: bool) -> None:
    assert is_sorted(names) is expected


def test_dunder_all_finder() -> None:
    tree = ast.parse("__all__ = ['b', 'a']\n__all__: list[str] = ['c']\n")

    assert list(dunder_all_lists(tree)) == [(1, ["b", "a"]), (2, ["c"])]


ENV_COLUMN = re.compile(r"^\|[^|]*\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)
"""The "environment variable" column of the settings table."""
ENV_REFERENCE = re.compile(r"\$([A-Z][A-Z0-9_]*)")
"""A variable the prose refers to as ``$NAME`` (``$HERMES_HOME/.env``)."""


def documented_environment_variables() -> list[str]:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    return sorted(set(ENV_COLUMN.findall(text)) | set(ENV_REFERENCE.findall(text)))


def test_configuration_reference_lists_variables() -> None:
    variables = documented_environment_variables()

    assert "API_SERVER_KEY" in variables
    assert "HERMES_HOME" in variables
    assert len(variables) >= 10


def test_readme_mentions_every_environment_variable() -> None:
    readme = REPO / "README.md"
    assert readme.is_file(), "README.md missing"
    text = readme.read_text(encoding="utf-8")

    missing = [
        name
        for name in documented_environment_variables()
        if not re.search(rf"\b{re.escape(name)}\b", text)
    ]

    assert not missing, (
        "README.md does not mention these variables from docs/configuration.md: "
        + ", ".join(missing)
    )
