"""Management commands of the audit app (``regstack_demo``)."""

from __future__ import annotations
