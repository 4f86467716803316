"""The process's one pool: built on first use, rebuilt when its settings change, shut at exit."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_for_futures
from typing import Any

from django.core.signals import setting_changed

from regstack_django.conf import WORKER_WAIT_SETTING, WORKERS_SETTING, conf
from regstack_django.failures import logger
from regstack_django.pool.connections import close_all_connections
from regstack_django.pool.threads import asgiref_thread, register_exit_hook
from regstack_django.pool.workers import Pool

#: How long :func:`close_idle_connections` waits for the threads to close theirs.
CLOSE_WAIT = 5.0


class _Current:
    """The pool in use, if one was built; only this module writes it."""

    def __init__(self) -> None:
        self.pool: Pool | None = None
        self.lock = threading.Lock()
        self.exit_hook_registered = False


_current = _Current()


def get_pool() -> Pool:
    """Return the process's pool, building it from the settings if there is none in use."""
    pool = _current.pool
    if pool is not None and not pool.retired:
        return pool
    with _current.lock:
        pool = _current.pool
        if pool is None or pool.retired:
            pool = _current.pool = Pool(conf.pool_size(), conf.pool_wait())
            if not _current.exit_hook_registered:
                register_exit_hook(_shutdown_at_exit)
                _current.exit_hook_registered = True
        return pool


def current_pool() -> Pool | None:
    """Return the pool in use, or ``None`` before the first pooled fire or after a reset."""
    pool = _current.pool
    return pool if pool is not None and not pool.retired else None


def reset_pool() -> None:
    """Retire the pool in use (busy workers finish first); the next fire builds a new one."""
    with _current.lock:
        old, _current.pool = _current.pool, None
    if old is not None:
        old.shutdown(timeout=0, log_busy=False)


def close_idle_connections(timeout: float = CLOSE_WAIT) -> None:
    """Close the connections of asgiref's process-wide thread and of the pool's idle workers.

    Django's connections are per thread, and a test runner closes only its own thread's
    before it drops the test database; the pytest plugin calls this after each test
    that used the database. A busy worker keeps its connection.
    """
    executors = [asgiref_thread()]
    pool = current_pool()
    if pool is not None:
        with pool.lock:
            executors += [w.executor for w in pool.free if w.used]
    closing: list[Future[None]] = []
    for executor in executors:
        try:
            closing.append(executor.submit(close_all_connections))
        except RuntimeError:  # shut down: its thread is gone, and its connections with it
            continue
    if wait_for_futures(closing, timeout=timeout).not_done:
        logger.debug("Some threads did not close their connections within %gs.", timeout)


def _shutdown_at_exit() -> None:
    with _current.lock:
        pool, _current.pool = _current.pool, None
    if pool is not None and not pool.retired:
        pool.shutdown()


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (WORKERS_SETTING, WORKER_WAIT_SETTING):
        reset_pool()


setting_changed.connect(_settings_changed, weak=False, dispatch_uid="regstack_django.pool")
