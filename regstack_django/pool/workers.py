"""The bridge's own worker threads, for receivers fired outside a Django request.

regstack's FastAPI routes run outside Django's request handler, so no
per-request ``ThreadSensitiveContext`` exists there and every thread-sensitive
``sync_to_async`` would land on asgiref's one process-wide thread: concurrent
logins would wait on each other's receivers. Instead, each such fire leases one
:class:`Worker` (a ``ThreadPoolExecutor(max_workers=1)``, as asgiref requires of
a ``ThreadSensitiveContext`` executor) for its whole duration: its sync
receivers run there in one hop, and its async receivers' own ``sync_to_async``
calls go there too (the fire's :class:`Lease` is the executor of its context).

Every wait has a bound. A fire that finds every worker busy waits for one at
most ``REGSTACK_HOOKS_WORKER_WAIT`` seconds, then fails its work with
:class:`WorkerUnavailable` and one rate-limited WARNING names who holds the
workers. A lease whose fire stopped waiting for a receiver (a ``timeout``) is
*abandoned*: its worker drains the unfinished work in the background and only
then serves another fire. A stuck receiver costs one worker, never the process.

Nothing here is per-fire configuration: the pool is built once from the two
settings, and rebuilt when ``override_settings`` changes them.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any, ParamSpec, TypeVar

from django.core.checks import CheckMessage
from django.core.signals import setting_changed
from django.db import connections

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import WORKER_WAIT_SETTING, WORKERS_SETTING, conf
from regstack_django.failures import WorkerUnavailable, logger, receiver_name

P = ParamSpec("P")
T = TypeVar("T")

#: Work waiting for a worker: its future and the call (``None``: only the binding).
Parked = list[tuple[Future[Any], Callable[[], Any] | None]]

DEFAULT_WORKERS = 20
DEFAULT_WORKER_WAIT = 3.0
MAX_WORKERS = 1024

#: At most one saturation WARNING per this many seconds (the next one counts
#: the fires that were refused in between).
SATURATION_WARNING_INTERVAL = 60.0

#: How long process shutdown waits for idle workers to close their connections.
SHUTDOWN_WAIT = 2.0


class Worker:
    """One thread of the pool, and what it is busy with."""

    __slots__ = ("executor", "holders", "hop", "index", "lease", "used")

    def __init__(self, index: int) -> None:
        self.index = index
        # The thread starts on first use, so an idle pool costs no threads.
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"regstack-hooks-{index}"
        )
        self.lease: Lease | None = None
        #: Names of abandoned receivers still running here (the drain is queued).
        self.holders: list[str] = []
        #: The dispatch loop's cached ``sync_to_async`` into this worker.
        self.hop: Any = None
        self.used = False


class Lease(Executor):
    """One fire's claim on one worker, and the executor of that fire's context.

    A fire with sync receivers binds a worker before its first hop (waiting
    for one if need be, :meth:`wait_for_worker`); a fire with only async
    receivers binds one lazily, on its receivers' first ``sync_to_async``
    call (:meth:`submit`), so fires that never touch a thread never take one.
    """

    def __init__(self, pool: Pool, event: str, receivers: list[Any]) -> None:
        self.pool = pool
        self.event = event
        self.receivers = receivers
        self.worker: Worker | None = None
        self.parked: Parked = []
        self.waiting = False
        self.starved = False
        self.closed = False
        self.abandoned: list[str] = []

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn`` on this fire's worker: the one bound, a free one, or the next freed."""
        worker = self.worker or self.pool.bind(self)
        if worker is not None:
            return worker.executor.submit(fn, *args, **kwargs)
        return self.pool.park(self, lambda: fn(*args, **kwargs))

    async def wait_for_worker(self) -> Worker:
        """This fire's worker, waiting at most ``REGSTACK_HOOKS_WORKER_WAIT`` for one.

        Raises :class:`WorkerUnavailable` when none became free in time.
        """
        worker = self.worker or self.pool.bind(self)
        if worker is None:
            await asyncio.wrap_future(self.pool.park(self, None))
            worker = self.worker
            assert worker is not None  # set under the pool's lock before the marker
        return worker

    def abandon(self, holder: str) -> None:
        """The fire stopped waiting for work (``holder`` says whose) that still runs here."""
        self.abandoned.append(holder)

    def close(self) -> None:
        """The fire is over: give the worker back (after its abandoned work, if any)."""
        self.pool.close(self)


class Pool:
    """A fixed number of workers, leased one per fire, handed over in order."""

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self.lock = threading.Lock()
        self.workers = [Worker(i) for i in range(size)]
        # A stack: the most recently freed (warmest) worker is reused first.
        self.free = list(reversed(self.workers))
        self.waiting: deque[Lease] = deque()
        self.retired = False
        self._warned_at = -math.inf
        self._refused_since_warning = 0

    def lease(self, event: str, receivers: list[Any], *, bind: bool) -> Lease:
        """A lease for one fire; with ``bind``, on a free worker if there is one."""
        lease = Lease(self, event, receivers)
        if bind:
            with self.lock:
                if self.free:
                    self._bind(lease, self.free.pop())
        return lease

    def _bind(self, lease: Lease, worker: Worker) -> None:
        worker.lease = lease
        worker.used = True
        lease.worker = worker

    def bind(self, lease: Lease) -> Worker | None:
        """Bind a free worker to ``lease`` without waiting; ``None`` if none is free."""
        with self.lock:
            if lease.worker is None and self.free and not lease.closed:
                self._bind(lease, self.free.pop())
            return lease.worker

    def park(self, lease: Lease, call: Callable[[], Any] | None) -> Future[Any]:
        """Queue ``call`` (``None``: just the binding) until a worker is free.

        The first parked item of a lease starts its wait; when the wait runs
        out, every parked item fails with :class:`WorkerUnavailable`, and so does
        any later one unless a worker is free right then.
        """
        future: Future[Any] = Future()
        start_wait = False
        with self.lock:
            worker = lease.worker
            if worker is None and self.free and not lease.closed:
                worker = self.free.pop()
                self._bind(lease, worker)
            if worker is None and not lease.starved and not lease.closed and self.wait > 0:
                lease.parked.append((future, call))
                if not lease.waiting:
                    lease.waiting = start_wait = True
                    self.waiting.append(lease)
        if worker is not None:
            _start(worker, future, call)
        elif start_wait:
            asyncio.get_running_loop().call_later(self.wait, self._expire, lease)
        elif lease.closed:
            future.cancel()
        elif not lease.waiting:
            self._refuse(lease, [(future, call)])
        return future

    def _expire(self, lease: Lease) -> None:
        with self.lock:
            if not lease.waiting:
                return
            self.waiting.remove(lease)
            lease.waiting = False
            parked, lease.parked = lease.parked, []
        self._refuse(lease, parked)

    def _refuse(self, lease: Lease, parked: Parked) -> None:
        lease.starved = True
        error = WorkerUnavailable(self.unavailable_message())
        for future, _call in parked:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)
        self._warn_saturated(lease)

    def unavailable_message(self) -> str:
        return (
            f"no worker thread became free within {WORKER_WAIT_SETTING} = {self.wait:g}s: "
            f"all {self.size} workers ({WORKERS_SETTING}) are busy."
        )

    def close(self, lease: Lease) -> None:
        with self.lock:
            lease.closed = True
            parked: Parked = []
            if lease.waiting:
                self.waiting.remove(lease)
                lease.waiting = False
                parked, lease.parked = lease.parked, []
            worker = lease.worker
            handed: tuple[Worker, list[Any]] | None = None
            drain = False
            if worker is not None:
                worker.lease = None
                if lease.abandoned:
                    worker.holders = lease.abandoned
                    drain = True
                else:
                    handed = self._hand_over(worker)
        for future, _call in parked:
            future.cancel()
        if drain and worker is not None:
            # FIFO: this runs once the abandoned work queued before it is done.
            worker.executor.submit(self.release, worker)
        elif handed is not None:
            _start_all(*handed)

    def release(self, worker: Worker) -> None:
        """``worker`` finished its abandoned work: it may serve the next fire."""
        with self.lock:
            worker.holders = []
            handed = self._hand_over(worker)
        if handed is not None:
            _start_all(*handed)

    def _hand_over(self, worker: Worker) -> tuple[Worker, list[Any]] | None:
        """Under the lock: bind ``worker`` to the longest-waiting fire, or free it."""
        while self.waiting:
            lease = self.waiting.popleft()
            lease.waiting = False
            self._bind(lease, worker)
            parked, lease.parked = lease.parked, []
            return worker, parked
        if self.retired:
            worker.executor.shutdown(wait=False)
        else:
            self.free.append(worker)
        return None

    def holders(self) -> list[str]:
        """What each busy worker is doing, for the saturation warning."""
        with self.lock:
            busy = [
                (w.lease.event, list(w.lease.receivers), list(w.holders))
                if w.lease is not None
                else (None, [], list(w.holders))
                for w in self.workers
                if w.lease is not None or w.holders
            ]
        counts: Counter[str] = Counter()
        for event, receivers, abandoned in busy:
            if abandoned:
                counts.update(abandoned)
            elif receivers:
                names = ", ".join(receiver_name(r) for r in receivers)
                counts[f"a fire of {event!r} running {names}"] += 1
            else:
                counts[f"an async receiver's sync_to_async call on {event!r}"] += 1
        return [name if n == 1 else f"{name} x{n}" for name, n in counts.most_common()]

    def _warn_saturated(self, lease: Lease) -> None:
        now = time.monotonic()
        with self.lock:
            self._refused_since_warning += 1
            if now - self._warned_at < SATURATION_WARNING_INTERVAL:
                return
            self._warned_at = now
            refused, self._refused_since_warning = self._refused_since_warning, 0
        logger.warning(
            "The regstack_django worker pool is saturated: all %d workers are busy, so a "
            "fire of %r waited %gs (%s) for one and its receivers were failed as timed out "
            "(%d fire(s) refused since the last warning). Holding the workers: %s. Give the "
            "slow receivers a 'timeout', or raise %s.",
            self.size,
            lease.event,
            self.wait,
            WORKER_WAIT_SETTING,
            refused,
            "; ".join(self.holders()) or "nothing any more",
            WORKERS_SETTING,
            extra={"regstack_event": lease.event},
        )

    def shutdown(self, timeout: float = SHUTDOWN_WAIT, *, log_busy: bool = True) -> list[str]:
        """Close every idle worker's database connections and stop its thread.

        Returns what still holds busy workers (logged): Python waits for those
        threads at exit, as it waits for any thread, so a receiver hung forever
        still holds the exit.
        """
        global _pool
        with _pool_lock:
            if _pool is self:
                _pool = None  # the next fire builds a new pool
        with self.lock:
            self.retired = True
            idle, self.free = self.free, []
        closing = [w.executor.submit(_close_connections) for w in idle if w.used]
        for worker in idle:
            worker.executor.shutdown(wait=False)
        wait_for_futures(closing, timeout=timeout)
        busy = self.holders()
        if busy and log_busy:
            logger.warning(
                "At shutdown, regstack_django workers are still busy: %s.", "; ".join(busy)
            )
        return busy


def _start(worker: Worker, future: Future[Any], call: Callable[[], Any] | None) -> None:
    if call is None:
        if future.set_running_or_notify_cancel():
            future.set_result(None)
    else:
        worker.executor.submit(_run_parked, future, call)


def _start_all(worker: Worker, parked: Parked) -> None:
    for future, call in parked:
        _start(worker, future, call)


def _run_parked(future: Future[Any], call: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = call()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _close_connections() -> None:
    """In a worker's own thread: Django's connections are per thread."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except Exception:
            logger.debug("Could not close connection %r at shutdown.", conn.alias)


def setting_problems() -> list[CheckMessage]:
    """What is wrong with ``REGSTACK_HOOKS_WORKERS`` / ``REGSTACK_HOOKS_WORKER_WAIT``."""
    found = []
    workers = conf.REGSTACK_HOOKS_WORKERS
    if not _valid_workers(workers):
        found.append(
            problem(
                messages.E020,
                f"{WORKERS_SETTING} must be a whole number from 1 to {MAX_WORKERS}, "
                f"not {workers!r}.",
                setting=WORKERS_SETTING,
                default=DEFAULT_WORKERS,
            )
        )
    wait = conf.REGSTACK_HOOKS_WORKER_WAIT
    if not _valid_wait(wait):
        found.append(
            problem(
                messages.E021,
                f"{WORKER_WAIT_SETTING} must be a finite number of seconds, 0 or more, "
                f"not {wait!r}.",
                setting=WORKER_WAIT_SETTING,
                default=DEFAULT_WORKER_WAIT,
            )
        )
    return found


def _valid_workers(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS


def _valid_wait(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


_pool: Pool | None = None
_pool_lock = threading.Lock()
_exit_hook_registered = False


def get_pool() -> Pool:
    """The process's pool, built on first use from the two settings."""
    global _pool, _exit_hook_registered
    with _pool_lock:
        if _pool is None:
            workers = conf.REGSTACK_HOOKS_WORKERS
            wait = conf.REGSTACK_HOOKS_WORKER_WAIT
            _pool = Pool(
                workers if _valid_workers(workers) else DEFAULT_WORKERS,
                float(wait) if _valid_wait(wait) else DEFAULT_WORKER_WAIT,
            )
            if not _exit_hook_registered:
                _register_exit_hook(_shutdown_at_exit)
                _exit_hook_registered = True
        return _pool


def current_pool() -> Pool | None:
    """The pool if one was built (``None`` before the first pooled fire)."""
    return _pool


def reset_pool() -> None:
    """Retire the current pool (busy workers finish first); the next fire builds a new one."""
    old = _pool
    if old is not None:
        old.shutdown(timeout=0, log_busy=False)


def _shutdown_at_exit() -> None:
    pool = _pool
    if pool is not None:
        pool.shutdown()


def _register_exit_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` at exit *before* Python joins executor threads.

    ``threading._register_atexit`` hooks run before ``concurrent.futures``
    joins its threads (they run in reverse order of registration), so idle
    workers can still close their own connections. Plain ``atexit`` runs
    after those joins; it is the fallback if the private hook is missing.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(hook)
            return
        except RuntimeError:  # the interpreter is already shutting down
            return
    import atexit

    atexit.register(hook)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (WORKERS_SETTING, WORKER_WAIT_SETTING):
        reset_pool()


setting_changed.connect(_settings_changed, weak=False, dispatch_uid="regstack_django.pool")
