"""The bridge's worker threads, one leased per fire outside a Django request.

There asgiref's one process-wide thread would make concurrent fires wait on each
other's receivers; every wait here has a bound (docs/dispatch.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import TYPE_CHECKING, Any

from regstack_django.failures import WorkerUnavailable, logger
from regstack_django.pool.connections import close_all_connections, close_stale_connections
from regstack_django.pool.saturation import (
    Busy,
    SaturationWarning,
    holder_names,
    unavailable_message,
)

if TYPE_CHECKING:
    from asgiref.sync import SyncToAsync

#: Work waiting for a worker: its future and the call (``None``: only the binding).
Parked = list[tuple[Future[Any], Callable[[], Any] | None]]

#: How long process shutdown waits for idle workers to close their connections.
SHUTDOWN_WAIT = 2.0


class Worker:
    """One thread of the pool, and what it is busy with."""

    __slots__ = ("executor", "holders", "index", "lease", "sync_to_async", "used")

    def __init__(self, index: int) -> None:
        self.index = index
        # The thread starts on first use, so an idle pool costs no threads.
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"regstack-hooks-{index}"
        )
        self.lease: Lease | None = None
        #: Names of abandoned receivers still running here (the drain is queued).
        self.holders: list[str] = []
        #: The dispatch loop's ``SyncToAsync`` into this thread, built on first use.
        self.sync_to_async: SyncToAsync[..., None] | None = None
        self.used = False


class Lease:
    """One fire's claim on one worker, from binding to :meth:`close`.

    A fire with sync receivers binds its worker up front (:meth:`wait_for_worker`);
    one with only async receivers binds one on their first ``sync_to_async`` call
    (:class:`~regstack_django.pool.threads.LeaseExecutor`), so fires that never
    touch a thread never take one.
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
        #: Whether async receivers' calls were sent here, and left a connection open.
        self.async_calls = self.holds_connections = False

    async def wait_for_worker(self) -> Worker:
        """Return this fire's worker, waiting at most ``REGSTACK_HOOKS_WORKER_WAIT`` for one.

        Raise :class:`WorkerUnavailable` when none became free in time.
        """
        worker = self.worker or self.pool.bind(self)
        if worker is None:
            await asyncio.wrap_future(self.pool.park(self, None))
            worker = self.worker
            assert worker is not None  # set under the pool's lock before the marker
        return worker

    def abandon(self, holder: str) -> None:
        """Record that the fire stopped waiting for work (``holder``) still running here."""
        self.abandoned.append(holder)

    def close(self) -> None:
        """Give the worker back, after its abandoned work if any."""
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
        self.saturation = SaturationWarning(size, wait)

    def lease(self, event: str, receivers: list[Any], *, bind: bool) -> Lease:
        """Return a lease for one fire; with ``bind``, on a free worker if there is one."""
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
        """Bind a free worker to ``lease`` without waiting; return ``None`` if none is free."""
        with self.lock:
            if lease.worker is None and self.free and not lease.closed:
                self._bind(lease, self.free.pop())
            return lease.worker

    def park(self, lease: Lease, call: Callable[[], Any] | None) -> Future[Any]:
        """Queue ``call`` (``None``: just the binding) until a worker is free.

        The first parked item of a lease starts its wait; when the wait runs out,
        every parked item fails with :class:`WorkerUnavailable`, and so does any
        later one unless a worker is free right then.
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
        error = WorkerUnavailable(unavailable_message(self.size, self.wait))
        for future, _call in parked:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)
        self.saturation.refused(lease.event, self.holders)

    def close(self, lease: Lease) -> None:
        """End ``lease``: its worker serves the next fire once this fire's work is done."""
        if lease.holds_connections and lease.worker is not None:
            _after_async_calls(lease.worker)
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
        """Let ``worker``, done with its abandoned work, serve the next fire."""
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
        """Return what each busy worker is doing, for the warnings."""
        with self.lock:
            busy: list[Busy] = [
                (w.lease.event, list(w.lease.receivers), list(w.holders))
                if w.lease is not None
                else (None, [], list(w.holders))
                for w in self.workers
                if w.lease is not None or w.holders
            ]
        return holder_names(busy)

    def shutdown(self, timeout: float = SHUTDOWN_WAIT, *, log_busy: bool = True) -> list[str]:
        """Retire the pool: close every idle worker's connections and stop its thread.

        Return (and log) what still holds the busy workers: Python waits for those
        threads at exit, so a receiver hung forever still holds the exit.
        """
        with self.lock:
            self.retired = True
            idle, self.free = self.free, []
        closing = [w.executor.submit(close_all_connections) for w in idle if w.used]
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


def _after_async_calls(worker: Worker) -> None:
    """Queue the connection check a sync group makes after its receivers, on ``worker``.

    Async receivers' ORM calls ran there outside any sync group; first in, first out,
    the check runs after them and before the worker's next fire.
    """
    try:
        worker.executor.submit(close_stale_connections)
    except RuntimeError:  # the interpreter is shutting down: its exit hook closes them
        logger.debug("Could not queue the connection check on worker %d.", worker.index)
