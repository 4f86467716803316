"""Where a thread-sensitive hop from the current async code would land.

Django's ``ASGIHandler`` opens an asgiref ``ThreadSensitiveContext`` per
request, and ``async_to_sync`` remembers the sync thread that called it; a
thread-sensitive ``sync_to_async`` call then runs in *that* thread, where the
caller's transaction (if any) is open. regstack's FastAPI routes have neither:
there such a call would land on asgiref's one process-wide thread.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import AsyncToSync, SyncToAsync


def caller_thread_context() -> bool:
    """Whether this async code runs under a Django request or below a sync caller.

    ``True``: a thread-sensitive hop lands in the request's (or the sync
    caller's) own thread, so ``transaction.get_connection()`` there sees the
    caller's ``atomic()``. ``False``: a plain event loop (regstack's routes),
    where no Django transaction can be open.
    """
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return True
    if SyncToAsync.thread_sensitive_context.get(None) is not None:
        return True
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    return loop in AsyncToSync.loop_thread_executors
