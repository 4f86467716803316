"""The scale-out leg: the testproject on Redis-backed Tasks backends with real workers.

Exactly-once delivery, no secret in Redis, graceful stops, Redis down at fire time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator

import django
import pytest

from support import scale_out as harness
from support.redis_server import SKIP_REASON, RedisServer, on_ci, redis_server_path
from support.scale_out import Site

if django.VERSION < (6, 0):
    pytest.skip("the scale-out leg needs Django 6.x", allow_module_level=True)

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

HANDLER = "testproject.audit.hooks.record_delivery"
RESETS = 20  # reset requests per user: 23 events per user, for 2 password hashes
BACKLOG_USERS = 10  # produced before any worker runs: the stored queue is inspected
LIVE_USERS = 12  # produced while two workers deliver (with the backlog: 506 events)
STOP_USERS = 6  # produced while one of the two workers is stopped
DELIVERY_TIMEOUT = 60.0


def _unavailable(reason: str) -> None:
    """Skip locally; under CI the scale-out leg must run, so fail instead."""
    if on_ci():
        missing = reason.removeprefix("scale-out leg skipped: ")
        pytest.fail(f"{missing}: CI must run the scale-out leg", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module", params=harness.BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """One backend's site for the module: its own Redis, migrated, uvicorn up, no worker.

    Module-scoped (one Redis, one migrate, one server start per backend) to keep
    the leg within its time budget; the tests below run in file order on it.
    A skip when ``redis-server`` or a package is missing; a failure under CI.
    """
    missing = [
        name
        for name in ("django_tasks_redis", "django_tasks_celery", "celery", "redis")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        _unavailable(
            f"scale-out leg skipped: {', '.join(missing)} not installed "
            "(the 'scaleout' dependency group)"
        )
    if redis_server_path() is None:
        _unavailable(SKIP_REASON)
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"scale-out-{backend}")
    with (
        RedisServer(workdir / "redis") as redis_server,
        harness.running_site(workdir / "site", backend, redis_server) as running,
    ):
        yield running


def _expect_exactly(delivered: Counter[harness.Key], fired: Counter[harness.Key]) -> None:
    """Every fired ``(event, email)`` delivered as often as it fired; nothing else."""
    missing = fired - delivered
    extra = delivered - fired
    assert not missing, f"{sum(missing.values())} deliveries missing, e.g. {list(missing)[:3]}"
    assert not extra, f"{sum(extra.values())} extra deliveries, e.g. {list(extra)[:3]}"


def _batch(rows: list[tuple[str, str, int]], tag: str) -> list[tuple[str, str, int]]:
    return [row for row in rows if row[1].startswith(f"{tag}-")]


def _assert_queue_holds_no_secret(site: Site) -> str:
    stored = harness.redis_contents(site.redis_url)
    tokens = harness.reset_link_tokens(site.server_log())
    hashes = harness.password_hashes(site.var_dir)
    assert len(tokens) >= BACKLOG_USERS * RESETS  # the links really were e-mailed
    assert len(hashes) >= BACKLOG_USERS
    # The payload is there (so the search below searches something) ...
    assert "url_without_token" in stored
    assert "regstack_django.worker.deliver" in stored
    assert '"version": 2, "event": ' in stored  # a signed task message, decoded
    assert "backlog-0@example.com" in stored
    if site.backend == "celery":  # its message bodies are base64: searched decoded too
        assert "  decoded: " in stored
    # ... and no secret is.
    leaked_tokens = [token for token in tokens if token in stored]
    leaked_hashes = [value for value in hashes if value in stored]
    assert not leaked_tokens, f"{len(leaked_tokens)} live reset tokens stored in Redis"
    assert not leaked_hashes, f"{len(leaked_hashes)} password hashes stored in Redis"
    assert "hashed_password" not in stored
    assert "$argon2" not in stored
    return stored


def _assert_each_redis_task_ran_once(redis_url: str, expected: int) -> None:
    """django-tasks-redis keeps a record per task: each SUCCESSFUL, run by one worker."""
    import json

    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        records = [client.hgetall(key) for key in client.scan_iter(match="django_tasks:*:result:*")]
    finally:
        client.close()
    assert len(records) == expected
    assert Counter(record["status"] for record in records) == {"SUCCESSFUL": expected}
    assert all(len(json.loads(record["worker_ids_json"])) == 1 for record in records)


def test_two_workers_deliver_every_event_exactly_once(site: Site) -> None:
    started = time.monotonic()
    try:
        _clean_run_then_graceful_stop(site)
    except BaseException:
        print(site.logs())  # shown by pytest for a failing test
        raise
    finally:
        for worker in site.workers:
            assert worker.stop() == 0, worker.log()
    print(f"{site.backend}: scale-out run took {time.monotonic() - started:.1f} s")


def _clean_run_then_graceful_stop(site: Site) -> None:
    backend, redis_url = site.backend, site.redis_url
    # 1. A backlog, no worker yet: what the queue stores, before anything consumes it.
    fired = asyncio.run(
        harness.produce(site.base_url, harness.emails("backlog", BACKLOG_USERS), resets=RESETS)
    )
    _assert_queue_holds_no_secret(site)

    # 2. The clean run: two workers drain the backlog while more load arrives.
    first = site.start_worker("w1")
    second = site.start_worker("w2")
    fired += asyncio.run(
        harness.produce(site.base_url, harness.emails("live", LIVE_USERS), resets=RESETS)
    )
    total = sum(fired.values())
    assert total >= 500
    assert {event for event, _ in fired} == set(harness.EVENTS)
    rows = harness.wait_for_deliveries(site.var_dir, total, DELIVERY_TIMEOUT)
    _expect_exactly(harness.delivered_counts(rows), fired)
    assert {pid for *_, pid in rows} == {first.pid, second.pid}, "both workers deliver"
    if backend == "redis":
        _assert_each_redis_task_ran_once(redis_url, total)

    # 3. One worker stopped gracefully mid-run: the other delivers the rest.
    stop_fired, stopped_with = _produce_and_stop(site, first)
    assert stopped_with == 0, f"worker w1 exited with {stopped_with}:\n{first.log()}"
    stopped_log = first.log()
    if backend == "redis":
        assert "Shutdown complete (no task was interrupted)." in stopped_log
    else:
        assert "Warm shutdown" in stopped_log
    everything = fired + stop_fired
    rows = harness.wait_for_deliveries(site.var_dir, sum(everything.values()), DELIVERY_TIMEOUT)
    _expect_exactly(harness.delivered_counts(rows), everything)
    stop_rows = _batch(rows, "stop")
    by_worker = Counter(pid for *_, pid in stop_rows)
    assert by_worker[first.pid] > 0, "w1 was stopped after it had started on this batch"
    assert by_worker[second.pid] > 0
    assert set(by_worker) == {first.pid, second.pid}
    if backend == "redis":
        _assert_each_redis_task_ran_once(redis_url, sum(everything.values()))


def _produce_and_stop(site: Site, worker: harness.Worker) -> tuple[Counter[harness.Key], int]:
    """Produce the ``stop`` batch; SIGTERM ``worker`` once a third of it is delivered."""
    users = harness.emails("stop", STOP_USERS)
    batch_size = STOP_USERS * harness.events_per_user(RESETS)
    exit_code: list[int] = []

    def stop_when_a_third_is_delivered() -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while time.monotonic() < deadline:
            delivered = _batch(harness.deliveries(site.var_dir), "stop")
            if len(delivered) >= batch_size // 3:
                break
            time.sleep(0.1)
        exit_code.append(worker.stop(timeout=30))

    stopper = threading.Thread(target=stop_when_a_third_is_delivered)
    stopper.start()
    try:
        fired = asyncio.run(harness.produce(site.base_url, users, resets=RESETS))
    finally:
        stopper.join()
    return fired, exit_code[0]


_RECORD_START = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ", re.MULTILINE)


def _error_records(log: str) -> list[str]:
    """The ERROR records of ``regstack_django`` in a process's output, traceback included."""
    starts = [match.start() for match in _RECORD_START.finditer(log)] + [len(log)]
    records = [log[a:b] for a, b in itertools.pairwise(starts)]
    return [record for record in records if record.startswith("ERROR regstack_django: ")]


def test_redis_down_at_fire_time(site: Site) -> None:
    """The auth flow succeeds; one ERROR per event names event and handler, not the payload."""
    for worker in site.workers:  # none left running by the test above; stop any
        worker.stop()
    site.redis.stop()
    log_before = site.server_log()
    started = time.monotonic()
    fired = asyncio.run(harness.produce(site.base_url, ["down-0@example.com"], resets=1))
    elapsed = time.monotonic() - started
    assert sum(fired.values()) == 4  # every HTTP step answered as usual
    assert elapsed < 20, f"the four requests took {elapsed:.1f} s with Redis down"

    time.sleep(0.5)  # let the server's last lines reach its log file
    log = site.server_log()[len(log_before) :]
    errors = _error_records(log)
    headlines = Counter(record.splitlines()[0] for record in errors)
    assert headlines == {
        f"ERROR regstack_django: Receiver {HANDLER} failed on regstack event {event!r}.": 1
        for event in harness.EVENTS
    }, log[-3000:]
    tokens = harness.reset_link_tokens(log)
    hashes = harness.password_hashes(site.var_dir)
    assert tokens
    assert hashes
    for record in errors:
        assert "down-0@example.com" not in record
        assert not any(token in record for token in tokens)
        assert not any(value in record for value in hashes)
        assert "url_without_token" not in record
        assert "Connection refused" in record  # it does say why

    # Redis back: the next events are queued again, with no restart.
    site.redis.start()
    asyncio.run(harness.produce(site.base_url, ["back-0@example.com"], resets=1))
    stored = harness.redis_contents(site.redis_url)
    assert "back-0@example.com" in stored
    assert "down-0@example.com" not in stored  # lost: see docs/scaling-out.md
