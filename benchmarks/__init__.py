"""Benchmarks for regstack_django: dispatch cost, request-level cost, memory.

Run ``python -m benchmarks`` from the repository root (``--help`` for flags);
it prints its tables and regenerates ``docs/benchmarks.md``. The parts can run
alone: ``python -m benchmarks.dispatch``, ``.request``, ``.memory``.
"""

from __future__ import annotations
