"""The load test's baseline: :mod:`testproject.settings_load` with the bridge off.

Same site, same receivers configured, same regstack options; the one
difference is ``TESTPROJECT_ATTACH_BRIDGE = False``, which makes
:func:`testproject.instance.build_regstack` give regstack a hook registry that
``regstack_django.attach`` cannot wrap. regstack then
fires its events into its own (empty) hook registry only: no Django signal, no
receiver, no ``AuditEvent`` row. Comparing the two runs of ``benchmarks/load.py``
isolates what the bridge and its receivers cost a request.
"""

from __future__ import annotations

from testproject.settings_load import *  # noqa: F403 - a settings module extends another this way

TESTPROJECT_ATTACH_BRIDGE = False
