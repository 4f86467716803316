"""``@run_once``: a background handler runs once per ``(event_id, handler)``, on any backend.

Its claims live in :class:`~regstack_django.models.HandlerRun` (docs/background.md, "Replays").
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from regstack_django.failures import logger
from regstack_django.models import HandlerRun

F = TypeVar("F", bound=Callable[..., Any])


def run_once(func: F | None = None, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Run the decorated sync handler at most once per ``event_id``; a failed run can run again.

    The claim and the handler share one transaction on ``using``: a handler that
    raises (or a worker that dies) rolls the claim back, so a retry runs it; one
    that returns commits the claim with the handler's own writes on that database.
    """

    def decorate(handler: F) -> F:
        if inspect.iscoroutinefunction(handler):
            raise TypeError(
                f"@run_once takes a sync handler, and {handler.__qualname__} is async: "
                "write it as a 'def' (background handlers run in a worker thread anyway)."
            )
        name = f"{handler.__module__}.{handler.__qualname__}"

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            event_id = kwargs.get("event_id")
            if not isinstance(event_id, uuid.UUID):
                logger.warning(
                    "regstack run_once: %s got no event_id, so it cannot tell a copy from a "
                    "new event: it runs.",
                    name,
                )
                return handler(*args, **kwargs)
            with transaction.atomic(using=using):
                if not _claim(event_id, name, using):
                    logger.info(
                        "regstack run_once: %s already ran for %s: skipped.", name, event_id
                    )
                    return None
                return handler(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


def _claim(event_id: uuid.UUID, handler: str, using: str) -> bool:
    """Insert the claim row; return ``False`` when a committed run holds it already.

    A concurrent copy waits on the unique index (PostgreSQL) or the write lock
    (SQLite) until the first commits (then it finds the claim) or rolls back.
    """
    try:
        with transaction.atomic(using=using):  # a savepoint: the duplicate leaves no trace
            HandlerRun.objects.using(using).create(event_id=event_id, handler=handler)
    except IntegrityError:
        return False
    return True
