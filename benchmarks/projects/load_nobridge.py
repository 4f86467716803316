"""The load test's baseline: :mod:`benchmarks.projects.load` with the bridge off.

``TESTPROJECT_ATTACH_BRIDGE = False`` makes the testproject's builder give regstack a hook
registry the bridge cannot wrap: events reach no Django signal, no receiver, no row.
"""

from __future__ import annotations

from benchmarks.projects.load import *  # noqa: F403 - a settings module extends another this way

TESTPROJECT_ATTACH_BRIDGE = False
