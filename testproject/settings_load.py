"""The testproject's settings for the load test (``benchmarks/load.py``), bridge on.

Everything of :mod:`testproject.settings`, plus two changes the load test needs:

* ``TESTPROJECT_REGSTACK["require_verification"] = False``: the load generator is another
  process and cannot read the verification links regstack's console e-mail
  backend keeps in the server's memory. With verification off, ``POST
  /register`` creates a usable account at once and fires ``user_registered``
  (instead of ``verification_requested``), so the load can be real
  registrations followed by real logins of the same users.
* Load-test receivers on the two events that load fires (see
  :mod:`testproject.audit.load_probes`): three settings-wired receivers of
  which one raises, plus one slow async receiver cancelled by its ``timeout``.
  They come after the audit trail's own receivers, which stay as they are (one
  ``AuditEvent`` row per event): the load test counts those rows.

Select it with ``DJANGO_SETTINGS_MODULE=testproject.settings_load``.
"""

from __future__ import annotations

from testproject.settings import *  # noqa: F403 - a settings module extends another this way
from testproject.settings import REGSTACK_HOOKS as _BASE_HOOKS
from testproject.settings import TESTPROJECT_REGSTACK as _BASE_REGSTACK

TESTPROJECT_REGSTACK = {**_BASE_REGSTACK, "require_verification": False}

#: The events a load-test request fires: ``POST /register`` and ``POST /login``.
LOAD_EVENTS = ("user_registered", "user_logged_in")

#: Added to each of :data:`LOAD_EVENTS`, after the audit receivers.
LOAD_PROBES: list[str | dict[str, object]] = [
    "testproject.audit.load_probes.tally",
    "testproject.audit.load_probes.tally_async",
    "testproject.audit.load_probes.explode",  # one receiver in three raises
    {"handler": "testproject.audit.load_probes.dawdle", "timeout": 0.2},  # sleeps 1 s
]

REGSTACK_HOOKS = {
    **_BASE_HOOKS,
    **{event: [*_BASE_HOOKS.get(event, []), *LOAD_PROBES] for event in LOAD_EVENTS},
}
