"""The failure scenarios: trial loops on one site each, bounded in count and time.

Both probe entries (today's and a durable one) see every fault; random moments come from a seed.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from support.faults import counting, flows, processes
from support.faults.counting import Outcome
from support.faults.processes import Site

DRAIN_SECONDS = 90.0
#: How long the drain waits without a new delivery before it calls the rest lost: a
#: durable entry's redelivery waits out a lease (10 s) and the relay's backoff (2 s).
QUIET_SECONDS = 16.0
UP_SECONDS = 60.0
#: The two handler speeds the worker trials alternate: a 50 ms handler, an instant one.
HANDLER_SECONDS = (0.05, 0.0)
#: The smoke test's lease: short, for a quick redelivery (its queue stays short).
SMOKE_LEASE = 3.0
Modes = tuple[str, ...]
BOTH: Modes = ("today", "durable")


def _progress(scenario: str, backend: str, what: str, started: float) -> None:
    """One line on stderr per step when ``FAULTS_VERBOSE`` is set."""
    if os.environ.get("FAULTS_VERBOSE"):
        elapsed = time.monotonic() - started
        print(f"[{scenario}, {backend}] {what} at {elapsed:.1f} s", file=sys.stderr, flush=True)


def _wait(what: str, condition: Callable[[], bool], seconds: float, site: Site) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s\n{site.logs()}")
        time.sleep(0.05)


def drain(
    site: Site, keys: set[str], *, seconds: float = DRAIN_SECONDS, modes: Modes | None = None
) -> float:
    """Wait for the entries (``modes``: all) to deliver ``keys`` (bounded, see the docstring)."""
    started = time.monotonic()
    seen, changed = -1, started
    while time.monotonic() - started < seconds:
        rows = site.deliveries()
        if all(keys <= {key for key, *_ in site.deliveries(m)} for m in modes or site.modes):
            break
        if len(rows) != seen:
            seen, changed = len(rows), time.monotonic()
        elif time.monotonic() - changed > QUIET_SECONDS:
            break
        time.sleep(0.25)
    time.sleep(1.0)  # a late duplicate still shows up
    return time.monotonic() - started


def _ensure_worker(site: Site, handler_seconds: float = 0.0) -> int:
    """Like a supervisor (``Restart=always``): start a worker if none runs; 1 if it did."""
    if site.live_workers():
        return 0
    site.start_worker(handler_seconds)
    return 1


def _start(site: Site) -> None:
    if site.durable:
        site.start_relay()
    site.start_server()


def _finish(
    outcomes: list[Outcome],
    site: Site,
    accepted: list[str],
    unanswered: list[str],
    started: float,
    others: tuple[str, ...] = (),
    *,
    drained: bool = False,
    wait_for: Modes | None = None,
) -> list[Outcome]:
    """Drain (unless done already; until ``wait_for``'s entries are done) and count."""
    if not drained:
        if site.durable and (site.relay is None or not site.relay.alive()):
            site.start_relay()
        _ensure_worker(site)
        _progress(outcomes[0].scenario, site.backend, "draining", started)
        drain(site, {*accepted, *others}, modes=wait_for)
    for outcome in outcomes:
        counting.count(outcome, site, accepted, unanswered, others)
        outcome.seconds = time.monotonic() - started
        if outcome.durable and not drained:
            rows, average, most = site.handouts()
            outcome.notes.append(
                f"relay hand-outs per outbox row: {average:.2f} on average, {most} at most"
                f" ({rows} rows)"
            )
    return outcomes


def _note(outcomes: list[Outcome], note: str) -> None:
    for outcome in outcomes:
        outcome.notes.append(note)


# ---------------------------------------------------------------------- worker deaths


def worker_deaths(
    workdir: Path,
    backend: str,
    *,
    sig: signal.Signals,
    trials: int,
    modes: Modes = BOTH,
    seed: int = 14,
    interval: float = 1.0,
    busy: bool = False,
) -> list[Outcome]:
    """A worker SIGKILLed or SIGTERMed at a random moment, ``trials`` times, while events flow.

    Trial ``n``'s worker (handlers of 50 ms on even trials, instant on odd
    ones) is waited for until it has delivered once (it is up and busy); the
    next trial's worker is started then (so it starts up while this one
    works: two workers side by side, as in a rolling deploy); after a random
    0.2-3 s more, ``sig`` goes to this one; a SIGTERMed worker gets 20 s to
    exit by itself. Two lanes fire about 2 events per second throughout (4
    tasks: one per entry), below what the workers deliver even on a loaded
    machine, so the queue's lag stays shorter than the lease (10 s; see
    finding F1 in the failure table's notes for what a longer lag does).
    ``busy``: about 20 events per second instead, more than the workers
    deliver, so a worker claims task after task (the issue's measurement:
    SIGTERM during a claim's COMMIT); run with today's entry only, since the
    backlog's lag soon exceeds any short lease.
    """
    name = "worker SIGKILL" if sig == signal.SIGKILL else "worker SIGTERM"
    if busy:
        name += ", busy worker"
    rng = random.Random(seed)
    started = time.monotonic()
    with processes.site(workdir, backend, modes) as site:
        outcomes = counting.outcomes(name, backend, site, trials)
        _start(site)
        _progress(name, backend, "site up", started)
        # Busy: ~20 events/s, more than the workers deliver, so they claim back to back.
        load = flows.Load(site.base_url, "worker", lanes=2, interval=0.1 if busy else interval)
        unclean = 0
        with flows.running(load):
            upcoming = site.start_worker(HANDLER_SECONDS[0])
            for trial in range(trials):
                worker = upcoming
                _wait(
                    f"trial {trial}: {worker.name} delivers",
                    lambda w=worker: site.delivered_by(w.pid) > 0 or not w.alive(),
                    UP_SECONDS,
                    site,
                )
                if trial + 1 < trials:  # starting up while this one works and dies
                    upcoming = site.start_worker(HANDLER_SECONDS[(trial + 1) % 2])
                time.sleep(rng.uniform(0.2, 3.0))
                if sig == signal.SIGKILL:
                    worker.kill()
                else:
                    code, by_itself = worker.terminate(20.0)
                    unclean += (not by_itself) or code != 0
                _progress(name, backend, f"trial {trial}", started)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        if unclean:
            _note(outcomes, f"{unclean} SIGTERMed workers did not exit cleanly in 20 s")
        accepted, unanswered = counting.accepted_keys(site, load.started)
        return _finish(outcomes, site, accepted, unanswered, started)


# ---------------------------------------------------------------------- Redis


def redis_outages(
    workdir: Path,
    *,
    trials: int,
    modes: Modes = BOTH,
    seed: int = 14,
    down: tuple[float, float] = (1.0, 3.0),
) -> list[Outcome]:
    """Redis SIGKILLed (no persistence: its queue is gone) and restarted during HTTP flows.

    One worker runs throughout (restarted if it dies, as a supervisor
    would); each trial waits 1-2 s of flow, kills Redis, keeps it down for
    ``down`` seconds (random), and starts it again on the same port.
    """
    name = "Redis killed and restarted"
    rng = random.Random(seed)
    started = time.monotonic()
    restarts = 0
    with processes.site(workdir, "redis", modes) as site:
        assert site.redis is not None
        outcomes = counting.outcomes(name, "redis", site, trials)
        _start(site)
        site.start_worker()
        load = flows.Load(site.base_url, "outage", lanes=2, interval=0.25)
        with flows.running(load):
            for trial in range(trials):
                time.sleep(rng.uniform(1.0, 2.0))
                site.redis.kill()
                time.sleep(rng.uniform(*down))
                site.redis.start()
                time.sleep(0.5)
                restarts += _ensure_worker(site)
                _progress(name, "redis", f"trial {trial}", started)
            time.sleep(1.0)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        if restarts:
            _note(outcomes, f"the worker died {restarts} times with Redis and was restarted")
        accepted, unanswered = counting.accepted_keys(site, load.started)
        return _finish(outcomes, site, accepted, unanswered, started)


def redis_crash_with_backlog(
    workdir: Path, *, trials: int, modes: Modes = BOTH, events: int = 20
) -> list[Outcome]:
    """No worker, ``events`` events queued, Redis SIGKILLed (no persistence), restarted, a worker.

    Repeated ``trials`` times on one site; the drain at the end counts.
    """
    name = "Redis crash with a backlog queued"
    started = time.monotonic()
    lanes: list[flows.Lane] = []
    with processes.site(workdir, "redis", modes) as site:
        assert site.redis is not None
        outcomes = counting.outcomes(name, "redis", site, trials)
        _start(site)
        for trial in range(trials):
            for worker in site.live_workers():
                worker.terminate(20.0)
            load = flows.Load(site.base_url, "backlog", lanes=2, interval=0.0, limit=events // 2)
            load.start()
            load.join(60.0)
            lanes += load.started
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
            time.sleep(1.0)  # the relay has handed the durable rows to Redis by then
            site.redis.kill()
            time.sleep(0.5)
            site.redis.start()
            site.start_worker()
            _progress(name, "redis", f"trial {trial}", started)
        accepted, unanswered = counting.accepted_keys(site, lanes)
        return _finish(outcomes, site, accepted, unanswered, started)


# ---------------------------------------------------------------------- the web process


def _die_after_commit(site: Site) -> str:
    """``POST /faults/commit/<key>/?die=1``: the server dies right after COMMIT; the key."""
    key = uuid.uuid4().hex
    with contextlib.suppress(httpx.TransportError):
        httpx.post(f"{site.base_url}/faults/commit/{key}/?die=1", timeout=30)
        raise AssertionError("the commit view answered: it should have died")
    assert site.server is not None
    site.server.popen.wait(10)
    return key


def _killer(
    load: flows.Load, site: Site, after: int, keys: list[str]
) -> Callable[[flows.Lane], None]:
    """An ``on_accept``: once ``after`` resets are answered, the server dies after a COMMIT.

    Called in the lane that got the answer, right after it: the other lane's
    request is in flight. The relay is SIGKILLed just after.
    """
    lock = threading.Lock()

    def kill(_lane: flows.Lane) -> None:
        with lock:
            if load.accepted() >= after and not keys:
                keys.append(_die_after_commit(site))
                if site.relay is not None:
                    site.relay.kill()

    return kill


def web_deaths(
    workdir: Path, backend: str, *, trials: int, modes: Modes = BOTH, seed: int = 14
) -> list[Outcome]:
    """The web process (and the relay) SIGKILLed, then restarted, ``trials`` times.

    Two lanes of regstack flows run; right after the k-th answer (k random,
    3-20), the lane that got it sends ``POST /faults/commit/<key>/?die=1``
    (:mod:`.urls`): the process dies in its first on-commit callback, right
    after COMMIT and before the enqueue, with the other lane's request in
    flight; the relay is SIGKILLed next. Two outcomes per entry: the events
    answered just before each death, and the committed transactions. A
    worker runs throughout.
    """
    name_answered = "web killed right after answering"
    name_committed = "web killed right after COMMIT"
    rng = random.Random(seed)
    started = time.monotonic()
    lanes: list[flows.Lane] = []
    attempted: list[str] = []
    with processes.site(workdir, backend, modes) as site:
        answered = counting.outcomes(name_answered, backend, site, trials)
        committed = counting.outcomes(name_committed, backend, site, trials)
        site.start_worker()
        for trial in range(trials):
            _start(site)
            _ensure_worker(site)
            _progress(name_committed, backend, f"trial {trial}: server up", started)
            keys: list[str] = []
            load = flows.Load(site.base_url, "web", lanes=2, interval=0.05)
            load.on_accept = _killer(load, site, rng.randint(3, 20), keys)
            load.start()
            load.join(60.0)
            lanes += load.started
            assert site.server is not None
            if site.server.alive() or not keys:
                raise AssertionError(f"the server did not die: {load.errors()}\n{site.logs()}")
            attempted += keys
        _start(site)
        accepted, unanswered = counting.accepted_keys(site, lanes)
        keys = counting.committed_keys(site)
        if set(keys) != set(attempted):
            _note(committed, f"{len(attempted) - len(keys)} transactions did not commit")
        _finish(committed, site, keys, [], started, (*accepted, *unanswered))
        _finish(answered, site, accepted, unanswered, started, tuple(keys), drained=True)
        return [*answered, *committed]


# ---------------------------------------------------------------------- smoke


def smoke(workdir: Path, backend: str, *, modes: Modes = BOTH) -> list[Outcome]:
    """Every failure once on one site (the default run's test).

    While two lanes fire: a worker SIGKILLed mid-flow, the next SIGTERMed, and
    on Redis, Redis SIGKILLed and restarted; then the Django view dies right
    after COMMIT, and the relay is SIGKILLed and restarted (the server stays
    down: delivery needs the relay and a worker only). Outcomes: the flows'
    and the commit's, per entry. A 3 s lease, 4 events per second, and a
    drain that ends when the durable entry has everything (today's entry's
    counts are then a lower bound: only its COMMIT loss is asserted).
    """
    name_flows = "smoke: worker SIGKILL + SIGTERM" + (", Redis kill" if backend == "redis" else "")
    name_commit = "smoke: web killed right after COMMIT"
    started = time.monotonic()
    with processes.site(workdir, backend, modes, lease=SMOKE_LEASE) as site:
        flows_outcomes = counting.outcomes(name_flows, backend, site, 1)
        commit_outcomes = counting.outcomes(name_commit, backend, site, 1)
        _start(site)
        _progress(name_flows, backend, "site up", started)
        first = site.start_worker(HANDLER_SECONDS[0])
        load = flows.Load(site.base_url, "smoke", lanes=2, interval=0.5)
        with flows.running(load):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                _wait(
                    f"{first.name} delivers", lambda w=first: site.delivered_by(w.pid) > 0, 60, site
                )
                upcoming = site.start_worker(HANDLER_SECONDS[1])
                time.sleep(0.2)
                if sig == signal.SIGKILL:
                    first.kill()
                else:
                    first.terminate(20.0)
                first = upcoming
                _progress(name_flows, backend, f"{sig.name} sent", started)
            if site.redis is not None:
                site.redis.kill()
                time.sleep(1.0)
                site.redis.start()
                time.sleep(1.0)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        _die_after_commit(site)
        _progress(name_flows, backend, "died after COMMIT", started)
        if site.relay is not None:  # the relay dies too and restarts (the server need not)
            site.relay.kill()
            site.start_relay()
        _ensure_worker(site)
        accepted, unanswered = counting.accepted_keys(site, load.started)
        keys = counting.committed_keys(site)
        if not keys:
            _note(commit_outcomes, "the transaction did not commit")
        # Drained once the durable entry has everything: today's losses never arrive.
        wait_for = ("durable",) if site.durable else None
        _finish(flows_outcomes, site, accepted, unanswered, started, tuple(keys), wait_for=wait_for)
        _finish(commit_outcomes, site, keys, [], started, (*accepted, *unanswered), drained=True)
        return [*flows_outcomes, *commit_outcomes]
