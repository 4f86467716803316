"""Worker threads for fires outside a Django request."""

from __future__ import annotations

from regstack_django.failures import WorkerUnavailable

__all__ = ["WorkerUnavailable"]
