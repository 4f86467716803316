"""The failure scenarios: trial loops on one site each, bounded in count and time.

Each function builds a fresh :class:`~.processes.Site` for one backend,
durable or not, runs ``trials`` faults while events flow, then drains (one
healthy worker, the relay when durable, until every accepted event is
delivered or nothing new arrives for a while, never longer than
:data:`DRAIN_SECONDS`) and returns the :class:`~.counting.Outcome`. Every
process is killed on the way out, whatever happened.

Random moments come from ``random.Random(seed)``: a run is reproducible in
its choices (not in the machine's timing).
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

from tests.project.faults import counting, flows, processes
from tests.project.faults.counting import Outcome
from tests.project.faults.processes import Site

DRAIN_SECONDS = 90.0
#: How long the drain waits without a new delivery before it calls the rest lost:
#: durable entries wait out a lease (3 s) and the relay's backoff (2 s) first.
QUIET_SECONDS = {False: 5.0, True: 12.0}
UP_SECONDS = 45.0
#: The two handler speeds the worker trials alternate: a 50 ms handler, an instant one.
HANDLER_SECONDS = (0.05, 0.0)


def _wait(what: str, condition: Callable[[], bool], seconds: float, site: Site) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s\n{site.logs()}")
        time.sleep(0.05)


def drain(site: Site, keys: set[str], *, durable: bool, seconds: float = DRAIN_SECONDS) -> float:
    """Wait for ``keys`` to be delivered (bounded, see the module docstring); the time taken."""
    started = time.monotonic()
    quiet = QUIET_SECONDS[durable]
    seen, changed = -1, started
    while time.monotonic() - started < seconds:
        rows = site.deliveries()
        if keys <= {key for key, *_ in rows}:
            break
        if len(rows) != seen:
            seen, changed = len(rows), time.monotonic()
        elif time.monotonic() - changed > quiet:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a late duplicate still shows up
    return time.monotonic() - started


def _progress(outcome: Outcome, what: str, started: float) -> None:
    """One line on stderr per step when ``FAULTS_VERBOSE`` is set (pytest shows it on failure)."""
    if os.environ.get("FAULTS_VERBOSE"):
        mode = "durable" if outcome.durable else "today"
        elapsed = time.monotonic() - started
        print(
            f"[{outcome.scenario}, {outcome.backend}, {mode}] {what} at {elapsed:.1f} s",
            file=sys.stderr,
        )


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
    outcome: Outcome,
    site: Site,
    accepted: list[str],
    unanswered: list[str],
    started: float,
    others: list[str] = (),  # type: ignore[assignment]
) -> Outcome:
    if site.durable and (site.relay is None or not site.relay.alive()):
        site.start_relay()
    _ensure_worker(site)
    _progress(outcome, "draining", started)
    drain(site, {*accepted, *others}, durable=site.durable)
    counting.count(outcome, site, accepted, unanswered, others)
    outcome.seconds = time.monotonic() - started
    return outcome


# ---------------------------------------------------------------------- worker deaths


def worker_deaths(
    workdir: Path,
    backend: str,
    *,
    durable: bool,
    sig: signal.Signals,
    trials: int,
    seed: int = 14,
    lanes: int = 2,
    interval: float = 0.12,
) -> Outcome:
    """A worker SIGKILLed or SIGTERMed at a random moment, ``trials`` times, while events flow.

    Trial ``n``'s worker (handlers of 50 ms on even trials, instant on odd
    ones) is waited for until it has delivered once (it is up and busy); the
    next trial's worker is started then (so it starts up while this one
    works: two workers side by side, as in a rolling deploy); after a random
    0-0.5 s more, ``sig`` goes to this one; a SIGTERMed worker gets 20 s to
    exit by itself. Two lanes fire about 16 events per second throughout.
    """
    name = "worker SIGKILL" if sig == signal.SIGKILL else "worker SIGTERM"
    outcome = Outcome(name, backend, durable, trials)
    rng = random.Random(seed)
    started = time.monotonic()
    with processes.site(workdir, backend, durable=durable) as site:
        _start(site)
        _progress(outcome, "site up", started)
        load = flows.Load(site.base_url, "worker", lanes=lanes, interval=interval)
        with flows.running(load):
            unclean = 0
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
                time.sleep(rng.uniform(0.0, 0.5))
                if sig == signal.SIGKILL:
                    worker.kill()
                else:
                    code, by_itself = worker.terminate(20.0)
                    unclean += (not by_itself) or code != 0
                _progress(outcome, f"trial {trial}", started)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        if unclean:
            outcome.notes.append(f"{unclean} SIGTERMed workers did not exit cleanly in 20 s")
        accepted, unanswered = counting.accepted_keys(site, load.started)
        return _finish(outcome, site, accepted, unanswered, started)


# ---------------------------------------------------------------------- Redis


def redis_outages(
    workdir: Path,
    *,
    durable: bool,
    trials: int,
    seed: int = 14,
    down: tuple[float, float] = (1.0, 3.0),
) -> Outcome:
    """Redis SIGKILLed (no persistence: its queue is gone) and restarted during HTTP flows.

    One worker runs throughout (restarted if it dies, like a supervisor
    would); each trial waits 1-2 s of flow, kills Redis, keeps it down for
    ``down`` seconds (random), and starts it again on the same port.
    """
    outcome = Outcome("Redis killed and restarted", "redis", durable, trials)
    rng = random.Random(seed)
    started = time.monotonic()
    restarts = 0
    with processes.site(workdir, "redis", durable=durable) as site:
        assert site.redis is not None
        _start(site)
        site.start_worker()
        load = flows.Load(site.base_url, "outage", lanes=2, interval=0.12)
        with flows.running(load):
            for _trial in range(trials):
                time.sleep(rng.uniform(1.0, 2.0))
                site.redis.kill()
                time.sleep(rng.uniform(*down))
                site.redis.start()
                time.sleep(0.5)
                restarts += _ensure_worker(site)
            time.sleep(1.0)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        if restarts:
            outcome.notes.append(f"the worker died {restarts} times with Redis and was restarted")
        accepted, unanswered = counting.accepted_keys(site, load.started)
        return _finish(outcome, site, accepted, unanswered, started)


def redis_crash_with_backlog(
    workdir: Path, *, durable: bool, trials: int, events: int = 20
) -> Outcome:
    """No worker, ``events`` events queued, Redis SIGKILLed (no persistence), restarted, a worker.

    Repeated ``trials`` times on one site; the drain at the end counts.
    """
    outcome = Outcome("Redis crash with a backlog", "redis", durable, trials)
    started = time.monotonic()
    lanes: list[flows.Lane] = []
    with processes.site(workdir, "redis", durable=durable) as site:
        assert site.redis is not None
        _start(site)
        for _trial in range(trials):
            for worker in site.live_workers():
                worker.terminate(20.0)
            load = flows.Load(site.base_url, "backlog", lanes=2, interval=0.0, limit=events // 2)
            load.start()
            load.join(60.0)
            lanes += load.started
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
            time.sleep(1.0)  # durable: the relay has handed the rows to Redis by then
            site.redis.kill()
            time.sleep(0.5)
            site.redis.start()
            site.start_worker()
            time.sleep(1.0)
        accepted, unanswered = counting.accepted_keys(site, lanes)
        return _finish(outcome, site, accepted, unanswered, started)


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
    request is in flight. The relay (when durable) is SIGKILLed just after.
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
    workdir: Path, backend: str, *, durable: bool, trials: int, seed: int = 14
) -> tuple[Outcome, Outcome]:
    """The web process (and the relay) SIGKILLed, then restarted, ``trials`` times.

    Two lanes of regstack flows run; right after the k-th answer (k random,
    3-20), the lane that got it sends ``POST /faults/commit/<key>/?die=1``
    (:mod:`.urls`): the process dies in its first on-commit callback, right
    after COMMIT and before the enqueue, with the other lane's request in
    flight; the relay (durable) is SIGKILLed next. Two outcomes: the events
    answered just before each death, and the committed transactions. A
    worker runs throughout.
    """
    answered = Outcome("web killed right after answering", backend, durable, trials)
    committed = Outcome("web killed right after COMMIT", backend, durable, trials)
    rng = random.Random(seed)
    started = time.monotonic()
    lanes: list[flows.Lane] = []
    attempted: list[str] = []
    with processes.site(workdir, backend, durable=durable) as site:
        site.start_worker()
        for trial in range(trials):
            _start(site)
            _ensure_worker(site)
            _progress(committed, f"trial {trial}: server up", started)
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
            committed.notes.append(f"{len(attempted) - len(keys)} transactions did not commit")
        _finish(committed, site, keys, [], started, others=[*accepted, *unanswered])
        counting.count(answered, site, accepted, unanswered, others=keys)
        answered.seconds = committed.seconds
        return answered, committed


# ---------------------------------------------------------------------- smoke


def smoke(workdir: Path, backend: str, *, durable: bool) -> tuple[Outcome, Outcome]:
    """Every failure once on one site (the default run's test): ``(flows, commit)`` outcomes.

    While two lanes fire: a worker SIGKILLed mid-flow, the next SIGTERMed, and
    on Redis, Redis SIGKILLed and restarted; then the Django view dies right
    after COMMIT, and the relay is SIGKILLed and restarted (the server stays
    down: delivery needs the relay and a worker only).
    """
    flows_outcome = Outcome("smoke: worker SIGKILL + SIGTERM, Redis kill", backend, durable, 1)
    commit_outcome = Outcome("smoke: web killed right after COMMIT", backend, durable, 1)
    started = time.monotonic()
    with processes.site(workdir, backend, durable=durable) as site:
        _start(site)
        _progress(flows_outcome, "site up", started)
        first = site.start_worker(HANDLER_SECONDS[0])
        load = flows.Load(site.base_url, "smoke", lanes=2, interval=0.05)
        with flows.running(load):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                _wait(
                    f"{first.name} delivers", lambda w=first: site.delivered_by(w.pid) > 0, 45, site
                )
                upcoming = site.start_worker(HANDLER_SECONDS[1])
                time.sleep(0.2)
                first.kill() if sig == signal.SIGKILL else first.terminate(20.0)
                first = upcoming
                _progress(flows_outcome, f"{sig.name} sent", started)
            if site.redis is not None:
                site.redis.kill()
                time.sleep(1.0)
                site.redis.start()
                time.sleep(1.0)
            if load.errors():
                raise AssertionError(f"the load failed: {load.errors()}\n{site.logs()}")
        _die_after_commit(site)
        _progress(flows_outcome, "died after COMMIT", started)
        if site.relay is not None:  # the relay dies too and restarts (the server need not)
            site.relay.kill()
            site.start_relay()
        _ensure_worker(site)
        accepted, unanswered = counting.accepted_keys(site, load.started)
        keys = counting.committed_keys(site)
        _finish(flows_outcome, site, accepted, unanswered, started, others=keys)
        counting.count(commit_outcome, site, keys, others=[*accepted, *unanswered])
        commit_outcome.seconds = flows_outcome.seconds
        if not keys:
            commit_outcome.notes.append("the transaction did not commit")
        return flows_outcome, commit_outcome
