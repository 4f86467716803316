"""The switch: its checks, and the hot path's one flag (no OpenTelemetry import when off).

These run on every leg: they need no SDK.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from regstack_django.checks import messages
from regstack_django.checks.registered import check_opentelemetry_setting
from regstack_django.observability import switch

REPO = Path(__file__).resolve().parents[2]


def ids(**settings: object) -> list[str]:
    with override_settings(**settings):
        return [m.id for m in check_opentelemetry_setting() if m.id]


def test_a_value_that_is_not_a_bool_is_e040() -> None:
    assert ids(REGSTACK_OPENTELEMETRY="yes") == [messages.E050]
    assert ids(REGSTACK_OPENTELEMETRY=1) == [messages.E050]
    assert ids(REGSTACK_OPENTELEMETRY=False) == []
    with override_settings(REGSTACK_OPENTELEMETRY="yes"):
        assert switch.on is False  # only True turns it on


def test_on_without_opentelemetry_is_e041_and_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(switch, "installed", lambda: False)
    assert ids(REGSTACK_OPENTELEMETRY=True) == [messages.E051]
    with override_settings(REGSTACK_OPENTELEMETRY=True):
        assert switch.on is False
        (problem,) = check_opentelemetry_setting()
    assert "REGSTACK_OPENTELEMETRY is True" in problem.msg
    assert "regstack-django[otel]" in (problem.hint or "")


def test_the_check_is_registered() -> None:
    from django.core.checks import run_checks

    with override_settings(REGSTACK_OPENTELEMETRY="on"):
        assert messages.E050 in [m.id for m in run_checks()]


def test_off_a_fire_and_a_request_import_no_opentelemetry() -> None:
    code = (
        "import sys, django; from django.conf import settings; "
        "settings.configure(INSTALLED_APPS=['regstack_django'], USE_TZ=True); django.setup(); "
        "from regstack_django import HookRegistry, signals; "
        "signals.mfa_enabled.connect(lambda sender, **kw: None, weak=False); "
        "HookRegistry().fire_sync('mfa_enabled', user=None); "
        "import asyncio; from regstack_django.hosting.request import RequestContextMiddleware; "
        "app = RequestContextMiddleware(lambda scope, receive, send: asyncio.sleep(0)); "
        "asyncio.run(app({'type': 'http', 'headers': []}, None, None)); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry') "
        "or m.startswith('regstack_django.observability')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == "['regstack_django.observability', 'regstack_django.observability.switch']"
    )
