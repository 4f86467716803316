"""What every benchmark shares: Django set-up, the timing loop, tables.

Batches timed with ``perf_counter_ns``, interleaved rotating rounds, medians, gc off inside a
round (docs/benchmarks.md, "How the numbers are made").
"""

from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.machine import cpu_model, version

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The settings every part of ``python -m benchmarks`` needs (the test app's
#: model, a throw-away database, one settings-wired receiver); forced even if
#: the environment names another settings module.
SETTINGS = "benchmarks.settings"

SyncOp = Callable[[int], None]
"""Runs the operation under test ``n`` times in a row (the loop lives inside)."""

AsyncOp = Callable[[int], Awaitable[None]]
"""The same for an operation that must be awaited on the running event loop."""


def setup_django(*, database: bool = False, settings: str | None = None) -> None:
    """Configure Django: with ``settings`` if given, else ``DJANGO_SETTINGS_MODULE``
    if set, else ``benchmarks.settings``.

    With ``database``, create the tables (``migrate --run-syncdb``) in the
    settings' database (for ``benchmarks.settings``, a temporary SQLite file).
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    if settings is not None:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    if database:
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)


# --------------------------------------------------------------------------- timing


@dataclass
class Series:
    """Per-operation times (ns), one sample per round, for one contender."""

    name: str
    batch: int = 1
    samples_ns: list[float] = field(default_factory=list)
    cpu_samples_ns: list[float] = field(default_factory=list)
    """Process CPU time (all threads) per operation, for the same batches."""

    def record(self, elapsed_ns: int, cpu_ns: int) -> None:
        """One timed batch of :attr:`batch` operations."""
        self.samples_ns.append(elapsed_ns / self.batch)
        self.cpu_samples_ns.append(cpu_ns / self.batch)

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples_ns)

    @property
    def cpu_median_ns(self) -> float:
        return statistics.median(self.cpu_samples_ns)

    @property
    def median_us(self) -> float:
        return self.median_ns / 1000


def paired_ratio_quartiles(
    a: Series, b: Series, *, cpu: bool = False
) -> tuple[float, float, float]:
    """p25, median, p75 of the round-by-round ratios a/b (rounds are interleaved).

    The spread says how much one verdict can be trusted on a noisy machine.
    """
    xs, ys = (a.cpu_samples_ns, b.cpu_samples_ns) if cpu else (a.samples_ns, b.samples_ns)
    ratios = sorted(x / y for x, y in zip(xs, ys, strict=True))
    if len(ratios) < 4:
        mid = statistics.median(ratios)
        return mid, mid, mid
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    return q1, q2, q3


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move everything allocated so far out of the collector's sight (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _rotated(names: list[str], round_number: int) -> list[str]:
    k = round_number % len(names)
    return names[k:] + names[:k]


def _batch_for(elapsed_ns: int, n: int, target_ns: int) -> int:
    per_op = max(elapsed_ns / n, 1.0)
    return max(1, round(target_ns / per_op))


def calibrate_sync(op: SyncOp, target_ns: int) -> int:
    """How many operations fill about ``target_ns`` (the op also warms up here)."""
    n = 1
    while True:
        start = time.perf_counter_ns()
        op(n)
        elapsed = time.perf_counter_ns() - start
        if elapsed >= target_ns // 4 or n >= 1_000_000:
            return _batch_for(elapsed, n, target_ns)
        n *= 4


async def calibrate_async(op: AsyncOp, target_ns: int) -> int:
    """:func:`calibrate_sync` for an awaited operation."""
    n = 1
    while True:
        start = time.perf_counter_ns()
        await op(n)
        elapsed = time.perf_counter_ns() - start
        if elapsed >= target_ns // 4 or n >= 1_000_000:
            return _batch_for(elapsed, n, target_ns)
        n *= 4


def _interleaved(names: list[str], *, warmup: int, rounds: int) -> Iterator[tuple[str, bool]]:
    """``(contender, keep)`` in interleaved, rotating rounds; ``keep`` is False while warming up.

    The collector runs between rounds and is off inside one, for sync and
    async timing alike.
    """
    for round_number in range(warmup + rounds):
        gc.enable()
        gc.collect()
        gc.disable()
        try:
            for name in _rotated(names, round_number):
                yield name, round_number >= warmup
        finally:
            gc.enable()


def time_sync(
    contenders: dict[str, SyncOp], *, rounds: int, warmup: int, target_ms: float
) -> dict[str, Series]:
    """Interleaved, rotating rounds of every contender; gc off inside a round, collected between.

    Call it inside :func:`frozen_heap`.
    """
    target_ns = int(target_ms * 1_000_000)
    series = {name: Series(name, calibrate_sync(op, target_ns)) for name, op in contenders.items()}
    for name, keep in _interleaved(list(contenders), warmup=warmup, rounds=rounds):
        op, n = contenders[name], series[name].batch
        cpu_start = time.process_time_ns()
        start = time.perf_counter_ns()
        op(n)
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time_ns() - cpu_start
        if keep:
            series[name].record(elapsed, cpu)
    return series


async def time_async(
    contenders: dict[str, AsyncOp],
    *,
    rounds: int,
    warmup: int,
    target_ms: float,
    same_batch: tuple[str, ...] = (),
) -> dict[str, Series]:
    """:func:`time_sync` on the running event loop.

    The contenders named in ``same_batch`` are timed in batches of one size
    (the largest of their calibrated sizes), so that a ratio between them is
    not skewed by a cost paid once per batch. A thread hop has one: the first
    hop of a batch wakes a thread idle since the last batch, about 30-45 µs
    more than the next ones on a 2-core VM. Calibration reads one sample, so
    a single slow one (a cold start, a preemption) can shrink a contender's
    batch to 1-2 operations while the one it is compared with gets 15.
    """
    target_ns = int(target_ms * 1_000_000)
    series = {}
    for name, op in contenders.items():
        series[name] = Series(name, await calibrate_async(op, target_ns))
    shared = [series[name] for name in same_batch if name in series]
    if shared:
        batch = max(s.batch for s in shared)
        for s in shared:
            s.batch = batch
    for name, keep in _interleaved(list(contenders), warmup=warmup, rounds=rounds):
        op, n = contenders[name], series[name].batch
        cpu_start = time.process_time_ns()
        start = time.perf_counter_ns()
        await op(n)
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time_ns() - cpu_start
        if keep:
            series[name].record(elapsed, cpu)
    return series


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, as measured in this run."""

    label: str
    measured: float
    limit: float
    detail: str = ""
    unit: str = ""
    """``"%"`` for shares; ratios have none."""
    holds: bool = True
    """A condition besides the number (e.g. exactly one thread hop); false misses it."""

    @property
    def met(self) -> bool:
        return self.holds and self.measured <= self.limit

    @property
    def verdict(self) -> str:
        return "MET" if self.met else "MISSED"

    def shown(self) -> str:
        """The measured value: two decimals, three where two would equal the limit."""
        value = f"{self.measured:.2f}"
        if value == f"{self.limit:.2f}":
            value = f"{self.measured:.3f}"
        return f"{value}{self.unit}"

    def line(self) -> str:
        margin = (self.measured / self.limit - 1) * 100
        digits = 1 if abs(margin) < 1 else 0
        how = f"{-margin:.{digits}f}% under" if margin <= 0 else f"{margin:.{digits}f}% over"
        extra = f"; {self.detail}" if self.detail else ""
        return (
            f"{self.verdict:<6} {self.label}: {self.shown()} "
            f"(limit {self.limit:.2f}{self.unit}, {how}{extra})"
        )


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    """What the numbers were measured on, in the doc's words."""
    import django

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} (usable by this process: {usable})",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Django": django.get_version(),
        "asgiref": version("asgiref"),
        "regstack": version("regstack"),
        "regstack-django": version("regstack-django"),
    }


def leg_name() -> str:
    """``Django 5.2.19 / Python 3.11.7``: one leg of the doc."""
    import django

    return f"Django {django.get_version()} / Python {platform.python_version()}"


# --------------------------------------------------------------------------- tables


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


_NUMERIC = re.compile(r"^(n/a|-|[-+≤]?\s?[\d.,]+.*)$")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table: numeric columns right-aligned, text left."""
    aligns = []
    for i in range(len(headers)):
        numeric = i > 0 and all(_NUMERIC.match(row[i]) for row in rows)
        aligns.append("---:" if numeric else "---")
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def us(ns: float) -> str:
    """Microseconds with a sensible number of digits."""
    value = ns / 1000
    if value < 10:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


@dataclass
class Report:
    """What one benchmark hands back: terminal text and a Markdown section."""

    title: str
    text: str
    markdown: str
    targets: list[Target] = field(default_factory=list)
