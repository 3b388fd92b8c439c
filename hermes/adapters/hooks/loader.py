"""Finding and importing user hooks: ``$HERMES_HOME/hooks/<name>/{HOOK.yaml,handler.py}``.

Everything here blocks (files, imports of user code) and is run by the hook runner off its event
loop, bounded by the hook timeout. A hook that cannot be used is skipped with a reason; it never
stops the others or the gateway.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

import yaml

from hermes.adapters.hooks.threads import call_off_loop, start_daemon_thread
from hermes.policies.hooks import (
    HookSpec,
    HookSpecError,
    directory_problem,
    parse_hook_spec,
    unknown_events,
)

logger = logging.getLogger(__name__)

SPEC_FILE: Final = "HOOK.yaml"
HANDLER_FILE: Final = "handler.py"
MODULE_PREFIX: Final = "hermes_user_hook_"
"""Handler modules are in ``sys.modules`` as this prefix and a unique suffix (tracebacks show
the file's path)."""

Handler = Callable[[str, dict[str, object]], object]
"""``handle(event_type, context)``; async handlers return an awaitable."""


class HookLoadError(Exception):
    """A hook directory that cannot be loaded; the message is the reason shown to the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedHook:
    """A hook ready to be called."""

    directory: str
    spec: HookSpec
    handle: Handler
    is_async: bool
    module_name: str
    """Its handler module's key in ``sys.modules``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedHook:
    """A hook directory that was not loaded, and why."""

    directory: str
    reason: str


Loaded = tuple[tuple[LoadedHook, ...], tuple[SkippedHook, ...]]


async def load_hooks(hooks_dir: Path, time_limit: float) -> Loaded:
    """Load every hook under ``hooks_dir``, listing and imports bounded by ``time_limit`` s.

    Runs on the runner's loop; the blocking work runs on daemon threads, which are abandoned
    (the hook skipped) when they overrun. Hooks are returned in directory-name order.
    """
    loop = asyncio.get_running_loop()
    scan = call_off_loop(loop, _scan_job(hooks_dir), start_daemon_thread("hermes-hook-scan"))
    done, _ = await asyncio.wait({scan}, timeout=time_limit)
    if not done:
        logger.warning("hooks: listing %s took over %g s; no hooks loaded", hooks_dir, time_limit)
        return (), ()
    candidates, skipped = scan.result()
    loads = {
        directory.name: call_off_loop(
            loop, _load_job(directory), start_daemon_thread(f"hermes-hook-load-{directory.name}")
        )
        for directory in candidates
    }
    if loads:
        await asyncio.wait(loads.values(), timeout=time_limit)
    return _collect(loads, skipped, time_limit)


def scan_hooks_dir(hooks_dir: Path) -> tuple[list[Path], list[SkippedHook]]:
    """The hook directories under ``hooks_dir`` (sorted) and the ones refused for their name."""
    if not hooks_dir.is_dir():
        logger.debug("hooks: no directory %s, so no hooks", hooks_dir)
        return [], []
    candidates: list[Path] = []
    skipped: list[SkippedHook] = []
    for entry in sorted(hooks_dir.iterdir()):
        if not entry.is_dir():
            continue
        problem = directory_problem(entry.name)
        if problem is None:
            candidates.append(entry)
        else:
            skipped.append(SkippedHook(directory=entry.name, reason=problem))
    return candidates, skipped


def load_hook(directory: Path) -> LoadedHook:
    """Read ``directory``'s spec and import its handler (blocking: runs user code).

    Raises:
        HookLoadError: the spec is missing or invalid, or the handler missing or unusable.
    """
    spec = _read_spec(directory)
    module_name = f"{MODULE_PREFIX}{uuid.uuid4().hex}"
    handle = _import_handler(directory / HANDLER_FILE, module_name)
    return LoadedHook(
        directory=directory.name,
        spec=spec,
        handle=handle,
        is_async=inspect.iscoroutinefunction(handle),
        module_name=module_name,
    )


def forget_modules(hooks: tuple[LoadedHook, ...]) -> None:
    """Drop the hooks' handler modules from ``sys.modules`` (their functions live on)."""
    for hook in hooks:
        sys.modules.pop(hook.module_name, None)


def _scan_job(hooks_dir: Path) -> Callable[[], tuple[list[Path], list[SkippedHook]]]:
    """``scan_hooks_dir(hooks_dir)`` as a job that reports a failure as a skipped hook."""

    def scan() -> tuple[list[Path], list[SkippedHook]]:
        try:
            return scan_hooks_dir(hooks_dir)
        except OSError as error:
            return [], [SkippedHook(directory=".", reason=f"cannot list {hooks_dir}: {error}")]

    return scan


def _load_job(directory: Path) -> Callable[[], LoadedHook | SkippedHook]:
    """``load_hook(directory)`` as a job that returns, never raises, whatever user code does."""

    def load() -> LoadedHook | SkippedHook:
        try:
            return load_hook(directory)
        except HookLoadError as error:
            return SkippedHook(directory=directory.name, reason=str(error))
        except BaseException as error:  # noqa: BLE001  (user code at import: even SystemExit)
            reason = f"{HANDLER_FILE} failed to import: {type(error).__name__}: {error}"
            return SkippedHook(directory=directory.name, reason=reason)

    return load


def _collect(
    loads: dict[str, asyncio.Future[LoadedHook | SkippedHook]],
    skipped: list[SkippedHook],
    time_limit: float,
) -> Loaded:
    hooks: list[LoadedHook] = []
    names: dict[str, str] = {}
    for directory, future in loads.items():
        outcome = future.result() if future.done() else None
        if outcome is None:
            reason = f"loading did not finish within {time_limit:g} s (does it hang at import?)"
            outcome = SkippedHook(directory=directory, reason=reason)
        elif isinstance(outcome, LoadedHook) and outcome.spec.name in names:
            reason = f"its name {outcome.spec.name!r} is taken by {names[outcome.spec.name]}/"
            outcome = SkippedHook(directory=directory, reason=reason)
        if isinstance(outcome, SkippedHook):
            skipped.append(outcome)
        else:
            names[outcome.spec.name] = directory
            hooks.append(outcome)
            _log_loaded(outcome)
    skipped.sort(key=lambda skip: skip.directory)
    for skip in skipped:
        logger.warning("hooks: skipped %r: %s", skip.directory, skip.reason)
    return tuple(hooks), tuple(skipped)


def _log_loaded(hook: LoadedHook) -> None:
    logger.info(
        "hooks: loaded %s (%s) for %s",
        hook.spec.name,
        "async" if hook.is_async else "sync",
        ", ".join(hook.spec.events),
    )
    never = unknown_events(hook.spec.events)
    if never:
        logger.warning(
            "hooks: %s listens for %s, which the gateway never emits",
            hook.spec.name,
            ", ".join(never),
        )


def _read_spec(directory: Path) -> HookSpec:
    path = directory / SPEC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HookLoadError(f"no {SPEC_FILE}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HookLoadError(f"cannot read {SPEC_FILE}: {error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise HookLoadError(f"{SPEC_FILE} is not valid YAML: {error}") from None
    try:
        return parse_hook_spec(raw, directory_name=directory.name)
    except HookSpecError as error:
        raise HookLoadError(f"{SPEC_FILE}: {error}") from None


def _import_handler(path: Path, module_name: str) -> Handler:
    if not path.is_file():
        raise HookLoadError(f"no {HANDLER_FILE}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise HookLoadError(f"{HANDLER_FILE} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    # Registered first, as the import system does: dataclasses and pickle look the module up.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        return _handler_of(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise


def _handler_of(module: ModuleType) -> Handler:
    handle: object = getattr(module, "handle", None)
    if not callable(handle):
        raise HookLoadError(f"{HANDLER_FILE} defines no handle(event_type, context)")
    try:
        inspect.signature(handle).bind("event", {})
    except TypeError:
        raise HookLoadError("handle must take two arguments: (event_type, context)") from None
    except ValueError:  # no signature to inspect (some builtins): the first call will tell
        return handle
    return handle
