"""Pins every private asyncio, threading and asgiref attribute that ``pool/threads.py`` uses.

Each test names one attribute and checks the shape the library relies on. When a
Python or asgiref release changes one, its test fails first, and its message says
what to change in ``regstack_django/pool/threads.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import asgiref
import pytest
from asgiref.sync import (
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)

from regstack_django.pool import threads
from regstack_django.pool.workers import Pool

VERSIONS = f"asgiref {asgiref.__version__}, Python {sys.version.split()[0]}"


def fix(what: str, then: str) -> str:
    return f"{VERSIONS}: {what}. Change regstack_django/pool/threads.py: {then}"


@pytest.fixture
def pool() -> Iterator[Pool]:
    built = Pool(1, 1.0)
    yield built
    built.shutdown(timeout=1, log_busy=False)


# -- SyncToAsync.thread_sensitive_context, .context_to_thread_executor (FireContext) ----------


def test_thread_sensitive_context_is_a_context_var() -> None:
    var = getattr(SyncToAsync, "thread_sensitive_context", None)
    assert isinstance(var, contextvars.ContextVar), fix(
        "SyncToAsync.thread_sensitive_context is no longer a ContextVar",
        "FireContext.__enter__/__exit__ set and reset it, and caller_thread_context and "
        "current_fire_lease read it; enter asgiref's own ThreadSensitiveContext instead.",
    )


def test_context_to_thread_executor_maps_a_context_to_its_executor() -> None:
    mapping = getattr(SyncToAsync, "context_to_thread_executor", None)
    shape = all(hasattr(mapping, name) for name in ("__setitem__", "__contains__", "pop"))
    assert shape, fix(
        "SyncToAsync.context_to_thread_executor is no longer a mapping",
        "FireContext.__enter__ stores the fire's executor there and __exit__ pops it; "
        "enter asgiref's own ThreadSensitiveContext instead.",
    )


def test_a_context_with_an_executor_has_the_token_and_exited_flag_fire_context_sets() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        context = ThreadSensitiveContext(executor=executor)

        async def enter_and_leave() -> tuple[object, bool, object, bool]:
            async with context:
                inside = (context.token, context._exited)
            return (*inside, context.token, context._exited)

        token_in, exited_in, token_after, exited_after = asyncio.run(enter_and_leave())
    assert (token_in is not None, exited_in, token_after, exited_after) == (
        True,
        False,
        None,
        True,
    ), fix(
        "ThreadSensitiveContext's 'token' / '_exited' attributes changed meaning",
        "FireContext.__enter__/__exit__ mirror asgiref's __aenter__/__aexit__ with them.",
    )


async def test_sync_to_async_in_a_fire_context_runs_on_the_fires_executor(pool: Pool) -> None:
    lease = pool.lease("contract", [], bind=False)
    context = threads.FireContext(lease)
    submitted: list[Callable[..., Any]] = []
    real_submit = context.executor.submit

    def spy(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        submitted.append(fn)
        return real_submit(fn, *args, **kwargs)

    context.executor.submit = spy  # type: ignore[method-assign]
    try:
        with context:
            name = await sync_to_async(lambda: threading.current_thread().name)()
            assert threads.current_fire_lease() is lease
    finally:
        lease.close()
    unused = fix(
        "a thread-sensitive sync_to_async no longer uses the executor FireContext stores",
        "SyncToAsync.__call__ must find it under thread_sensitive_context / "
        "context_to_thread_executor; enter asgiref's own ThreadSensitiveContext instead.",
    )
    assert submitted, unused
    assert name.startswith("regstack-hooks-"), unused
    with pytest.raises(RuntimeError, match="entered once"):
        context.__enter__()


# -- AsyncToSync.loop_thread_executors (caller_thread_context) ---------------------------------


def test_loop_thread_executors_has_the_loop_below_async_to_sync() -> None:
    registry = getattr(AsyncToSync, "loop_thread_executors", None)

    async def inside() -> bool:
        return asyncio.get_running_loop() in registry  # type: ignore[operator]

    assert isinstance(registry, dict), fix(
        "AsyncToSync.loop_thread_executors is no longer a dict",
        "caller_thread_context tests the running loop's membership in it.",
    )
    assert async_to_sync(inside)(), fix(
        "the loop async_to_sync runs is no longer a key of AsyncToSync.loop_thread_executors",
        "caller_thread_context needs another way to see a sync caller from a task.",
    )


# -- AsyncToSync.executors.__dict__["_storage"]._data (_sync_caller_executor) ------------------


def _local_data() -> object:
    storage = getattr(AsyncToSync.executors, "__dict__", {}).get("_storage")
    return getattr(storage, "_data", None)


def test_the_executors_local_keeps_its_data_in_one_context_var() -> None:
    data = _local_data()
    assert isinstance(data, contextvars.ContextVar), fix(
        "AsyncToSync.executors (an asgiref.local.Local) no longer keeps _storage._data",
        "_sync_caller_executor then always takes asgiref's slow lookup (still correct): "
        "remove the fast path, or read the new storage.",
    )
    fresh = contextvars.Context()
    assert fresh.run(data.get, None) is None
    assert fresh.run(threads._sync_caller_executor) is None


def test_below_async_to_sync_the_fast_path_gives_asgiref_s_own_answer() -> None:
    async def inside() -> tuple[object, object, object]:
        data = _local_data()
        assert isinstance(data, contextvars.ContextVar)
        current = getattr(AsyncToSync.executors, "current", None)
        return data.get(None), threads._sync_caller_executor(), current

    stored, ours, asgirefs = async_to_sync(inside)()
    hidden = fix(
        "a set AsyncToSync.executors.current no longer shows in Local._storage._data",
        "_sync_caller_executor would answer None for a sync caller: drop its fast path.",
    )
    assert stored is not None, hidden
    assert ours is not None, hidden
    assert ours is asgirefs, hidden


# -- asyncio._get_running_loop (running_loop) --------------------------------------------------


def test_get_running_loop_returns_none_or_the_loop_without_raising() -> None:
    probe = getattr(asyncio, "_get_running_loop", None)
    assert callable(probe), fix(
        "asyncio._get_running_loop is gone",
        "running_loop: use asyncio.get_running_loop() inside try/except RuntimeError.",
    )
    assert threads.running_loop() is None

    async def inside() -> bool:
        return threads.running_loop() is asyncio.get_running_loop()

    assert asyncio.run(inside())


# -- threading._register_atexit (register_exit_hook) -------------------------------------------


def test_register_atexit_is_there_for_the_exit_hook() -> None:
    register = getattr(threading, "_register_atexit", None)
    assert callable(register), fix(
        "threading._register_atexit is gone",
        "register_exit_hook falls back to atexit, which runs after concurrent.futures joins "
        "the workers: they no longer close their own connections at exit "
        "(tests/pool/test_pool.py::test_at_process_exit_each_worker_closes_its_own_connection).",
    )


# -- SyncToAsync.single_thread_executor (asgiref_thread) ---------------------------------------


def test_single_thread_executor_is_where_context_free_thread_sensitive_calls_run() -> None:
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    assert isinstance(executor, ThreadPoolExecutor), fix(
        "SyncToAsync.single_thread_executor is no longer a ThreadPoolExecutor",
        "asgiref_thread returns it so that close_idle_connections reaches an async test's "
        "own ORM connection; find asgiref's process-wide thread another way.",
    )
    there = executor.submit(threading.get_ident).result(timeout=10)

    async def inside() -> int:
        return await sync_to_async(threading.get_ident, thread_sensitive=True)()

    assert asyncio.run(inside()) == there, fix(
        "a thread-sensitive call outside any context no longer runs on single_thread_executor",
        "asgiref_thread must return the executor those calls use.",
    )
