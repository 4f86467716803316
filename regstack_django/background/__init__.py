"""Background entries: the fire side, the Tasks adapter and the durable outbox."""

from __future__ import annotations

from regstack_django.failures import EnqueueTimeout

__all__ = ["EnqueueTimeout"]
