"""The testproject's regstack instance: what ``settings.REGSTACK_INSTANCE`` names.

It registers the tour's stand-in OAuth provider before regstack builds its router.
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
