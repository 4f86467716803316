"""The project's one ``RegStack``: built from settings on first use, cached, attached.

A change to a setting it reads clears it (``apps._rewire``). docs/hosting.md.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from regstack_django.conf import CONFIG_SETTING, INSTANCE_SETTING, conf
from regstack_django.hosting.build import BuildResult, build

_lock = threading.RLock()
_built: BuildResult | None = None
_building = False
_overrides: list[Any] = []


def get_regstack() -> Any:
    """Return the project's ``RegStack``: built once from settings, attached to Django signals.

    Raise ``ImproperlyConfigured`` when ``regstack_django`` is not installed, when
    neither ``REGSTACK`` nor ``REGSTACK_INSTANCE`` is set, and when the settings are
    wrong (in the words of ``manage.py check``).
    """
    from regstack_django.installed import app_config

    app_config("get_regstack()")
    if _overrides:
        return _overrides[-1]
    built = current()
    if built.regstack is not None:
        return built.regstack
    if not built.problems:
        raise ImproperlyConfigured(
            "regstack_django.get_regstack() needs regstack configured in settings: set "
            f"{CONFIG_SETTING} = {{...}} (RegStackConfig fields; {{}} reads regstack's own "
            f"regstack.toml and environment) or {INSTANCE_SETTING} = 'dotted.path'."
        )
    from regstack_django.hooks.wiring import invalid_settings_message

    raise ImproperlyConfigured(invalid_settings_message(built.errors))


def current() -> BuildResult:
    """Return the cached :func:`.build.build` result, building it if there is none."""
    global _built, _building  # the process-wide instance, like Django's own connections
    with _lock:
        if _built is None:
            if _building:  # only the building thread gets here: the lock is held
                raise ImproperlyConfigured(
                    f"{INSTANCE_SETTING}'s callable called regstack_django.get_regstack() "
                    "while it was being built: return the RegStack instead."
                )
            _building = True
            try:
                _built = build()
            finally:
                _building = False
        return _built


def reset() -> None:
    """Forget the instance, so the next :func:`get_regstack` reads the settings again."""
    global _built
    with _lock:
        _built = None


def problems() -> list[CheckMessage]:
    """Return every problem of ``REGSTACK`` / ``REGSTACK_INSTANCE``, as check messages."""
    return list(current().problems)


@contextmanager
def using(regstack: Any) -> Iterator[Any]:
    """Make :func:`get_regstack` return ``regstack`` (attached) inside the block (test fixtures)."""
    from regstack_django.hooks.bridge import attach

    attach(regstack)
    with _lock:
        _overrides.append(regstack)
    try:
        yield regstack
    finally:
        with _lock:
            _overrides.remove(regstack)


def build_on(database_url: str) -> Any:
    """Return a new, attached RegStack configured as the settings say, but on ``database_url``.

    For the ``regstack_client`` fixture: a test must never write the development
    database, so ``REGSTACK_INSTANCE`` must name a callable taking ``database_url``.
    Raise ``ImproperlyConfigured`` otherwise.
    """
    path = conf.REGSTACK_INSTANCE
    if conf.REGSTACK is not None or path is None:
        built = build(database_url=database_url)
        if built.regstack is None:
            if not built.problems:
                get_regstack()  # raises: regstack is not configured
            from regstack_django.hooks.wiring import invalid_settings_message

            raise ImproperlyConfigured(invalid_settings_message(built.errors))
        return built.regstack
    target = import_string(path)
    if not callable(target) or "database_url" not in _keywords(target):
        raise ImproperlyConfigured(
            f"{INSTANCE_SETTING} {path!r} cannot give each test its own regstack database: "
            "make it a function that accepts a database_url keyword argument "
            "(def build_regstack(*, database_url=None)), or override the regstack_instance "
            "fixture to build one on the regstack_database_url fixture's URL."
        )
    from regstack import RegStack

    from regstack_django.hooks.bridge import attach

    regstack = target(database_url=database_url)
    if not isinstance(regstack, RegStack):
        raise ImproperlyConfigured(
            f"{INSTANCE_SETTING} {path!r} returned a {type(regstack).__name__}, not a RegStack."
        )
    attach(regstack)
    return regstack


def _keywords(target: Any) -> set[str]:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
