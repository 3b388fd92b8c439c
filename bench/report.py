"""What a scenario hands back, the table row it prints and the JSON file it writes.

A ``Row`` holds one figure for every contender; the first contender (the gateway, or the
Store's group commit) is divided by each other one to give the ratios.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import math
import os
import platform
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

LIBRARIES: Final = ("pykka", "aiohttp", "openai", "httpx", "PyYAML", "python-dotenv")
Figures = dict[str, Any]
"""One contender's figures (numbers, and nested summaries), as they go into the JSON."""
Results = dict[str, Figures]
"""Figures by contender."""

REQUIRED_KEYS: Final = ("scenario", "mode", "machine", "parameters", "results", "checks")


@dataclass(frozen=True, slots=True)
class Row:
    """One figure for each contender, in the order the scenario ran them."""

    metric: str
    values: dict[str, float]

    def ratios(self) -> dict[str, float]:
        """The first contender's figure divided by each other's."""
        names = list(self.values)
        first = self.values[names[0]]
        return {f"{names[0]}/{other}": _ratio(first, self.values[other]) for other in names[1:]}


@dataclass(slots=True)
class ScenarioReport:
    """A finished scenario: parameters, raw results per contender, the table, the checks."""

    scenario: str
    parameters: Figures
    results: Results
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Messages sent, over every contender (their ``sent`` figures)."""
        return sum(int(figures.get("sent", 0)) for figures in self.results.values())

    @property
    def answered(self) -> int:
        """Messages answered with a reply, over every contender."""
        return sum(int(figures.get("answered", 0)) for figures in self.results.values())

    def checks(self) -> dict[str, object]:
        """Whether every message the scenario sent got its reply."""
        return {"sent": self.sent, "answered": self.answered, "all_answered": self.all_answered}

    @property
    def all_answered(self) -> bool:
        """True when every message sent was answered."""
        return self.sent == self.answered


def machine() -> dict[str, object]:
    """The machine, the interpreter and the library versions, for the JSON files."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gc_threshold": gc.get_threshold(),
        "libraries": versions,
    }


def write_json(report: ScenarioReport, mode: str, out_dir: Path, started: datetime) -> Path:
    """Write ``report`` to ``out_dir/<scenario>-<utc timestamp>.json``; return the path."""
    finished = datetime.now(UTC)
    document = {
        "scenario": report.scenario,
        "mode": mode,
        "machine": machine(),
        "parameters": report.parameters,
        "results": report.results,
        "table": [
            {"metric": row.metric, "values": row.values, "ratios": row.ratios()}
            for row in report.rows
        ],
        "checks": report.checks(),
        "notes": report.notes,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": (finished - started).total_seconds(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%S.%fZ")
    path = out_dir / f"{report.scenario}-{stamp}.json"
    path.write_text(json.dumps(_finite(document), indent=2) + "\n", encoding="utf-8")
    return path


def format_table(report: ScenarioReport) -> str:
    """The scenario's rows as fixed-width text tables (one per set of columns), with ratios."""
    if not report.rows:
        return f"{report.scenario}: (no rows)"
    groups: list[list[Row]] = []
    for item in report.rows:
        if groups and list(groups[-1][0].values) == list(item.values):
            groups[-1].append(item)
        else:
            groups.append([item])
    text = [_table(report.scenario, group) for group in groups]
    text += [f"  note: {note}" for note in report.notes]
    return "\n".join(text)


def _table(title: str, rows: list[Row]) -> str:
    names = list(rows[0].values)
    header = [f"{title}: metric", *names, *rows[0].ratios()]
    lines = [header]
    for item in rows:
        cells = [item.metric]
        cells += [_number(item.values[name]) for name in names]
        cells += [_number(value, ratio=True) for value in item.ratios().values()]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "-" * len(text[0]))
    return "\n".join(text)


def _number(value: float, *, ratio: bool = False) -> str:
    if math.isnan(value):
        return "-"
    if ratio:
        return f"{value:.2f}x"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def _finite(value: object) -> object:
    """JSON has no NaN: missing figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def row(metric: str, results: Results, key: str) -> Row:
    """A row of ``results[contender][key]`` for every contender (a float, or NaN)."""
    values: dict[str, float] = {}
    for name, figures in results.items():
        value = figures.get(key)
        values[name] = float(value) if isinstance(value, int | float) else math.nan
    return Row(metric, values)
