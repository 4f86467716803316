"""A process of its own for the PostgreSQL connection tests: fires, counted in backends.

``python -m tests.pool.pg_burst created|burst`` with ``tests.pool.pg_site``'s environment.
It creates Django's test database as the test runner does, runs the scenario, drops
the test database, and prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: Concurrent fires per burst (the issue's 30).
FIRES = 30
#: How long after a burst the backends are counted.
SETTLE = 1.0
#: Bound of one burst, in seconds.
BURST_TIMEOUT = 60.0


def _receivers() -> dict[str, Callable[..., Any]]:
    from tests.testapp.models import Delivery

    def sync_write(sender: object, **kwargs: Any) -> None:
        Delivery.objects.create(event="user_registered", receiver="sync")

    async def async_write(sender: object, **kwargs: Any) -> None:
        await Delivery.objects.acreate(event="user_registered", receiver="async")

    return {"sync": sync_write, "async": async_write}


def created() -> dict[str, Any]:
    """After the test database was created in this thread, fire from sync code here."""
    from asgiref.sync import async_to_sync
    from django.db import connection

    from regstack_django import get_registry, signals
    from tests.testapp.models import Delivery

    receivers = _receivers()
    for receiver in receivers.values():
        signals.user_registered.connect(receiver, weak=False)
    error = None
    try:
        async_to_sync(get_registry().fire)("user_registered", user="u")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    rows = sorted(Delivery.objects.values_list("receiver", flat=True))
    connection.close()
    return {"error": error, "rows": rows}


class Sampler(threading.Thread):
    """Poll this process's backends until stopped; keep the highest count."""

    def __init__(self, server: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.application_name = application_name
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        with psycopg.connect(self.server, application_name="regstack-test-sampler") as conn:
            conn.autocommit = True
            deadline = time.monotonic() + BURST_TIMEOUT
            while not self.stop.is_set() and time.monotonic() < deadline:
                row = conn.execute(query, (self.application_name,)).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self.stop.wait(0.005)


def _wait_for_no_backends(server: str, app: str) -> None:
    """Give closed connections' backends a moment to leave pg_stat_activity (bounded)."""
    from tests.pool.postgres import backends

    deadline = time.monotonic() + BURST_TIMEOUT
    while backends(server, app) and time.monotonic() < deadline:
        time.sleep(0.05)


def burst() -> dict[str, Any]:
    """30 concurrent ``await fire`` outside a request, per receiver mix: backends counted."""
    from django.conf import settings
    from django.db import connection

    from regstack_django import get_registry, signals
    from regstack_django.pool.process import current_pool
    from tests.pool.postgres import backends
    from tests.testapp.models import Delivery

    server = os.environ["REGSTACK_TEST_POSTGRES"]
    app = os.environ["CONNECTIONS_APP"]
    registry = get_registry()
    receivers = _receivers()
    found: dict[str, Any] = {}
    for mix, names in {"sync": ["sync"], "mixed": ["sync", "async"], "async": ["async"]}.items():
        connection.close()
        chosen = [receivers[name] for name in names]
        for receiver in chosen:
            signals.user_registered.connect(receiver, weak=False)
        before = backends(server, app)
        sampler = Sampler(server, app)
        sampler.start()

        async def fires() -> None:
            calls = [registry.fire("user_registered", user="u") for _ in range(FIRES)]
            await asyncio.wait_for(asyncio.gather(*calls), BURST_TIMEOUT)

        asyncio.run(fires())
        sampler.stop.set()
        sampler.join(BURST_TIMEOUT)
        time.sleep(SETTLE)
        after = backends(server, app)
        for receiver in chosen:
            signals.user_registered.disconnect(receiver)
        rows = Delivery.objects.count()
        Delivery.objects.all().delete()
        connection.close()
        found[mix] = {"before": before, "peak": sampler.peak, "after": after, "rows": rows}
        pool = current_pool()
        if pool is not None and settings.DATABASES["default"]["CONN_MAX_AGE"]:
            pool.shutdown()  # the next mix starts from no connection; with 0 none is left
            _wait_for_no_backends(server, app)
    return found


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.pool.pg_site")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from regstack_django.pool.process import current_pool

    scenario = {"created": created, "burst": burst}[argv[0]]
    name = settings.DATABASES["default"]["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    result: dict[str, Any] = {"scenario": argv[0]}
    try:
        result["found"] = scenario()
    finally:
        # No pool shutdown first: with CONN_MAX_AGE = 0 nothing may hold the database.
        if settings.DATABASES["default"]["CONN_MAX_AGE"] and current_pool() is not None:
            current_pool().shutdown()  # type: ignore[union-attr]
        try:
            connection.creation.destroy_test_db(name, verbosity=0)
            result["dropped"] = "yes"
        except Exception as exc:
            result["dropped"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
