"""The options of a ``REGSTACK_HOOKS`` entry: their types, where they apply, what Tasks accepts."""

from __future__ import annotations

import difflib
import math
from typing import Any

from django.core.checks import CheckMessage

from regstack_django.background import tasks_compat
from regstack_django.checks import messages
from regstack_django.checks.messages import E011_REFUSED_OPTION, E011_UNKNOWN_ALIAS, problem

#: The largest ``timeout`` accepted: a day. A huge value (``10**400``) would fail
#: every fire with ``OverflowError``.
MAX_TIMEOUT = 86400.0

#: option -> (accepted types, description for the hint)
OPTION_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "handler": ((str,), "a dotted path string"),
    "background": ((bool,), "True or False"),
    "on_commit": ((bool,), "True or False"),
    "include_secrets": ((bool,), "True or False"),
    "timeout": ((int, float), f"a finite number of seconds > 0 and <= {MAX_TIMEOUT:g}"),
    "durable": ((bool,), "True or False"),
    "queue_name": ((str,), "a queue name string"),
    "priority": ((int,), "an integer"),
    "backend": ((str,), "a Tasks backend alias string"),
    "must_run": ((bool,), "True or False"),
}
BACKGROUND_ONLY = (
    "on_commit",
    "include_secrets",
    "queue_name",
    "priority",
    "backend",
    "durable",
)


def type_problems(where: str, path: str, options: dict[str, Any]) -> list[CheckMessage]:
    """Return E007 for each unknown option and E008 for each value of the wrong type."""
    found = []
    for name, value in options.items():
        if name not in OPTION_TYPES:
            close = difflib.get_close_matches(str(name), OPTION_TYPES, n=1)
            found.append(
                problem(
                    messages.E007,
                    f"{where} ({path!r}) has an unknown option {name!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "."),
                    options=", ".join(sorted(OPTION_TYPES)),
                )
            )
            continue
        types, expected = OPTION_TYPES[name]
        valid = _valid(value, types)
        if name == "timeout" and valid:
            valid = _bounded_seconds(value)
        if not valid:
            found.append(
                problem(
                    messages.E008,
                    f"{where} ({path!r}) option {name!r} has the value {value!r}.",
                    option=name,
                    expected=expected,
                )
            )
    return found


def _bounded_seconds(value: float) -> bool:
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return False
    return math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT


def _valid(value: object, types: tuple[type, ...]) -> bool:
    # bool is an int subclass: True is not a valid timeout or priority.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def applicability_problems(
    where: str, path: str, options: dict[str, Any], *, is_async: bool
) -> list[CheckMessage]:
    """Return E009 for options that do not apply to this entry, then its background problems."""
    background = options.get("background") is True
    found = must_run_problems(where, path, options, is_async=is_async)
    if not background:
        found += [
            problem(
                messages.E009,
                f"{where} ({path!r}) option {name!r} only applies to background handlers.",
                why='Add "background": True, or remove the option.',
            )
            for name in BACKGROUND_ONLY
            if name in options
        ]
        return found
    if "timeout" in options:
        found.append(
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'timeout' does not apply to a background handler.",
                why="Set time limits in your Tasks backend instead.",
            )
        )
    if options.get("durable") is True and "on_commit" in options:
        found.append(
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'on_commit' does not apply to a durable handler.",
                why="A durable entry writes its outbox row inside the caller's transaction, "
                "so it is committed (or rolled back) with it: remove 'on_commit'.",
            )
        )
    return found + background_problems(where, path, options)


def must_run_problems(
    where: str, path: str, options: dict[str, Any], *, is_async: bool
) -> list[CheckMessage]:
    """Return E009 for ``"must_run": True`` where it cannot apply, or without a timeout."""
    if options.get("must_run") is not True:
        return []
    if options.get("background") is True or is_async:
        kind = "a background" if options.get("background") is True else "an async"
        return [
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'must_run' does not apply to {kind} handler.",
                why="It needs no worker thread, so a saturated pool never skips it: "
                "remove 'must_run'.",
            )
        ]
    if "timeout" not in options:
        return [
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'must_run' needs a 'timeout'.",
                why='Add "timeout": seconds: when no worker is free, the fire waits for a '
                "must-run receiver at most that long (it still runs to the end).",
            )
        ]
    return []


def background_problems(where: str, path: str, options: dict[str, Any]) -> list[CheckMessage]:
    """Return what stops ``path`` from running in the background, as check messages.

    The backend itself judges the task options (a queue it does not serve, a
    priority it does not support), so a mistake shows at start-up, not on every
    event. A backend that runs tasks in the request (Immediate) or never (Dummy)
    is a warning.
    """
    if tasks_compat.tasks_module() is None:
        return [
            problem(
                messages.E010,
                f"{where} ({path!r}) is a background handler, but neither django.tasks "
                "(Django 6.0+) nor the django_tasks backport is installed.",
            )
        ]
    aliases = tasks_compat.backend_aliases()
    backend = options.get("backend")
    if backend is not None and backend not in aliases:
        return [
            problem(
                messages.E011,
                f"{where} ({path!r}) names the Tasks backend {backend!r}, which is not in TASKS.",
                how=E011_UNKNOWN_ALIAS.format(aliases=", ".join(repr(a) for a in aliases)),
            )
        ]
    refused = tasks_compat.refused_options(options)
    if refused is not None:
        names = [n for n in ("queue_name", "priority") if options.get(n) is not None]
        return [
            problem(
                messages.E011,
                f"{where} ({path!r}): the Tasks backend refuses these options "
                f"({type(refused).__name__}: {refused}).",
                how=E011_REFUSED_OPTION.format(
                    backend=backend or "default",
                    options=" and ".join(repr(n) for n in names) or "these options",
                    them="it" if len(names) == 1 else "them",
                ),
            )
        ]
    return _backend_kind_warnings(where, path, backend, options.get("queue_name"))


def _backend_kind_warnings(
    where: str, path: str, backend: str | None, queue: str | None
) -> list[CheckMessage]:
    kind = tasks_compat.backend_kind(backend)
    if kind == "immediate":
        return [
            problem(
                messages.W006,
                f"{where} ({path!r}) is a background handler, but its Tasks backend "
                f"{backend or 'default'!r} is the Immediate backend: it runs in the request.",
            )
        ]
    if kind == "dummy":
        return [
            problem(
                messages.W007,
                f"{where} ({path!r}) is a background handler, but its Tasks backend "
                f"{backend or 'default'!r} is the Dummy backend: it never runs.",
            )
        ]
    if queue is not None and queue != "default":
        return [
            problem(
                messages.W009,
                f"{where} ({path!r}) enqueues on the Tasks queue {queue!r}: a worker started "
                "without a queue option (plain 'manage.py db_worker') reads only 'default', "
                "and the tasks wait forever.",
                queue=queue,
            )
        ]
    return []
