"""``python -m tests.system.fault_soak``: the fault-injection suite, as long as you like.

Runs every scenario of ``fault_harness`` (or those named) with ``--seeds`` seeds each, at
``--messages`` messages per run (stops scale with it: 3 per 200 messages), prints each run as
it ends, then the table the README quotes. Exit status 0 when every run met the contract,
1 otherwise (the work directory is then kept for the post-mortem: each run's home, its
``logs/gateway.log`` and the harness's ``events.log``).

    python -m tests.system.fault_soak --seeds 10 --messages 1000
    python -m tests.system.fault_soak --scenarios kill,send --seeds 3 --first-seed 100
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.system.fault_harness import BY_NAME, SCENARIOS, RunResult, Size, run_scenario

COLUMNS = (
    "scenario",
    "runs",
    "messages",
    "lost",
    "duplicated",
    "resent-after-crash",
    "order violations",
    "kills",
    "other",
    "seconds",
)


def table(results: Sequence[RunResult]) -> str:
    """One row per scenario (in the order first seen), and a total row."""
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        groups.setdefault(result.scenario, []).append(result)
    rows = [_row(name, runs) for name, runs in groups.items()]
    if len(groups) > 1:
        rows.append(_row("total", list(results)))
    widths = [max(len(str(row[i])) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]

    def line(cells: Sequence[object]) -> str:
        return "  ".join(str(cell).rjust(width) for cell, width in zip(cells, widths, strict=True))

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *map(line, rows)])


def _row(name: str, runs: Sequence[RunResult]) -> list[object]:
    """``other``: unattributed bot messages, gateways that died by themselves or hung, and
    scenarios whose fault never fired."""
    other = sum(
        len(r.verdict.unattributed)
        + r.unexpected_exits
        + r.hung_stops
        + len(r.unexercised(BY_NAME[r.scenario]))
        for r in runs
    )
    return [
        name,
        len(runs),
        sum(r.verdict.messages for r in runs),
        sum(len(r.verdict.lost) for r in runs),
        sum(r.verdict.duplicated for r in runs),
        sum(r.verdict.resent_after_crash for r in runs),
        sum(len(r.verdict.out_of_order) for r in runs),
        sum(r.stops for r in runs),
        other,
        f"{sum(r.seconds for r in runs):.0f}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.system.fault_soak", description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="runs per scenario (default 10)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=1000, help="per run (default 1000)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--pace", type=float, default=Size().pace, help="mean s between sends")
    parser.add_argument(
        "--scenarios",
        default=",".join(s.name for s in SCENARIOS),
        help=f"comma-separated, of: {', '.join(BY_NAME)} (default all)",
    )
    parser.add_argument("--workdir", type=Path, help="where runs keep their homes (kept)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    size = Size(messages=args.messages, chats=args.chats, pace=args.pace)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hermes-fault-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = run_scenario(BY_NAME[name], seed, size, workdir)
            results.append(result)
            mark = "ok  " if result.ok and not result.unexercised(BY_NAME[name]) else "FAIL"
            print(f"{mark} {result.describe()}", flush=True)
    print()
    print(table(results))
    failed = [r for r in results if not r.ok or r.unexercised(BY_NAME[r.scenario])]
    if failed or args.workdir:
        print(f"\nrun homes kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
