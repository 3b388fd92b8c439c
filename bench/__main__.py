"""``python -m bench [--quick] [--only NAME] [--out DIR]``: run the benchmark scenarios.

Each scenario runs the gateway and both baselines in this one process, prints its table and
writes a JSON file to the results directory. Exit status 1 if a scenario could not finish or
some message was not answered.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bench import (
    scenario_head_of_line,
    scenario_live_sessions,
    scenario_paced,
    scenario_saturation,
    scenario_store,
    scenario_streaming,
)
from bench.report import ScenarioReport, format_table, write_json
from bench.runner import RunContext, progress
from hermes.gc_tuning import tune_gc

RESULTS_DIR: Final = Path(__file__).parent / "results"
CACHE_DIR: Final = Path(tempfile.gettempdir()) / "hermes-bench-cache"
SCENARIOS: Final[dict[str, Callable[[RunContext], ScenarioReport]]] = {
    scenario_saturation.NAME: scenario_saturation.run,
    scenario_paced.NAME: scenario_paced.run,
    scenario_head_of_line.NAME: scenario_head_of_line.run,
    scenario_live_sessions.NAME: scenario_live_sessions.run,
    scenario_streaming.NAME: scenario_streaming.run,
    scenario_store.NAME: scenario_store.run,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every scenario, scaled down (CI)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="run this scenario alone")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where JSON files go")
    parser.add_argument(
        "--cache", type=Path, default=CACHE_DIR, help="where prepared databases are kept"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; 0 when every one finished with every message answered."""
    args = parse_args(argv)
    names = [args.only] if args.only else list(SCENARIOS)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="hermes-bench-") as work:
        ctx = RunContext(quick=args.quick, work_dir=Path(work), cache_dir=args.cache)
        for name in names:
            started = datetime.now(UTC)
            report = SCENARIOS[name](ctx)
            path = write_json(report, ctx.mode, args.out, started)
            print(format_table(report))
            print(f"  -> {path}\n")
            if not report.all_answered:
                progress(f"{name}: {report.sent - report.answered} messages not answered")
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # The collector settings `python -m hermes.actors` runs with, for every contender alike
    # (one process). Not in main(): the in-process smoke test must not change pytest's.
    tune_gc()
    raise SystemExit(main())
