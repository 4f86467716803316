"""Django discovers this app's commands in this package."""

from __future__ import annotations
