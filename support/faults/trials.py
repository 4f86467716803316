"""What the full fault trials run: :data:`PLAN`, one :class:`Cell` per site.

Counts keep the plan within about 20 minutes on two cores.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from support.faults import scenarios
from support.faults.counting import Outcome

WORKER_TRIALS = 40
WEB_TRIALS = 6
OUTAGE_TRIALS = 5
BACKLOG_TRIALS = 3


@dataclass(frozen=True)
class Cell:
    """One scenario on one backend (both entries)."""

    name: str
    backend: str
    run: Callable[[Path, str, int], list[Outcome]]
    trials: int

    @property
    def id(self) -> str:
        return f"{self.name}-{self.backend}"

    def __call__(self, workdir: Path, trials: int | None = None) -> list[Outcome]:
        return self.run(workdir, self.backend, trials or self.trials)


def _sigkill(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.worker_deaths(workdir, backend, sig=signal.SIGKILL, trials=trials)


def _sigterm(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.worker_deaths(workdir, backend, sig=signal.SIGTERM, trials=trials)


def _sigterm_busy(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.worker_deaths(
        workdir, backend, sig=signal.SIGTERM, trials=trials, modes=("today",), busy=True
    )


def _web(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.web_deaths(workdir, backend, trials=trials)


def _outage(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.redis_outages(workdir, trials=trials)


def _backlog(workdir: Path, backend: str, trials: int) -> list[Outcome]:
    return scenarios.redis_crash_with_backlog(workdir, trials=trials)


def plan(backends: tuple[str, ...] = ("database", "redis")) -> list[Cell]:
    cells: list[Cell] = []
    for backend in backends:
        cells += [
            Cell("sigkill", backend, _sigkill, WORKER_TRIALS),
            Cell("sigterm", backend, _sigterm, WORKER_TRIALS),
            Cell("web", backend, _web, WEB_TRIALS),
        ]
        if backend == "database":
            cells.append(Cell("sigterm-busy", backend, _sigterm_busy, WORKER_TRIALS))
        if backend == "redis":
            cells += [
                Cell("redis-outage", backend, _outage, OUTAGE_TRIALS),
                Cell("redis-backlog", backend, _backlog, BACKLOG_TRIALS),
            ]
    return cells


PLAN = plan()
