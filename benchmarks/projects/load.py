"""The load test's server (``benchmarks.load``), bridge on: the site plus the load probes.

Each event the load fires gets, after the audit receivers, three settings-wired probes of which
one raises, and one async probe cancelled by its ``timeout`` (:mod:`benchmarks.projects.probes`).
"""

from __future__ import annotations

from benchmarks.projects.site import *  # noqa: F403 - a settings module extends another this way
from benchmarks.projects.site import REGSTACK_HOOKS as _BASE_HOOKS

#: The events a load-test request fires: ``POST /register`` and ``POST /login``.
LOAD_EVENTS = ("user_registered", "user_logged_in")

LOAD_PROBES: list[str | dict[str, object]] = [
    "benchmarks.projects.probes.tally",
    "benchmarks.projects.probes.tally_async",
    "benchmarks.projects.probes.explode",  # one receiver in three raises
    {"handler": "benchmarks.projects.probes.dawdle", "timeout": 0.2},  # sleeps 1 s
]

REGSTACK_HOOKS = {
    **_BASE_HOOKS,
    **{event: [*_BASE_HOOKS.get(event, []), *LOAD_PROBES] for event in LOAD_EVENTS},
}
