"""The pytest plugin, as a project's test run sees it (an inner pytest run via pytester).

The plugin is loaded through the package's ``pytest11`` entry point, exactly
as in a project that installed regstack-django; nothing here passes
``-p regstack_django.testing.plugin``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROJECT = Path(__file__).resolve().parents[2]

INNER_CAPTURE = """
from types import SimpleNamespace

from regstack_django import get_registry

USER = SimpleNamespace(email="ada@example.com")


def test_regstack_events_records_the_test_s_fires(regstack_events):
    registry = get_registry()
    registry.fire_sync("user_registered", user=USER)
    registry.fire_sync("user_logged_in", user=USER)
    assert regstack_events.events == ["user_registered", "user_logged_in"]
    assert regstack_events.of("user_logged_in")[0].sender is registry
    assert regstack_events.of("user_logged_in")[0].kwargs == {"user": USER}


def test_each_test_gets_a_fresh_capture(regstack_events):
    assert regstack_events == []
"""

INNER_FAIL_LOUD = """
from types import SimpleNamespace

import pytest
from django.dispatch import receiver

from regstack_django import get_registry, signals
from regstack_django.testing import muted

USER = SimpleNamespace(email="ada@example.com")


@receiver(signals.user_registered)
def broken_welcome_mail(sender, **kwargs):
    raise RuntimeError("the mail server is down")


def test_forgets_to_mute_the_broken_receiver(regstack_fail_loud):
    get_registry().fire_sync("user_registered", user=USER)


def test_mutes_the_broken_receiver(regstack_fail_loud, regstack_events):
    with muted("user_registered"):
        get_registry().fire_sync("user_registered", user=USER)
    assert regstack_events.events == ["user_registered"]


def test_without_fail_loud_the_failure_is_only_logged():
    get_registry().fire_sync("user_registered", user=USER)
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose subprocess finds ``tests.settings`` and autoloads plugins."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pythonpath = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT), pythonpath])))
    return pytester


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--ds=tests.settings", "-p", "no:cacheprovider", "-ra")


def test_plugin_is_registered_through_the_entry_point(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("--ds=tests.settings", "--fixtures")
    result.stdout.fnmatch_lines(["*regstack_events*", "*regstack_fail_loud*"])
    assert result.ret == pytest.ExitCode.OK


def test_regstack_events_fixture(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_inner_capture=INNER_CAPTURE)
    result = run(inner)
    result.assert_outcomes(passed=2)


def test_fail_loud_fails_a_test_that_forgets_to_mute_a_broken_receiver(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_inner_fail_loud=INNER_FAIL_LOUD)
    result = run(inner)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_inner_fail_loud.py::test_forgets_to_mute_the_broken_receiver*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ExceptionGroup: 1 receiver(s) of regstack event 'user_registered' failed: "
            "test_inner_fail_loud.broken_welcome_mail*",
        ]
    )
    result.stdout.fnmatch_lines(["*RuntimeError: the mail server is down*"])


def test_plugin_module_imports_without_django_settings(inner: pytest.Pytester) -> None:
    result = inner.run(
        sys.executable,
        "-c",
        "import regstack_django.testing.plugin as p; "
        "from django.conf import settings; assert not settings.configured; print('ok')",
    )
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["ok"])
