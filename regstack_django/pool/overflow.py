"""Where a ``must_run`` receiver runs when the pool has no free worker for its fire.

A few threads of their own, apart from the pool and asgiref's process-wide thread.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from regstack_django.pool.connections import close_stale_connections

#: Set on the receiver of a settings entry with ``"must_run": True``.
MUST_RUN_ATTRIBUTE: Final = "regstack_django_must_run"

#: Threads for must-run receivers refused a worker; more wait for one, in order.
OVERFLOW_THREADS: Final = 4

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def overflow_executor() -> ThreadPoolExecutor:
    """Return the must-run receivers' own small pool (created on first use)."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=OVERFLOW_THREADS, thread_name_prefix="regstack-must-run"
                )
    return _executor


def is_must_run(receiver: object) -> bool:
    """Return whether ``receiver`` must not be skipped when no worker is free."""
    return getattr(receiver, MUST_RUN_ATTRIBUTE, False) is True


def run_in_order(calls: Sequence[Callable[[], Any]]) -> list[Future[Any]]:
    """Queue ``calls`` to run one after another on an overflow thread; one future each."""
    done: list[Future[Any]] = [Future() for _ in calls]
    context = contextvars.copy_context()
    overflow_executor().submit(context.run, _run_all, calls, done)
    return done


def _run_all(calls: Sequence[Callable[[], Any]], done: list[Future[Any]]) -> None:
    close_stale_connections()
    try:
        for call, future in zip(calls, done, strict=True):
            waited_for = future.set_running_or_notify_cancel()  # a must-run call runs anyway
            try:
                result = call()
            except BaseException as exc:  # the calls catch receivers' errors themselves
                if waited_for:
                    future.set_exception(exc)
            else:
                if waited_for:
                    future.set_result(result)
    finally:
        close_stale_connections()
