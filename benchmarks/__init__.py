"""Benchmarks for regstack_django: ``python -m benchmarks`` regenerates docs/benchmarks.md.

The parts also run alone (``python -m benchmarks.dispatch``, ``.request``, ``.memory``, ...).
"""

from __future__ import annotations
