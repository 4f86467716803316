"""Background entries: the fire side, the Tasks adapter and the durable outbox.

The worker side stays on top, where queued tasks name it: ``worker.py``, ``envelope.py``,
``serialize.py``.
"""

from __future__ import annotations

from regstack_django.failures import EnqueueTimeout

__all__ = ["EnqueueTimeout"]
