"""``python -m benchmarks.load``."""

from __future__ import annotations

from benchmarks.load.cli import main

raise SystemExit(main())
