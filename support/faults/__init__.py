"""Fault trials: kill, freeze and restart the testproject's real processes, count the events.

Shared by tests/project/test_faults.py and benchmarks/faults.py (the failure table).
"""

from __future__ import annotations
