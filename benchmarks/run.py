"""``python -m benchmarks``: run every part, print the tables, regenerate docs/benchmarks.md.

One interpreter is one leg: its section is replaced, the other legs' are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import sys
import time
from pathlib import Path

from benchmarks.harness import (
    REPO_ROOT,
    SETTINGS,
    Report,
    Target,
    leg_name,
    machine,
    md_table,
    setup_django,
)
from support.machine import load_average

DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
PARTS = ("dispatch", "request", "memory", "profile")
_LEG = re.compile(r"<!-- leg: (?P<name>.+?) -->\n.*?<!-- /leg -->\n", re.DOTALL)
#: Sections other scripts write into the same doc (``benchmarks.concurrency``): kept as they are.
_SECTION = re.compile(r"<!-- section: (?P<name>.+?) -->\n.*?<!-- /section -->\n", re.DOTALL)


def _command(argv: list[str]) -> str:
    """This run's command line, as someone in the repository root would type it."""
    python = Path(sys.executable)
    try:
        shown = f"{python.relative_to(REPO_ROOT)}"
    except ValueError:
        shown = str(python)
    return " ".join(shlex.quote(part) for part in [shown, "-m", "benchmarks", *argv])


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rounds", type=int, default=100, help="dispatch: rounds per mix")
    parser.add_argument(
        "--target-ms", type=float, default=2.0, help="dispatch/profile: one timed batch, ms"
    )
    parser.add_argument("--request-rounds", type=int, default=40, help="request: logins per config")
    parser.add_argument("--fires", type=int, default=100_000, help="memory: fires in all")
    parser.add_argument("--ready-runs", type=int, default=1000, help="memory: ready() calls")
    parser.add_argument("--profile-rounds", type=int, default=20, help="profile: rounds per part")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of every count")
    parser.add_argument(
        "--smoke", action="store_true", help="a few rounds of every part, no doc (the test suite's)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the doc to write")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    if args.quick:
        args.rounds = max(5, args.rounds // 10)
        args.request_rounds = max(4, args.request_rounds // 10)
        args.fires = max(1000, args.fires // 10)
        args.ready_runs = max(20, args.ready_runs // 10)
        args.profile_rounds = max(5, args.profile_rounds // 4)
    if args.smoke:
        args.rounds, args.target_ms, args.request_rounds = 3, 0.5, 2
        args.fires, args.ready_runs, args.profile_rounds = 1000, 5, 2
        args.no_write = True
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    setup_django(database=True, settings=SETTINGS)
    # Imported after set-up: they import Django models and regstack_django.
    from benchmarks import dispatch, memory, profile, request
    from benchmarks.explain import explain

    only = set(args.only.split(","))
    started = time.perf_counter()
    load_before = load_average()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"regstack-django benchmarks: {leg_name()}, load average {load_before}", flush=True)
    reports: list[Report] = []
    dispatch_result = profile_result = memory_result = None
    if "dispatch" in only:
        dispatch_result = dispatch.measure(rounds=args.rounds, target_ms=args.target_ms)
        reports.append(dispatch.report(dispatch_result))
        print(f"\n{reports[-1].text}", flush=True)
    if "profile" in only:
        profile_report, profile_result = profile.run(
            rounds=args.profile_rounds, target_ms=args.target_ms
        )
        reports.append(profile_report)
        print(f"\n{profile_report.text}", flush=True)
    if "request" in only:
        reports.append(request.run(rounds=args.request_rounds))
        print(f"\n{reports[-1].text}", flush=True)
    if "memory" in only:
        memory_result = memory.measure(fires=args.fires, ready_runs=args.ready_runs)
        reports.append(memory.report(memory_result))
        print(f"\n{reports[-1].text}", flush=True)
    seconds = time.perf_counter() - started
    load_after = load_average()
    targets = [t for r in reports for t in r.targets]
    summary = _summary(targets)
    print(f"\n== Targets ({sum(t.met for t in targets)}/{len(targets)} met) ==\n{summary}")
    print(f"\n{seconds:.0f} s in all; load average before {load_before}, after {load_after}")
    if args.no_write:
        return 0
    notes = explain(dispatch_result, profile_result, memory_result, targets)
    section = _leg_section(
        command=_command(argv),
        when=when,
        seconds=seconds,
        loads=(load_before, load_after),
        reports=reports,
        targets=targets,
        notes=notes,
    )
    _write(args.output, section)
    print(f"wrote {args.output}")
    return 0


def _summary(targets: list[Target]) -> str:
    return "\n".join(f"  {t.line()}" for t in targets)


def _leg_section(
    *,
    command: str,
    when: str,
    seconds: float,
    loads: tuple[str, str],
    reports: list[Report],
    targets: list[Target],
    notes: str,
) -> str:
    name = leg_name()
    info = machine()
    lines = [
        f"<!-- leg: {name} -->",
        f"## {name}",
        "",
        f"`{command}`, {when}, {seconds:.0f} s. Load average (1/5/15 min) before: "
        f"{loads[0]}, after: {loads[1]}.",
        "",
        md_table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
        f"### Targets: {sum(t.met for t in targets)} of {len(targets)} met",
        "",
        md_table(
            ["target", "limit", "measured", "verdict"],
            [[t.label, f"≤ {t.limit:g}{t.unit}", t.shown(), t.verdict] for t in targets],
        ),
        "",
    ]
    if notes:
        lines += ["### Why the missed ones are missed", "", notes, ""]
    for report in reports:
        lines += [f"### {report.title}", "", report.markdown, ""]
    lines.append("<!-- /leg -->")
    return "\n".join(lines) + "\n"


HEADER = """\
# Benchmarks

<!-- Generated by benchmarks/run.py: edit the code, not this file. -->

Regenerate from the repository root, once per interpreter: each run replaces
its own leg's section (a Django and Python version) and keeps the others.

```sh
.venv/bin/python -m benchmarks                # this leg; --help for round counts
/path/to/django61-venv/bin/python -m benchmarks   # e.g. a Django 6.1 / Python 3.13 venv
```

About three minutes per leg on two busy cores (about one on idle ones); the
legs below say when and at what load they were measured.

## How the numbers are made

- **One process, interleaved rounds.** For each comparison every contender runs
  a batch in turn (A, B, C, then B, C, A, ...: the start rotates so nobody always
  runs first or after the same neighbour), for many rounds; a contender's figure
  is the **median** over rounds of (batch time / batch size), timed with
  `time.perf_counter_ns`. Batch sizes are calibrated during a warm-up so one batch
  lasts about `--target-ms`. Ratios are ratios of medians from the same run; the
  *per-round ratio* spread (p25-p75) shows how far a verdict can be trusted.
- **Garbage collector**: disabled while a round is timed, re-enabled with a full
  `gc.collect()` between rounds; the set-up's heap is frozen first (`gc.freeze()`)
  so those collections stay cheap.
- **Absolute microseconds move between runs** on a virtual machine (the host's
  load, CPU frequency, how deeply idle cores sleep: a thread hop is slower on an
  idle machine than on a busy one); ratios measured within one run move far less,
  and the targets are ratios.
- **Process CPU time** is recorded for the same batches (`time.process_time_ns`, all
  threads). On a shared machine whose load average is above its core count, a
  thread hop's *wall* time mostly measures the scheduler; CPU time does not.
- **Dispatch**: the same empty-bodied Django receivers on our registry's Signal
  and on a plain `Signal` (`asend_robust` / `send_robust`); kwargs-only
  equivalents on regstack's `HookRegistry` (no sync fire there: n/a). Known
  regstack event names, as regstack fires them. The *bare hop* is
  `await sync_to_async(f, thread_sensitive=True)()` of a trivial `f`.
- **Request**: `POST /api/auth/login` of a real regstack app (built by
  `support.tour`) through `httpx.ASGITransport`, lifespan run by hand; see the
  section for the four configurations and exactly what the 1 % target compares.
- **Memory**: `tracemalloc` after a warm-up, before/after with a half-way mark;
  growth per operation and the top growing lines.
- The "Why" notes are generated from this run's profile (the parts of a fire,
  timed one by one), so they always match the numbers next to them.

"""


def _write(path: Path, section: str) -> None:
    """Replace this leg's section, keep the other legs', rewrite the rest."""
    name = section.split(" -->", 1)[0].removeprefix("<!-- leg: ")
    legs: dict[str, str] = {}
    others: list[str] = []
    if path.exists():
        current = path.read_text(encoding="utf-8")
        for match in _LEG.finditer(current):
            legs[match.group("name")] = match.group(0)
        others = [match.group(0) for match in _SECTION.finditer(current)]
    legs[name] = section
    body = "\n".join([*(legs[key] for key in sorted(legs)), *others])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(HEADER + body, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
