"""The load test's tables: both runs side by side, their differences, what went wrong."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from benchmarks.load.runs import Check, Run, Sample


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a real request)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def fmt_ms(value: float) -> str:
    return f"{value:,.0f}"


def run_rows(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    headers = ["", *(r.label for r in runs)]
    rows: list[list[str]] = []

    def row(name: str, values: Sequence[str]) -> None:
        rows.append([name, *values])

    row("settings", [f"`{r.settings}`" for r in runs])
    row("requests (register + login)", [
        f"{len(r.samples)} ({sum(s.kind == 'register' for s in r.samples)} + "
        f"{sum(s.kind == 'login' for s in r.samples)})" for r in runs
    ])  # fmt: skip
    row("duration (s)", [f"{r.seconds:.1f}" for r in runs])
    row("throughput (req/s)", [f"{r.throughput:.2f}" for r in runs])
    for kind in (None, "register", "login"):
        what = "all" if kind is None else kind
        row(
            f"p50 latency, {what} (ms)",
            [fmt_ms(percentile(r.latencies_ms(kind), 50)) for r in runs],
        )
        row(
            f"p99 latency, {what} (ms)",
            [fmt_ms(percentile(r.latencies_ms(kind), 99)) for r in runs],
        )
    row("max latency (ms)", [fmt_ms(max(r.latencies_ms(), default=float("nan"))) for r in runs])
    row(
        "status codes",
        [", ".join(f"{k}: {v}" for k, v in sorted(r.statuses().items())) for r in runs],
    )
    row("server CPU per request (ms, all threads)", [f"{r.cpu_ms_per_request:.0f}" for r in runs])
    row("non-2xx responses", [str(len(r.non_2xx())) for r in runs])
    row("non-2xx caused by receivers", [str(r.receiver_caused()) for r in runs])
    row("server tracebacks (500s), not a receiver's", [
        str(sum(not c.blames_receiver for c in r.delivery.crashes)) for r in runs
    ])  # fmt: skip
    row("no response (client-side transport error)", [str(len(r.no_response())) for r in runs])
    row("receiver failures logged", [str(sum(r.delivery.failures_logged.values())) for r in runs])
    row("AuditEvent rows", [str(sum(r.delivery.audit.values())) for r in runs])
    row("load average before (1/5/15 min)", [r.load_before for r in runs])
    return headers, rows


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def deltas(bridge: Run, base: Run) -> list[list[str]]:
    rows = []
    for q in (50, 99):
        a, b = percentile(bridge.latencies_ms(), q), percentile(base.latencies_ms(), q)
        rows.append([f"p{q} latency", f"{a - b:+,.0f} ms", f"{(a / b - 1) * 100:+.1f} %"])
    a, b = bridge.throughput, base.throughput
    rows.append(["throughput", f"{a - b:+.2f} req/s", f"{(a / b - 1) * 100:+.1f} %"])
    a, b = bridge.cpu_ms_per_request, base.cpu_ms_per_request
    rows.append(["server CPU per request", f"{a - b:+.1f} ms", f"{(a / b - 1) * 100:+.1f} %"])
    return rows


def group_answers(samples: Sequence[Sample]) -> dict[tuple[str, int | None, str], list[Sample]]:
    groups: dict[tuple[str, int | None, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.kind, sample.status, sample.detail[:80]), []).append(sample)
    return groups


def error_lines(run: Run) -> list[str]:
    """What went wrong in a run, grouped: server tracebacks, answers, transport errors."""
    lines = [
        f"{n} x server traceback{' (blames a receiver)' if c.blames_receiver else ''}: "
        f"{c.exception} at {c.where}"
        for c, n in Counter(run.delivery.crashes).most_common()
    ]
    for (kind, status, detail), group in group_answers(run.non_2xx()).items():
        took = ", ".join(f"{s.seconds:.1f}" for s in group)
        lines.append(f"{len(group)} x {kind} answered {status} {detail!r} after {took} s")
    lines += [f"{s.kind} without answer: {s.detail}" for s in run.no_response()]
    lines += [f"other server error line: {line}" for line in run.delivery.other_errors[:5]]
    return lines


def report_text(runs: Sequence[Run], all_checks: dict[str, list[Check]], ok: bool) -> str:
    headers, rows = run_rows(runs)
    parts = ["", text_table(headers, rows), ""]
    by_label = {r.label: r for r in runs}
    if {"bridge", "no bridge"} <= set(by_label):
        parts += [text_table(["bridge - no bridge", "absolute", "relative"],
                             deltas(by_label["bridge"], by_label["no bridge"])), ""]  # fmt: skip
    for label, checks in all_checks.items():
        parts.append(f"checks, {label}:")
        parts += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks]
    for run in runs:
        parts += [f"  {run.label}: {line}" for line in error_lines(run)]
    parts.append(f"\nACCEPTANCE {'HOLDS' if ok else 'FAILS'}: 0 receiver-caused non-2xx responses "
                 "and exactly-once delivery (bridge run).")  # fmt: skip
    return "\n".join(parts)
