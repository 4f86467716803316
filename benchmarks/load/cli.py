"""``python -m benchmarks.load``: the testproject under uvicorn, with and without the bridge.

Two runs of ``--requests`` registrations and logins at ``--concurrency``, then the delivery checks;
``--write-doc`` writes docs/load-test.md, which says how and why. Exit 1 when the acceptance fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from benchmarks.load.doc import write_doc
from benchmarks.load.report import report_text
from benchmarks.load.runs import (
    BRIDGE_SETTINGS,
    DOC_PATH,
    MIN_CONCURRENCY,
    MIN_REQUESTS,
    NOBRIDGE_SETTINGS,
    PASSWORD,
    REPO_ROOT,
    Run,
    acceptance,
    checks_for,
)
from benchmarks.load.server import run_once
from support.machine import cpu_model, version


def argon2_cost() -> tuple[str, float, float]:
    """regstack's hasher parameters and one hash's median wall / CPU time (ms)."""
    from regstack.auth.password import PasswordHasher

    hasher = PasswordHasher()
    params = hasher._hasher.hashers[0]._hasher  # pwdlib -> argon2-cffi
    walls, cpus = [], []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        hasher.hash(PASSWORD)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    text = f"argon2id t={params.time_cost}, m={params.memory_cost} KiB, p={params.parallelism}"
    return text, statistics.median(walls), statistics.median(cpus)


def machine(argon2: tuple[str, float, float]) -> list[tuple[str, str]]:
    return [
        ("date (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} logical CPUs"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        (
            "packages",
            ", ".join(
                f"{d} {version(d)}"
                for d in ("django", "regstack", "uvicorn", "httpx", "asgiref", "argon2-cffi")
            ),
        ),
        (
            "password hash",
            f"{argon2[0]}: {argon2[1]:.0f} ms wall, {argon2[2]:.0f} ms CPU (median of 5)",
        ),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--requests", type=int, default=MIN_REQUESTS,
        help=f"requests per run, registrations + logins (default {MIN_REQUESTS})")  # fmt: skip
    add("--concurrency", type=int, default=MIN_CONCURRENCY,
        help=f"requests in flight (default {MIN_CONCURRENCY})")  # fmt: skip
    add("--request-timeout", type=float, default=120.0,
        help="seconds per request before it counts as no response (default 120)")  # fmt: skip
    add("--run-timeout", type=float, default=480.0,
        help="hard limit in seconds for one run's load phase (default 480)")  # fmt: skip
    add("--start-timeout", type=float, default=60.0,
        help="seconds for uvicorn to start answering (default 60)")  # fmt: skip
    add("--only", choices=("both", "bridge", "nobridge"), default="both",
        help="which runs to do (default both)")  # fmt: skip
    add("--keep", action="store_true", help="keep each run's files and server log")
    add("--write-doc", action="store_true", help=f"write {DOC_PATH.relative_to(REPO_ROOT)}")
    add("--smoke", action="store_true", help="4 requests, 2 in flight, both runs, no doc")
    args = parser.parse_args(argv)
    if args.smoke and args.write_doc:
        parser.error("--smoke writes no doc")
    if args.smoke:
        args.requests, args.concurrency = 4, 2
    if args.requests < 2 or args.concurrency < 1:
        parser.error("--requests must be at least 2 and --concurrency at least 1")
    if args.write_doc and (
        args.only != "both" or args.requests < MIN_REQUESTS or args.concurrency < MIN_CONCURRENCY
    ):
        parser.error(
            f"--write-doc needs both runs and at least {MIN_REQUESTS} requests at "
            f"concurrency {MIN_CONCURRENCY} (the issue's minimums)"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    argon2 = argon2_cost()
    info = machine(argon2)
    print("\n".join(f"{k}: {v}" for k, v in info), flush=True)
    if args.requests < MIN_REQUESTS or args.concurrency < MIN_CONCURRENCY:
        print(f"note: below the issue's minimums ({MIN_REQUESTS} requests, concurrency "
              f"{MIN_CONCURRENCY}): a smoke run, not the load test", flush=True)  # fmt: skip
    runs: list[Run] = []
    if args.only in ("both", "bridge"):
        runs.append(run_once("bridge", BRIDGE_SETTINGS, True, args))
    if args.only in ("both", "nobridge"):
        runs.append(run_once("no bridge", NOBRIDGE_SETTINGS, False, args))
    all_checks = {run.label: checks_for(run) for run in runs}
    bridge_run = next((r for r in runs if r.bridge), None)
    ok = acceptance(bridge_run, all_checks)
    print(report_text(runs, all_checks, ok), flush=True)
    if args.write_doc:
        write_doc(runs, all_checks, ok, args, info, argon2)
    return 0 if ok else 1
