"""The testproject's regstack instance: what ``settings.REGSTACK_INSTANCE`` names.

A project whose regstack needs only settings gives ``REGSTACK = {...}`` (the
README's Quick start). The testproject needs more, so it builds its own
instance and names the builder in ``REGSTACK_INSTANCE``: the tour
(:mod:`support.tour`) signs in through an in-process stand-in OAuth
provider, which must be registered before regstack builds its router, and reads
e-mail tokens and SMS codes from the console e-mail and null SMS outboxes.
``regstack_django`` calls :func:`build_regstack` once, bridges the instance to
Django signals and serves it (``get_asgi_application()``, ``manage.py
runserver``); ``regstack_django.get_regstack()`` returns it.

One switch, for measurements only: the setting ``TESTPROJECT_ATTACH_BRIDGE``
(default ``True``) set to ``False`` builds the same instance with a regstack
hook registry that the bridge cannot wrap, so regstack's events reach no Django
signal. The load test (``benchmarks/load/``, settings
``benchmarks.projects.load_nobridge``) uses it as its "without the bridge"
baseline; nothing else should turn it off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from regstack import RegStack
from regstack.hooks.events import HookRegistry as RegstackHookRegistry

from support.tour.app import build_tour_config, build_tour_regstack


def build_regstack(*, database_url: str | None = None) -> RegStack:
    """A new ``RegStack`` from ``settings.TESTPROJECT_REGSTACK``, with the stand-in OAuth provider.

    ``database_url`` replaces the settings' one: the ``regstack_client`` pytest
    fixture passes a fresh temporary database for each test.
    """
    options: dict[str, Any] = dict(settings.TESTPROJECT_REGSTACK)
    if database_url is not None:
        options["database_url"] = database_url
    config = build_tour_config(options.pop("database_url"), **options)
    rs = build_tour_regstack(config)  # registers the stand-in OAuth provider first
    if not getattr(settings, "TESTPROJECT_ATTACH_BRIDGE", True):  # load-test baseline only
        rs.hooks = UnbridgedHooks()
    return rs


class UnbridgedHooks(RegstackHookRegistry):
    """regstack's hook registry, kept out of the bridge (the load test's baseline).

    ``regstack_django.attach`` bridges a registry by replacing its ``fire``;
    this one keeps regstack's own ``fire``, so events reach only the handlers
    registered on regstack itself.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "fire":
            super().__setattr__(name, value)
