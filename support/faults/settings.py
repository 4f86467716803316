"""Settings of the fault trials: the scale-out testproject with the counting probe's entries.

``FAULTS_ENTRIES`` picks today's entry, the durable one or both; ``FAULTS_HANDLER_SECONDS``
makes the probe wait first; ``ROOT_URLCONF`` adds the trials' Django view.
"""

from __future__ import annotations

import os

from testproject.settings_scale_out import *  # noqa: F403 - a settings module extends another
from testproject.settings_scale_out import REGSTACK_HOOKS as _SCALE_OUT_HOOKS
from testproject.settings_scale_out import SCALE_OUT_EVENTS as _SCALE_OUT_EVENTS
from testproject.settings_scale_out import SCALE_OUT_HANDLER as _SCALE_OUT_HANDLER

#: The events the trials fire: regstack's forgot-password route, and the Django view.
PROBE_EVENTS = ("password_reset_requested", "verification_requested")
#: Which probe entries each event gets: ``today`` (a plain background entry) and/or
#: ``durable`` (the same with ``"durable": True``), side by side by default.
FAULTS_ENTRIES = tuple(
    mode.strip() for mode in (os.environ.get("FAULTS_ENTRIES") or "today,durable").split(",")
)
FAULTS_HANDLER_SECONDS = float(os.environ.get("FAULTS_HANDLER_SECONDS") or 0)

ROOT_URLCONF = "support.faults.urls"


def _without_scale_out_probe(entries: list[object]) -> list[object]:
    return [
        entry
        for entry in entries
        if not (isinstance(entry, dict) and entry.get("handler") == _SCALE_OUT_HANDLER)
    ]


_PROBE_ENTRIES: list[dict[str, object]] = [
    {
        "handler": f"support.faults.probe.record_{mode}",
        "background": True,
        "include_secrets": True,
        **({"durable": True} if mode == "durable" else {}),
    }
    for mode in FAULTS_ENTRIES
]
REGSTACK_HOOKS = {
    event: _without_scale_out_probe(list(entries)) if event in _SCALE_OUT_EVENTS else entries
    for event, entries in _SCALE_OUT_HOOKS.items()
}
for _event in PROBE_EVENTS:
    REGSTACK_HOOKS[_event] = [*REGSTACK_HOOKS.get(_event, []), *_PROBE_ENTRIES]
REGSTACK_HOOKS = {event: entries for event, entries in REGSTACK_HOOKS.items() if entries}
