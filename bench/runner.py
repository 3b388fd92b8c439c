"""Running one contender through a scenario body, and making the three contenders.

Every contender gets a fresh instance of everything (its own agent, its own gateway home),
runs the same body, and is stopped whatever happens. Memory is settled before each start so
one contender's garbage does not flatter or burden the next.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from bench.asyncio_pipeline import AsyncioPipeline, BaselineSetup, Loader
from bench.gateway_pipeline import GatewayPipeline, GatewaySetup
from bench.load import Switchboard
from bench.measure import settle_memory
from bench.pipeline import Contender, Pipeline
from bench.pykka_pipeline import PykkaPipeline
from hermes.messages.ports import Agent

logger = logging.getLogger("bench")

T = TypeVar("T")


@dataclass(slots=True, kw_only=True)
class RunContext:
    """What every scenario of one ``python -m bench`` run shares."""

    quick: bool
    work_dir: Path
    """A temporary directory for gateway homes, removed at the end of the run."""
    cache_dir: Path
    """Where big prepared databases are kept between runs."""
    shared: dict[str, float] = field(default_factory=dict)
    """Figures one scenario leaves for another (the gateway's saturation rate)."""
    _homes: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def mode(self) -> str:
        """``quick`` or ``full``."""
        return "quick" if self.quick else "full"

    def new_home(self, label: str) -> Path:
        """A fresh, empty gateway home."""
        home = self.work_dir / f"{label}-{next(self._homes)}"
        home.mkdir(parents=True)
        return home


def progress(message: str) -> None:
    """Tell the person running the benchmark what is happening."""
    logger.warning("bench: %s", message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """How the three contenders of one scenario are made."""

    label: str
    agent: Callable[[], Agent]
    environ: Mapping[str, str] = field(default_factory=dict)
    loader: Loader | None = None
    stream: bool = False
    home: Callable[[], Path] | None = None
    """Where the gateway's home is (a prepared one); a fresh empty one by default."""
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """More gateway contenders, run after the baselines: name -> settings changed."""


def contenders(ctx: RunContext, spec: Spec) -> list[Contender]:
    """The gateway, the asyncio baseline and the pykka baseline, as ``spec`` says."""

    def gateway(changes: Mapping[str, str]) -> Callable[[], Pipeline]:
        def make() -> Pipeline:
            home = spec.home() if spec.home is not None else ctx.new_home(spec.label)
            return GatewayPipeline(
                GatewaySetup(
                    home=home,
                    agent=spec.agent(),
                    environ={**spec.environ, **changes},
                    stream_replies=spec.stream,
                )
            )

        return make

    def baseline(kind: type[AsyncioPipeline | PykkaPipeline]) -> Callable[[], Pipeline]:
        def make() -> Pipeline:
            return kind(BaselineSetup(agent=spec.agent(), loader=spec.loader, stream=spec.stream))

        return make

    return [
        Contender("gateway", gateway({})),
        Contender("asyncio", baseline(AsyncioPipeline)),
        Contender("pykka", baseline(PykkaPipeline)),
        *(Contender(name, gateway(changes)) for name, changes in spec.variants.items()),
    ]


@dataclass(slots=True)
class Outcome(Generic[T]):
    """What one contender's run produced, and the figures it reported at stop."""

    value: T
    extras: dict[str, Any]
    baseline_rss: int


def run_one(contender: Contender, body: Callable[[Pipeline, Switchboard], T]) -> Outcome[T]:
    """Start a fresh pipeline, run ``body`` on it, and stop it (even when ``body`` fails)."""
    rss = settle_memory()
    board = Switchboard()
    pipeline = contender.make()
    pipeline.start(board.sink)
    try:
        value = body(pipeline, board)
    finally:
        extras = pipeline.stop()
    return Outcome(value=value, extras=extras, baseline_rss=rss)
