"""What the full fault trials run: :data:`PLAN`, one :class:`Cell` per site.

Shared by ``tests/project/test_faults.py`` (the ``trials``-marked tests, one
per cell) and ``benchmarks/faults.py`` (the whole plan, then the table).
Counts are chosen so that the plan stays within about 20 minutes on two
cores: worker deaths are cheap (a worker starts up while the previous one
works), each web death costs a server start-up.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.project.faults import scenarios
from tests.project.faults.counting import Outcome

WORKER_TRIALS = 40
WEB_TRIALS = 5
OUTAGE_TRIALS = 5
BACKLOG_TRIALS = 3


@dataclass(frozen=True)
class Cell:
    """One scenario on one backend, durable or not."""

    name: str
    backend: str
    durable: bool
    run: Callable[[Path, str, bool, int], list[Outcome]]
    trials: int

    @property
    def id(self) -> str:
        return f"{self.name}-{self.backend}-{'durable' if self.durable else 'today'}"

    def __call__(self, workdir: Path, trials: int | None = None) -> list[Outcome]:
        return self.run(workdir, self.backend, self.durable, trials or self.trials)


def _sigkill(workdir: Path, backend: str, durable: bool, trials: int) -> list[Outcome]:
    return [
        scenarios.worker_deaths(
            workdir, backend, durable=durable, sig=signal.SIGKILL, trials=trials
        )
    ]


def _sigterm(workdir: Path, backend: str, durable: bool, trials: int) -> list[Outcome]:
    return [
        scenarios.worker_deaths(
            workdir, backend, durable=durable, sig=signal.SIGTERM, trials=trials
        )
    ]


def _web(workdir: Path, backend: str, durable: bool, trials: int) -> list[Outcome]:
    return list(scenarios.web_deaths(workdir, backend, durable=durable, trials=trials))


def _outage(workdir: Path, backend: str, durable: bool, trials: int) -> list[Outcome]:
    return [scenarios.redis_outages(workdir, durable=durable, trials=trials)]


def _backlog(workdir: Path, backend: str, durable: bool, trials: int) -> list[Outcome]:
    return [scenarios.redis_crash_with_backlog(workdir, durable=durable, trials=trials)]


def plan(backends: tuple[str, ...] = ("database", "redis")) -> list[Cell]:
    cells: list[Cell] = []
    for durable in (True, False):  # the promise first
        for backend in backends:
            cells += [
                Cell("sigkill", backend, durable, _sigkill, WORKER_TRIALS),
                Cell("sigterm", backend, durable, _sigterm, WORKER_TRIALS),
                Cell("web", backend, durable, _web, WEB_TRIALS),
            ]
            if backend == "redis":
                cells += [
                    Cell("redis-outage", backend, durable, _outage, OUTAGE_TRIALS),
                    Cell("redis-backlog", backend, durable, _backlog, BACKLOG_TRIALS),
                ]
    return cells


PLAN = plan()
