"""What a benchmark ran on: the CPU, the load, the installed versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from pathlib import Path


def load_average() -> str:
    """Return the 1/5/15-minute load (``"0.25 / 1.06 / 1.56"``): how busy the machine was."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "n/a"


def cpu_model() -> str:
    """Return the CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def version(distribution: str) -> str:
    """Return the installed version of ``distribution``, or ``"not installed"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
