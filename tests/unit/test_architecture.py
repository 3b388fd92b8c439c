"""The import direction of ARCHITECTURE.md "The layout", checked on the source with ast."""

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERMES = REPO / "hermes"

ENV_ATTRIBUTES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
ENV_READERS_ALLOWED = frozenset({"hermes.config"})
IMPORT_FUNCTIONS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module."""
    target: str
    """The absolute name of what it imports."""
    line: int

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


WIRING_MODULES = {"hermes.actors.system", "hermes.actors.system_wiring", "hermes.actors.__main__"}


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def hermes_files() -> list[Path]:
    return sorted(HERMES.rglob("*.py"))


KNOWN_MODULES = frozenset(module_name(path) for path in hermes_files())


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def resolve_relative(module: str, *, is_package: bool, level: int, name: str | None) -> str:
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def imports_in(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source``, wherever it is (TYPE_CHECKING blocks, functions)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (
                resolve_relative(module, is_package=is_package, level=node.level, name=node.module)
                if node.level
                else (node.module or "")
            )
            for alias in node.names:
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                submodule = f"{base}.{alias.name}"
                yield Import(module, submodule if submodule in KNOWN_MODULES else base, node.lineno)
        elif isinstance(node, ast.Call) and _dynamic_import_target(node):
            yield Import(module, _dynamic_import_target(node), node.lineno)


def _dynamic_import_target(call: ast.Call) -> str:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in IMPORT_FUNCTIONS or not call.args:
        return ""
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return ""


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in hermes_files():
        found.extend(
            imports_in(
                path.read_text(encoding="utf-8"),
                module_name(path),
                is_package=path.name == "__init__.py",
            )
        )
    return found


IMPORTS = all_imports()


def is_hermes(name: str) -> bool:
    return within(name, "hermes")


def is_config(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and parts[0] == "hermes" and parts[1].startswith("config")


def hermes_outside(*allowed: str) -> Callable[[str], bool]:
    return lambda target: (
        is_hermes(target) and not any(within(target, prefix) for prefix in allowed)
    )


@dataclass(frozen=True)
class Rule:
    applies_to: Callable[[str], bool]
    forbids: Callable[[str], bool]
    meaning: str


LAYER_RULES = [
    pytest.param(
        Rule(
            lambda m: within(m, "hermes.messages"),
            hermes_outside("hermes.messages"),
            "hermes.messages imports nothing of hermes outside hermes.messages",
        ),
        id="messages-is-pure",
    ),
    pytest.param(
        Rule(
            lambda m: within(m, "hermes.policies"),
            hermes_outside("hermes.messages", "hermes.policies"),
            "hermes.policies imports only hermes.messages",
        ),
        id="policies-import-only-messages",
    ),
    pytest.param(
        Rule(
            lambda m: within(m, "hermes.adapters"),
            lambda t: within(t, "hermes.actors"),
            "hermes.adapters never imports hermes.actors",
        ),
        id="adapters-never-import-actors",
    ),
    pytest.param(
        Rule(
            lambda m: within(m, "hermes.eventloop"),
            hermes_outside("hermes.messages", "hermes.eventloop"),
            "hermes.eventloop imports only hermes.messages",
        ),
        id="eventloop-imports-only-messages",
    ),
    pytest.param(
        Rule(
            is_config,
            lambda t: is_hermes(t) and not is_config(t),
            "hermes.config* modules import only other hermes.config* modules",
        ),
        id="config-imports-only-config",
    ),
    pytest.param(
        Rule(
            lambda m: (
                within(m, "hermes.actors")
                and m
                not in {
                    "hermes.actors.system",
                    "hermes.actors.system_wiring",
                    "hermes.actors.__main__",
                }
            ),
            lambda t: within(t, "hermes.adapters"),
            "only hermes.actors.system(_wiring) and hermes.actors.__main__ import hermes.adapters",
        ),
        id="only-system-and-main-know-adapters",
    ),
]


def violations(rule: Rule, imports: list[Import]) -> list[str]:
    return [str(imp) for imp in imports if rule.applies_to(imp.module) and rule.forbids(imp.target)]


@pytest.mark.parametrize("rule", LAYER_RULES)
def test_layer_import_direction(rule: Rule) -> None:
    broken = violations(rule, IMPORTS)

    assert not broken, f"{rule.meaning}; but:\n" + "\n".join(broken)


SDK_RULES = [
    pytest.param(
        "telegram", lambda m: m.startswith("hermes.adapters.platforms.telegram_"), id="telegram"
    ),
    pytest.param(
        "discord", lambda m: m.startswith("hermes.adapters.platforms.discord_"), id="discord"
    ),
    pytest.param("honcho", lambda m: within(m, "hermes.adapters.memory"), id="honcho"),
    pytest.param("aiohttp", lambda m: within(m, "hermes.adapters"), id="aiohttp"),
    pytest.param("openai", lambda m: within(m, "hermes.adapters.agents"), id="openai"),
    pytest.param(
        "sqlite3",
        lambda m: within(m, "hermes.adapters.storage") or within(m, "hermes.adapters.memory"),
        id="sqlite3",
    ),
]


@pytest.mark.parametrize(("sdk", "allowed_in"), SDK_RULES)
def test_third_party_sdk_is_imported_only_by_its_adapter(
    sdk: str, allowed_in: Callable[[str], bool]
) -> None:
    broken = [str(imp) for imp in IMPORTS if within(imp.target, sdk) and not allowed_in(imp.module)]

    assert not broken, f"{sdk} imported outside its adapter:\n" + "\n".join(broken)


def environment_uses(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for every read or write of the process environment through os."""
    tree = ast.parse(source)
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names.update(
                alias.asname or alias.name for alias in node.names if alias.name == "os"
            )
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ENV_ATTRIBUTES:
                    yield node.lineno, f"from os import {alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_ATTRIBUTES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            yield node.lineno, f"{node.value.id}.{node.attr}"


def test_only_config_reads_the_environment() -> None:
    broken = [
        f"{module_name(path)} (line {line}) uses {what}"
        for path in hermes_files()
        if module_name(path) not in ENV_READERS_ALLOWED
        for line, what in environment_uses(path.read_text(encoding="utf-8"))
    ]

    assert not broken, "only hermes/config.py may touch os.environ:\n" + "\n".join(broken)


ENVIRONMENT_SAMPLES = [
    pytest.param("import os\nx = os.environ['A']\n", ["os.environ"], id="subscript"),
    pytest.param("import os\nx = os.getenv('A')\n", ["os.getenv"], id="getenv"),
    pytest.param(
        "import os as system\nsystem.environ.get('A')\n", ["system.environ"], id="aliased-os"
    ),
    pytest.param("from os import environ, path\n", ["from os import environ"], id="from-environ"),
    pytest.param("from os import getenv as g\n", ["from os import getenv"], id="from-getenv"),
    pytest.param("import os\nos.environ['A'] = '1'\n", ["os.environ"], id="write"),
    pytest.param("import os\nos.path.join('a')\n", [], id="other-os-use"),
    pytest.param("environ = {}\nx = environ['A']\n", [], id="unrelated-name"),
]


@pytest.mark.parametrize(("source", "expected"), ENVIRONMENT_SAMPLES)
def test_environment_detector(source: str, expected: list[str]) -> None:
    assert [what for _, what in environment_uses(source)] == expected


IMPORT_SAMPLES = [
    pytest.param(
        "import hermes.actors.router\n",
        "hermes.policies.x",
        False,
        ["hermes.actors.router"],
        id="plain-import",
    ),
    pytest.param(
        "from hermes.actors.router import RouterActor\n",
        "hermes.policies.x",
        False,
        ["hermes.actors.router"],
        id="from-import-name",
    ),
    pytest.param(
        "from hermes.actors import router\n",
        "hermes.policies.x",
        False,
        ["hermes.actors.router"],
        id="from-import-submodule",
    ),
    pytest.param(
        "from ..actors import router\n",
        "hermes.policies.x",
        False,
        ["hermes.actors.router"],
        id="relative-two-levels",
    ),
    pytest.param(
        "from . import texts\n",
        "hermes.policies.x",
        False,
        ["hermes.policies.texts"],
        id="relative-sibling",
    ),
    pytest.param(
        "from .values import SessionKey\n",
        "hermes.messages",
        True,
        ["hermes.messages.values"],
        id="relative-from-package-init",
    ),
    pytest.param(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from hermes.actors.router import RouterActor\n",
        "hermes.policies.x",
        False,
        ["typing", "hermes.actors.router"],
        id="type-checking-block",
    ),
    pytest.param(
        "def f():\n    import telegram.ext\n",
        "hermes.policies.x",
        False,
        ["telegram.ext"],
        id="import-inside-function",
    ),
    pytest.param(
        "import importlib\nm = importlib.import_module('hermes.adapters.x')\n",
        "hermes.policies.x",
        False,
        ["importlib", "hermes.adapters.x"],
        id="dynamic-import",
    ),
]


@pytest.mark.parametrize(("source", "module", "is_package", "expected"), IMPORT_SAMPLES)
def test_import_parser(source: str, module: str, is_package: bool, expected: list[str]) -> None:
    found = [imp.target for imp in imports_in(source, module, is_package=is_package)]

    assert found == expected


def test_a_forbidden_import_is_reported_with_module_and_target() -> None:
    rule = LAYER_RULES[1].values[0]
    assert isinstance(rule, Rule)
    sample = list(
        imports_in("from hermes.adapters.agents import echo_agent\n", "hermes.policies.bad")
    )

    assert violations(rule, sample) == [
        "hermes.policies.bad (line 1) imports hermes.adapters.agents.echo_agent"
    ]


def test_the_scan_sees_the_real_tree() -> None:
    assert len(KNOWN_MODULES) >= 30
    assert any(
        imp.module == "hermes.actors.system" and within(imp.target, "hermes.adapters")
        for imp in IMPORTS
    )
    assert any(imp.module == "hermes.config" for imp in IMPORTS)


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: install import-linter"

    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, f"lint-imports failed:\n{output}"
    assert " 0 broken" in output, output
