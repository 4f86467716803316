"""The project's one regstack instance, built from ``settings.REGSTACK``.

regstack is a FastAPI library: it needs a ``RegStack`` (config, backend,
routers) and a FastAPI app around its router. This module builds both once,
lazily, for the ASGI entry point (:mod:`testproject.asgi`) and the demo
command, and bridges the instance to Django signals with
``regstack_django.attach`` before it serves a request.

The instance is the tour's flavour of regstack (:mod:`testproject.tour`):
console e-mail, null SMS, every feature on, and an in-process stand-in OAuth
provider, registered before anything reads ``rs.router`` (regstack builds its
routes once, and mounts ``/oauth`` only if a provider exists at that moment).

One switch, for measurements only: the setting ``TESTPROJECT_ATTACH_BRIDGE``
(default ``True``) set to ``False`` builds the same site *without* calling
``regstack_django.attach``, so regstack's events reach no Django signal. The
load test (``benchmarks/load.py``, settings
``testproject.settings_load_nobridge``) uses it as its "without the bridge"
baseline; nothing else should turn it off.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

import regstack_django
from testproject.tour import build_fastapi_app, build_tour_config, build_tour_regstack

if TYPE_CHECKING:
    from fastapi import FastAPI
    from regstack import RegStack

_lock = threading.Lock()
_regstack: RegStack | None = None
_fastapi_app: FastAPI | None = None


def build_regstack(**overrides: Any) -> RegStack:
    """A new, attached ``RegStack`` from ``settings.REGSTACK`` plus ``overrides``.

    Tests pass ``database_url=...`` to get an instance on their own files; the
    site itself uses the :func:`get_regstack` singleton.
    """
    options = {**settings.REGSTACK, **overrides}
    config = build_tour_config(options.pop("database_url"), **options)
    rs = build_tour_regstack(config)  # registers the stand-in OAuth provider first
    if getattr(settings, "TESTPROJECT_ATTACH_BRIDGE", True):  # False: load-test baseline only
        regstack_django.attach(rs)
    return rs


def get_regstack() -> RegStack:
    """The site's ``RegStack``, built on first use and attached to Django signals."""
    global _regstack  # a lazy, process-wide singleton
    with _lock:
        if _regstack is None:
            _regstack = build_regstack()
        return _regstack


def get_fastapi_app() -> FastAPI:
    """The FastAPI app serving :func:`get_regstack`'s routes under ``api_prefix``.

    Its lifespan installs regstack's schema; the composed ASGI app hands the
    ``lifespan`` scope to it (Django's handler refuses that scope).
    """
    global _fastapi_app
    rs = get_regstack()
    with _lock:
        if _fastapi_app is None:
            _fastapi_app = build_fastapi_app(rs)
        return _fastapi_app
