"""What a full pool tells the user: the refusal, and who holds the workers.

One WARNING a minute at most, so a saturated pool does not flood the log.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from regstack_django.conf import WORKER_WAIT_SETTING, WORKERS_SETTING
from regstack_django.failures import logger, receiver_name

#: At most one saturation WARNING per this many seconds (the next one counts
#: the fires that were refused in between).
SATURATION_WARNING_INTERVAL = 60.0

#: One busy worker: its fire's event and sync receivers, and the abandoned work still running.
Busy = tuple[str | None, list[Any], list[str]]


def unavailable_message(size: int, wait: float) -> str:
    """Return the text of the :class:`WorkerUnavailable` a refused fire fails with."""
    return (
        f"no worker thread became free within {WORKER_WAIT_SETTING} = {wait:g}s: "
        f"all {size} workers ({WORKERS_SETTING}) are busy."
    )


def holder_names(busy: Iterable[Busy]) -> list[str]:
    """Name what holds the busy workers, the most frequent first."""
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


class SaturationWarning:
    """The pool's rate-limited WARNING that every worker is busy."""

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self.lock = threading.Lock()
        self.warned_at = -math.inf
        self.refused_since_warning = 0

    def refused(self, event: str, holders: Callable[[], list[str]]) -> None:
        """Count one refused fire of ``event``; warn unless a warning went out lately."""
        now = time.monotonic()
        with self.lock:
            self.refused_since_warning += 1
            if now - self.warned_at < SATURATION_WARNING_INTERVAL:
                return
            self.warned_at = now
            refused, self.refused_since_warning = self.refused_since_warning, 0
        logger.warning(
            "The regstack_django worker pool is saturated: all %d workers are busy, so a "
            "fire of %r waited %gs (%s) for one and its sync receivers were skipped as timed "
            "out, but for 'must_run' ones (%d fire(s) refused since the last warning). Holding "
            "the workers: %s. Give the slow receivers a 'timeout', mark those that must not be "
            "skipped 'must_run', or raise %s.",
            self.size,
            event,
            self.wait,
            WORKER_WAIT_SETTING,
            refused,
            "; ".join(holders()) or "nothing any more",
            WORKERS_SETTING,
            extra={"regstack_event": event},
        )
