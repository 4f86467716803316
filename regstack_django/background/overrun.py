"""An enqueue the fire stopped waiting for: reported once, when its outcome is known.

Late and done is one WARNING; failed, or never started, is one ERROR saying the delivery is lost.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Mapping
from typing import Any

from regstack_django.conf import ENQUEUE_TIMEOUT_SETTING
from regstack_django.failures import EnqueueTimeout, loggable, logger

__all__ = ["Overrun"]


class Overrun:
    """One background entry's enqueue (or outbox write) that outlived its budget."""

    def __init__(
        self,
        event: str,
        path: str,
        durable: bool,
        budget: float,
        started: float,
        kwargs: Mapping[str, Any],
    ) -> None:
        self.event = event
        self.path = path
        self.durable = durable
        self.budget = budget
        self.started = started
        self.kwargs = kwargs
        self.extra = {"regstack_event": event, "regstack_receiver": path}

    def follow(self, future: concurrent.futures.Future[None], why: str) -> None:
        """Stop waiting for ``future``: lost now if it never started, else reported when it ends.

        ``why`` says why the fire stopped waiting ("past the budget", "the fire was cancelled").
        """
        if future.cancel():
            outcome = f"did not start ({why} while every enqueue thread was busy)"
            reason = EnqueueTimeout(
                f"enqueueing {self.path} for {self.event!r} {outcome}; "
                f"{ENQUEUE_TIMEOUT_SETTING} is {self.budget:g}s."
            )
            self._lost(reason, outcome)
        else:
            future.add_done_callback(self._settle)

    def _settle(self, future: concurrent.futures.Future[None]) -> None:
        took = time.monotonic() - self.started
        exc = future.exception() if not future.cancelled() else None
        if exc is None:
            self._late(took)
        else:
            self._lost(
                exc, f"failed after {took:.3g}s, past {ENQUEUE_TIMEOUT_SETTING} ({self.budget:g}s)"
            )

    def _late(self, took: float) -> None:
        if self.durable:
            logger.warning(
                "regstack event %r: the outbox row of durable handler %s was written after "
                "%.3gs, past %s (%gs); the fire did not wait for it, and the relay hands it "
                "out as usual.",
                self.event,
                self.path,
                took,
                ENQUEUE_TIMEOUT_SETTING,
                self.budget,
                extra=self.extra,
            )
        else:
            logger.warning(
                "regstack event %r: enqueueing background handler %s took %.3gs, past %s "
                "(%gs); the fire did not wait for it, and the task was enqueued late.",
                self.event,
                self.path,
                took,
                ENQUEUE_TIMEOUT_SETTING,
                self.budget,
                extra=self.extra,
            )

    def _lost(self, exc: BaseException, outcome: str) -> None:
        logged = loggable(exc, self.kwargs)
        what = (
            f"writing the outbox row of durable handler {self.path} {outcome}: no row, so "
            "the relay has nothing to hand out; this delivery is lost."
            if self.durable
            else f"enqueueing background handler {self.path} {outcome}; this delivery is lost "
            "(make the entry durable to keep it)."
        )
        logger.error(
            "regstack event %r: %s",
            self.event,
            what,
            exc_info=(type(logged), logged, logged.__traceback__),
            extra=self.extra,
        )
