"""Fault tests: real processes killed at random moments, the events counted.

The harness is :mod:`tests.project.faults` (processes, HTTP flows, counting,
the trial loops). Two kinds of tests here:

* **smoke tests** (the default run, the Django 6.1 leg with ``redis-server``):
  every failure once on one site per backend, with durable entries: a worker
  SIGKILLed and one SIGTERMed while events flow, Redis SIGKILLed and
  restarted (Redis backend), and the web process dying right after COMMIT of
  an ``atomic()`` block that fired an event, then restarted with the relay.
  Nothing accepted may be lost, and every duplicate carries its one
  ``event_id``. The same site with today's entries (durable off) shows the
  on-commit window: the event committed with the data is lost.
* **the full trials** (``@pytest.mark.trials``: ``bash scripts/test -s
  trials``, about 20 minutes): every cell of
  :data:`tests.project.faults.trials.PLAN`, 40 random kills per worker
  failure, durable on and off, both backends. Durable cells must lose
  nothing; every cell's counts are saved under ``.cache/faults/`` and
  ``python -m benchmarks.faults --from-results .cache/faults --write-doc``
  turns them into the failure table of ``docs/background.md``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import django
import pytest

from tests.project.faults import table, trials
from tests.project.faults.counting import Outcome
from tests.project.faults.processes import REPO
from tests.project.faults.scenarios import smoke
from tests.project.redis_server import SKIP_REASON, on_ci, redis_server_path

RESULTS = REPO / ".cache" / "faults"

pytestmark = [pytest.mark.regstack, pytest.mark.slow]


def _needs(backend: str) -> None:
    """Skip (fail under CI) where this leg cannot run ``backend``'s real processes."""
    if django.VERSION < (6, 1):
        pytest.skip("the fault tests run on the Django 6.1 leg")
    if backend == "redis":
        reason = ""
        if importlib.util.find_spec("django_tasks_redis") is None:
            reason = "django-tasks-redis not installed (the 'scaleout' dependency group)"
        elif redis_server_path() is None:
            reason = SKIP_REASON
        if reason:
            if on_ci():
                pytest.fail(f"{reason}: CI must run the fault tests", pytrace=False)
            pytest.skip(reason)


def _durable_available() -> bool:
    return (REPO / "regstack_django" / "management" / "commands" / "regstack_relay.py").exists()


def _assert_promise(outcome: Outcome) -> None:
    assert outcome.accepted > 0, outcome.line()
    assert outcome.lost == 0, f"{outcome.line()}\nlost keys (first 20): {outcome.lost_keys}"
    assert outcome.id_mismatches == 0, outcome.line()
    assert outcome.missing_ids == 0, outcome.line()


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_smoke_durable_loses_nothing(backend: str, tmp_path: Path) -> None:
    _needs(backend)
    if not _durable_available():
        pytest.skip("durable entries are not in this checkout yet (no regstack_relay)")
    flows_outcome, commit_outcome = smoke(tmp_path, backend, durable=True)
    print(flows_outcome.line(), commit_outcome.line(), sep="\n")
    _assert_promise(flows_outcome)
    _assert_promise(commit_outcome)
    assert commit_outcome.accepted == 1


def test_smoke_today_loses_the_on_commit_window(tmp_path: Path) -> None:
    """Today's on-commit enqueue: a process dying right after COMMIT loses the event.

    What ``docs/background.md`` warns about, deterministic here: the view's
    first on-commit callback kills the process before the enqueue's runs.
    """
    _needs("database")
    flows_outcome, commit_outcome = smoke(tmp_path, "database", durable=False)
    print(flows_outcome.line(), commit_outcome.line(), sep="\n")
    assert flows_outcome.accepted > 0
    assert (commit_outcome.accepted, commit_outcome.lost) == (1, 1), commit_outcome.line()


@pytest.mark.trials
@pytest.mark.parametrize("cell", trials.PLAN, ids=[cell.id for cell in trials.PLAN])
def test_trials(cell: trials.Cell, tmp_path: Path) -> None:
    """One cell of the plan; durable cells must keep the promise. Counts saved for the table."""
    _needs(cell.backend)
    if cell.durable and not _durable_available():
        pytest.skip("durable entries are not in this checkout yet (no regstack_relay)")
    outcomes = cell(tmp_path)
    table.save(outcomes, RESULTS / f"{cell.id}.json")
    for outcome in outcomes:
        print(outcome.line())
    if cell.durable:
        for outcome in outcomes:
            _assert_promise(outcome)
