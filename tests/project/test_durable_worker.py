"""Durable delivery and a distrustful worker, with real processes (``db_worker``, the relay)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from regstack_django.models import OutboxEvent
from testproject.audit.models import AuditEvent
from tests.project.test_worker import (
    MANAGE,
    PROBE,
    REPO,
    STARTUP_SECONDS,
    Site,
    _stop,
    make_site,
)

__all__ = ["make_site"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

LEASE = 2.0

FORGE = """
import json
from regstack_django.envelope import seal
from regstack_django.serialize import encode
from regstack_django.worker import deliver

payload = encode("user_logged_in", object(), {})
payload["kwargs"] = {"user": {
    "id": "u1", "email": "forged@example.com", "full_name": None, "phone_number": None,
    "is_active": True, "is_verified": True, "is_superuser": False, "is_mfa_enabled": False,
    "created_at": "2026-01-02T00:00:00+00:00", "updated_at": None, "last_login": None}}
probe = "testproject.audit.hooks.record_delivery"
valid = seal(probe, False, payload)
ids = {
    # first in the queue: its row's args_kwargs becomes {} below (django-tasks-db's bug)
    "empty_row": valid,
    # an inline (not background) handler of the event: it would forge an audit row
    "not_background": seal("testproject.audit.hooks.record_login", False, payload),
    "a_module": seal("testproject.audit.hooks", False, payload),
    "unsigned": json.dumps({"handler": probe, "durable": False, "payload": payload}),
    "tampered": valid.replace("Im", "Ix", 1),
    "unknown_event": seal(probe, False, {**payload, "event": "user_teleported"}),
    "extra_key": seal(probe, False, {**payload, "kwargs": {**payload["kwargs"], "x": 1}}),
    "missing_key": seal(probe, False, {**payload, "kwargs": {}}),
    "no_arguments": valid,  # its row's args_kwargs is emptied below
}
ids = {name: deliver.enqueue(message).id for name, message in ids.items()}
ids["valid"] = deliver.enqueue(valid).id
print(json.dumps(ids))
"""


FIRE = """
import asyncio
from regstack_django import get_registry

asyncio.run(get_registry().fire(
    "verification_requested",
    email="durable@example.com",
    url="http://127.0.0.1/verify?token=secret-token",
    url_without_token="http://127.0.0.1/verify?token=[REDACTED]",
))
"""


def _task_rows(site: Site) -> dict[uuid.UUID, tuple[str, str]]:
    rows = site.task_results().values_list("id", "status", "exception_class_path")
    return {id_: (status, exc) for id_, status, exc in rows}


def test_a_real_worker_refuses_forged_and_malformed_rows_and_keeps_running(
    make_site: Callable[[float], Site],
) -> None:
    site = make_site(0.0)
    ids = json.loads(site.manage("shell", "-c", FORGE).strip().splitlines()[-1])
    for name, args_kwargs in (("no_arguments", {"args": [], "kwargs": {}}), ("empty_row", {})):
        updated = site.task_results().filter(id=ids[name]).update(args_kwargs=args_kwargs)
        assert updated == 1, name

    def batch() -> subprocess.CompletedProcess[str]:
        worker = ["db_worker", "--batch", "--no-reload", "--no-startup-delay"]
        return subprocess.run(
            [sys.executable, str(MANAGE), *worker],
            env=site.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # args_kwargs = {} never reaches our task: django-tasks-db 0.13's worker reads
    # args_kwargs["args"] itself, records the row FAILED (KeyError), then crashes on the
    # same KeyError in its own error handling (docs/background.md). Restarted, it goes on.
    crashed = batch()
    assert crashed.returncode == 1, crashed.stdout + crashed.stderr
    assert "KeyError: 'args'" in crashed.stderr
    done = batch()
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _task_rows(site)
    by_name = {name: rows[uuid.UUID(id_)] for name, id_ in ids.items()}
    assert by_name.pop("empty_row") == ("FAILED", "builtins.KeyError")
    assert by_name.pop("valid") == ("SUCCESSFUL", "")
    untrusted = {
        "regstack_django.worker.UntrustedTask",
        "regstack_django.envelope.UntrustedMessage",
        "regstack_django.serialize.PayloadError",
    }
    for name, (status, exc) in by_name.items():
        assert status == "FAILED", name
        assert exc in untrusted, (name, exc)
    # Nothing ran but the valid task: one probe row, no forged audit row.
    assert list(site.delivery_rows().values_list("email", flat=True)) == ["forged@example.com"]
    assert AuditEvent.objects.using(site.db).count() == 0
    assert "Traceback" not in done.stderr.split("Task id=")[0]


def _outbox(site: Site) -> list[dict[str, object]]:
    columns = ("event_id", "event", "handler", "attempts", "delivered_at", "last_error")
    return list(OutboxEvent.objects.using(site.db).values(*columns))


def test_durable_sigkill_mid_task_ends_in_a_redelivery_with_the_same_event_id(
    make_site: Callable[[float], Site],
) -> None:
    site = make_site(0.8)  # each probe delivery sleeps 0.8 s before it writes its row
    site.env.update(TESTPROJECT_DURABLE="1", TESTPROJECT_OUTBOX_LEASE=str(LEASE))
    # Fired as regstack's routes fire (a plain event loop, no Django request): two durable
    # entries on verification_requested, so two outbox rows and no task yet. (The HTTP
    # path to the same fire is in test_worker.py; starting a server here would only add time.)
    site.manage("shell", "-c", FIRE)
    assert len(_outbox(site)) == 2
    assert site.statuses() == Counter()
    assert "relay: 2 handed out" in site.manage("regstack_relay", "--once")
    assert site.statuses() == {"READY": 2}

    killed = site.start_worker("worker-killed")
    site.wait_for("a task running", lambda: site.statuses()["RUNNING"] == 1, STARTUP_SECONDS)
    time.sleep(0.3)
    assert _stop(killed, signal.SIGKILL) == -signal.SIGKILL
    assert all(row["delivered_at"] is None for row in _outbox(site))

    # The long-running relay: once both leases run out undelivered, it hands both out again.
    relay = site._spawn(
        "relay", [sys.executable, str(MANAGE), "regstack_relay", "--interval", "0.2"]
    )
    site.wait_for(
        "handed out again", lambda: all(int(r["attempts"]) >= 2 for r in _outbox(site)), 30
    )
    live = site.start_worker("worker-live")
    site.wait_for(
        "both delivered",
        lambda: all(row["delivered_at"] is not None for row in _outbox(site)),
        60,
    )
    site.wait_for("the queue drained", lambda: site.statuses()["READY"] == 0, 30)
    assert _stop(live, signal.SIGTERM) == 0
    assert _stop(relay, signal.SIGTERM) == 0, site.log("relay")
    assert "regstack relay: stopped." in site.log("relay")

    outbox = _outbox(site)
    # At least the two hand-outs above; more if a lease ran out while the live worker
    # worked through the backlog (a redelivery the worker then drops, see below).
    assert all(int(row["attempts"]) >= 2 for row in outbox), outbox
    deliveries = site.delivery_rows().values_list("handler", "event_id", "pid")
    # Each entry's handler finished exactly once, in the live worker, with the row's id.
    assert sorted(handler for handler, _, _ in deliveries) == [
        "record_delivery",
        "record_delivery_with_secrets",
    ]
    assert {event_id for _, event_id, _ in deliveries} == {row["event_id"] for row in outbox}
    assert {pid for _, _, pid in deliveries} == {live.pid}
    assert PROBE in {row["handler"] for row in outbox}


def test_outbox_check_fails_without_a_relay_and_passes_once_a_relay_and_worker_drained(
    make_site: Callable[[float], Site],
) -> None:
    """``regstack_outbox --check`` as a cron or liveness probe runs it: a process and its status."""
    site = make_site(0.0)
    site.env.update(TESTPROJECT_DURABLE="1")

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(MANAGE), "regstack_outbox", "--check"],
            env=site.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    site.manage("shell", "-c", FIRE)
    # Due for an hour: nobody handed them out (as after a relay outage).
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    assert OutboxEvent.objects.using(site.db).update(available_at=long_ago) == 2
    down = check()
    assert down.returncode == 1, down.stdout + down.stderr
    assert "2 outbox row(s) have been due for more than 300s" in down.stderr
    assert "No relay has been seen for 300s (never)" in down.stderr

    assert "relay: 2 handed out" in site.manage("regstack_relay", "--once")
    worker = ["db_worker", "--batch", "--no-reload", "--no-startup-delay"]
    site.manage(*worker)
    assert site.statuses() == {"SUCCESSFUL": 2}
    assert all(row["delivered_at"] is not None for row in _outbox(site))
    # Each row names the django-tasks-db row of its hand-out: a stuck task leads to its handler.
    task_ids = {
        str(id_).replace("-", "") for id_ in site.task_results().values_list("id", flat=True)
    }
    row_tasks = {
        str(t).replace("-", "")
        for t in OutboxEvent.objects.using(site.db).values_list("task_id", flat=True)
    }
    assert row_tasks == task_ids
    up = check()
    assert up.returncode == 0, up.stdout + up.stderr
    assert "OK" in up.stdout
    assert "pending" in site.manage("regstack_outbox")
