"""The load test's constants, what a run records, and the checks it must pass."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = REPO_ROOT / "docs" / "load-test.md"
COMMAND = ".venv/bin/python -m benchmarks.load --write-doc"

API_PREFIX = "/api/auth"
PASSWORD = "load-test-password-1"
BRIDGE_SETTINGS = "benchmarks.projects.load"
NOBRIDGE_SETTINGS = "benchmarks.projects.load_nobridge"

MIN_REQUESTS = 1000
MIN_CONCURRENCY = 50

#: Request kind -> (path, expected status, the event one success fires).
KINDS: dict[str, tuple[str, int, str]] = {
    "register": ("/register", 201, "user_registered"),
    "login": ("/login", 200, "user_logged_in"),
}
#: What the load settings connect to each event, beside the audit receiver.
PROBES = ("tally", "tally_async", "explode", "dawdle")
PROBE_MODULE = "benchmarks.projects.probes"
#: Probes whose every call must show up as one failure line in the server log.
FAILING_PROBES = ("explode", "dawdle")
FAILURE_LINE = re.compile(
    r"^ERROR regstack_django: Receiver (\S+) failed on regstack event '(\w+)'\."
)
#: A 4xx body with one of these words is blamed on a receiver (5xx: see Run.receiver_caused).
RECEIVER_WORDS = re.compile(r"receiver|probe|regstack_django|timeout", re.IGNORECASE)
#: The first line of a log record (the logging config's format, or uvicorn's); "END OF LOG" too.
LOG_RECORD = re.compile(r"^(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)(?::| \S+: )|END OF LOG$)")
#: The last line of a traceback: ``package.module.SomeError: message``.
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Timeout|Exit|Interrupt)\w*(:|$)")
FRAME_LINE = re.compile(r'^  File "([^"]+)", line (\d+), in (\S+)')
#: A traceback with a frame in one of these (except the ASGI router) blames a receiver.
RECEIVER_PATHS = ("/regstack_django/", "/testproject/audit/", "/benchmarks/projects/")
ROUTER = "/regstack_django/asgi.py"
RECEIVER_EXCEPTIONS = ("LoadProbeError", "ReceiverTimeout")
WARMUP_USERS = 2


@dataclass(frozen=True, slots=True)
class Sample:
    """One request as the client saw it."""

    kind: str
    email: str
    status: int | None  # None: no HTTP response (timeout, connection error)
    seconds: float
    detail: str = ""  # the body (trimmed) of a non-2xx response, or the transport error


@dataclass
class Delivery:
    """What the server side recorded, read after the server stopped."""

    audit: Counter[tuple[str, str]] = field(default_factory=Counter)
    probes: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    failures_logged: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: uvicorn's "Exception in ASGI application" tracebacks (each one a 500).
    crashes: list[Crash] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Crash:
    """One unhandled exception in the server: its last line, and whether a receiver is in it."""

    exception: str
    where: str  # the innermost frame: file (shortened), line, function
    blames_receiver: bool


@dataclass
class Run:
    """One load run against one server."""

    label: str
    settings: str
    bridge: bool
    samples: list[Sample] = field(default_factory=list)
    warmup: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    load_before: str = ""
    server_cpu: float = float("nan")  # the server's CPU seconds (all threads) in the timed phase
    delivery: Delivery = field(default_factory=Delivery)

    # ---- timing
    def latencies_ms(self, kind: str | None = None) -> list[float]:
        return sorted(s.seconds * 1000 for s in self.samples if kind is None or s.kind == kind)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Independent of what else the machine runs, unlike throughput and latency."""
        return self.server_cpu / len(self.samples) * 1000 if self.samples else float("nan")

    # ---- responses
    def statuses(self) -> Counter[str]:
        return Counter("no response" if s.status is None else str(s.status) for s in self.samples)

    def non_2xx(self) -> list[Sample]:
        """Answers outside 2xx (requests without any answer are :meth:`no_response`)."""
        return [s for s in self.samples if s.status is not None and not 200 <= s.status < 300]

    def no_response(self) -> list[Sample]:
        return [s for s in self.samples if s.status is None]

    def receiver_caused(self) -> int:
        """Non-2xx answers a receiver caused, counted conservatively.

        A 4xx whose body names a receiver; a 5xx whose server traceback has a
        frame of the bridge or of a receiver; and every 5xx that no server
        traceback explains. A 5xx whose traceback is regstack's own (its
        SQLite lock errors, say) is not a receiver's doing.
        """
        errors = [s for s in self.samples if s.status is not None and not 200 <= s.status < 300]
        named = sum(1 for s in errors if s.status < 500 and RECEIVER_WORDS.search(s.detail))
        server = [s for s in errors if s.status >= 500]
        crashes = self.delivery.crashes
        blamed = sum(1 for c in crashes if c.blames_receiver)
        unexplained = max(0, len(server) - len(crashes))
        return named + blamed + unexplained

    # ---- delivery
    def expected_fires(self) -> Counter[tuple[str, str]]:
        """``(event, email)`` for every success, warm-up included: each fired once."""
        return Counter(
            (KINDS[s.kind][2], s.email)
            for s in (*self.warmup, *self.samples)
            if s.status == KINDS[s.kind][1]
        )


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def exactly_once(
    name: str, expected: Counter[tuple[str, str]], got: Counter[tuple[str, str]]
) -> Check:
    """``got`` must hold every expected ``(event, email)`` once, and nothing else."""
    missing = sum((expected - got).values())
    extra = sum((got - expected).values())
    twice = sum(1 for key, n in got.items() if n > 1)
    ok = got == expected
    detail = f"{sum(got.values())} of {sum(expected.values())}"
    if not ok:
        detail += f" (missing {missing}, extra {extra}, recorded more than once {twice})"
    return Check(name, ok, detail)


def checks_for(run: Run) -> list[Check]:
    """The run's delivery checks: exactly once with the bridge, nothing without it."""
    d = run.delivery
    expected = run.expected_fires()
    caused = run.receiver_caused()
    checks = [
        Check("non-2xx responses caused by receivers", not caused, str(caused)),
        Check("run finished within its time limit", not run.timed_out, f"{run.seconds:.1f}s"),
    ]
    if not run.bridge:
        recorded = sum(d.audit.values()) + sum(sum(c.values()) for c in d.probes.values())
        checks.append(
            Check("no event reached Django (bridge off)", recorded == 0, f"{recorded} records")
        )
        return checks
    checks.append(exactly_once("AuditEvent rows, once per event", expected, d.audit))
    for probe in PROBES:
        checks.append(
            exactly_once(f"{probe} calls, once per event", expected, d.probes.get(probe, Counter()))
        )
    checks.append(
        exactly_once(
            "dawdle cancelled by its 0.2 s timeout",
            expected,
            d.probes.get("dawdle_cancelled", Counter()),
        )
    )
    done = sum(d.probes.get("dawdle_done", Counter()).values())
    checks.append(Check("dawdle ran to the end (must be 0)", done == 0, str(done)))
    per_event = Counter(event for event, _ in expected.elements())
    for probe in FAILING_PROBES:
        name = f"{PROBE_MODULE}.{probe}"
        logged = Counter({event: n for (who, event), n in d.failures_logged.items() if who == name})
        checks.append(
            Check(
                f"{probe} failures logged, once per event",
                logged == per_event,
                f"{sum(logged.values())} of {sum(per_event.values())}",
            )
        )
    others = sum(
        n for (who, _), n in d.failures_logged.items() if who.rsplit(".", 1)[0] != PROBE_MODULE
    )
    checks.append(Check("failures of other receivers (must be 0)", others == 0, str(others)))
    return checks


def acceptance(bridge_run: Run | None, all_checks: dict[str, list[Check]]) -> bool:
    return bridge_run is not None and all(c.ok for checks in all_checks.values() for c in checks)
