"""A background handler run by a real ``db_worker`` continues the trace of the fire that queued it.

Three processes on one SQLite dir: ``migrate``, the fire (inside a caller's span), then
``db_worker --batch``; each writes its spans as JSON lines (the console exporter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("django_tasks_db")

pytestmark = [pytest.mark.regstack, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HANDLER = "tests.observability.traced_site_hooks.welcome"


def run(var: Path, spans: str, *args: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.observability.traced_site",
        "TRACED_SITE_DIR": str(var),
        "TRACED_SPANS": str(var / spans),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_the_workers_span_for_the_handler_is_in_the_fires_trace(tmp_path: Path) -> None:
    run(tmp_path, "migrate.jsonl", "-m", "django", "migrate", "--verbosity", "0")
    trace_id = run(tmp_path, "web.jsonl", "-m", "tests.observability.traced_site_hooks").strip()
    flags = ("--batch", "--no-startup-delay", "--interval", "0.1")
    run(tmp_path, "worker.jsonl", "-m", "django", "db_worker", *flags)

    web = {s["name"]: s for s in spans(tmp_path / "web.jsonl")}
    fire = web["regstack.fire user_logged_in"]
    enqueue = web[f"regstack.receiver {HANDLER}"]
    assert fire["context"]["trace_id"] == f"0x{trace_id}"
    assert enqueue["parent_id"] == fire["context"]["span_id"]

    (worker,) = [s for s in spans(tmp_path / "worker.jsonl") if s["name"].startswith("regstack.")]
    assert worker["name"] == f"regstack.deliver {HANDLER}"
    assert worker["kind"] == "SpanKind.CONSUMER"
    assert worker["context"]["trace_id"] == f"0x{trace_id}"
    assert worker["parent_id"] == enqueue["context"]["span_id"]
    assert worker["attributes"]["regstack.outcome"] == "ok"
    assert worker["attributes"]["regstack.mode"] == "background"
    # The handler ran inside that span; no span carries the user's address or hash.
    assert (tmp_path / "handler.txt").read_text() == trace_id
    everything = (tmp_path / "web.jsonl").read_text() + (tmp_path / "worker.jsonl").read_text()
    assert "traced@example.com" not in everything
    assert "argon2" not in everything
