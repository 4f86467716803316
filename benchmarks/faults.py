"""The fault trials' failure table: run the plan (or render saved results), write background.md.

Needs Django 6.1, the ``scaleout`` group and ``redis-server``; the cells are in support/faults/.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import tempfile
import time
import traceback
from pathlib import Path

from support.faults import table, trials
from support.faults.counting import Outcome
from support.faults.processes import _tmp_root
from support.machine import version

REPO_ROOT = Path(__file__).resolve().parent.parent

DOC = REPO_ROOT / "docs" / "background.md"
RESULTS = REPO_ROOT / ".cache" / "faults"


def _versions() -> str:
    import django

    from support.faults.processes import REPO

    names = ("django_tasks_db", "django_tasks_redis", "regstack")
    parts = [f"Python {platform.python_version()}", f"Django {django.get_version()}"]
    parts += [f"{name.replace('_', '-')} {version(name.replace('_', '-'))}" for name in names]
    return ", ".join(parts) + (f" (processes run from {REPO})" if REPO != REPO_ROOT else "")


def _cells_seconds(outcomes: list[Outcome]) -> float:
    """The run's time from saved results: one site's outcomes share (about) one time."""
    sites: list[tuple[str, float]] = []
    for outcome in outcomes:
        if not any(b == outcome.backend and abs(s - outcome.seconds) < 2 for b, s in sites):
            sites.append((outcome.backend, outcome.seconds))
    return sum(s for _b, s in sites)


def header(outcomes: list[Outcome], seconds: float | None) -> str:
    seconds = seconds or _cells_seconds(outcomes)
    took = f" in {seconds / 60:.1f} min" if seconds else ""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return (
        f"Measured {when} on a 2-core VM shared with other jobs{took}: {_versions()}. "
        "Each cell is one site; *of N* is the events accepted (answered by regstack's "
        "route, or committed by the Django view); lost = accepted and never delivered by "
        "the end of a bounded drain; dup. = extra deliveries."
    )


def run(cells: list[trials.Cell], count: int | None, *, disk: bool = False) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for cell in cells:
        where = None if disk else _tmp_root()
        workdir = Path(tempfile.mkdtemp(prefix=f"faults-{cell.id}-", dir=where))
        print(f"== {cell.id} in {workdir}", flush=True)
        try:
            results = cell(workdir, count)
        except Exception as exc:  # one broken cell must not cost the others' results
            traceback.print_exc()
            results = [
                Outcome(cell.name, cell.backend, durable, count or cell.trials)
                for durable in (False, True)
            ]
            for failed in results:
                failed.notes.append(f"the cell failed: {type(exc).__name__}: {str(exc)[:200]}")
        for outcome in results:
            if disk:
                outcome.scenario += " (SQLite on disk)"
            print(outcome.line(), flush=True)
            outcomes.append(outcome)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-doc", action="store_true", help="rewrite the failure table")
    parser.add_argument("--only", action="append", default=[], help="cells whose id contains this")
    parser.add_argument("--backend", choices=("database", "redis"), action="append")
    parser.add_argument("--trials", type=int, help="trials per cell (default: the plan's)")
    parser.add_argument("--from-results", type=Path, help="render saved results, run nothing")
    parser.add_argument("--save", type=Path, default=RESULTS / "benchmark.json")
    parser.add_argument(
        "--disk", action="store_true", help="sites in the system's temp dir, not tmpfs"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="one cell (sigkill, database), 2 trials; no doc"
    )
    args = parser.parse_args(argv)
    if args.smoke and (args.write_doc or args.from_results):
        parser.error("--smoke runs one small cell and writes no doc")
    if args.smoke:
        args.only, args.backend, args.trials = ["sigkill"], ["database"], 2
        args.save = Path(tempfile.mkdtemp(prefix="faults-smoke-")) / "smoke.json"
    started = time.monotonic()
    if args.from_results:
        files = (
            sorted(args.from_results.glob("*.json"), key=lambda path: path.stat().st_mtime)
            if args.from_results.is_dir()
            else [args.from_results]
        )
        outcomes = [outcome for path in files for outcome in table.load(path)]
        seconds = None
    else:
        cells = trials.plan(tuple(args.backend or ("database", "redis")))
        cells = [c for c in cells if not args.only or any(o in c.id for o in args.only)]
        outcomes = run(cells, args.trials, disk=args.disk)
        seconds = time.monotonic() - started
        table.save(outcomes, args.save)
        print(f"{len(outcomes)} results in {seconds:.0f} s, saved to {args.save}")
    section = table.render(outcomes, header(outcomes, seconds))
    print(section)
    if args.write_doc:
        table.write_section(DOC, section)
        print(f"wrote the failure table into {DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
