"""Parse and validate ``REGSTACK_HOOKS`` into :class:`HandlerSpec` objects.

One pass over the setting yields both the handlers to connect and every
problem found (as system-check messages from :mod:`regstack_django.checks`),
so start-up (``ImproperlyConfigured``) and ``manage.py check`` agree word for
word. Nothing here connects anything: :mod:`regstack_django.wiring` does.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.checks import CheckMessage
from django.utils.module_loading import import_string

from regstack_django.background import tasks_compat
from regstack_django.checks import messages
from regstack_django.checks.messages import E011_REFUSED_OPTION, E011_UNKNOWN_ALIAS, problem
from regstack_django.conf import HOOKS_SETTING, RAISE_ERRORS_SETTING, conf
from regstack_django.events import EVENT_ARGUMENTS, KNOWN_EVENTS

#: The largest ``timeout`` accepted: a day. Beyond it a timeout means nothing,
#: and a huge value (``10**400``) would fail every fire with ``OverflowError``.
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
}
BACKGROUND_ONLY = (
    "on_commit",
    "include_secrets",
    "queue_name",
    "priority",
    "backend",
    "durable",
)


@dataclass(frozen=True)
class HandlerSpec:
    """One valid entry of ``REGSTACK_HOOKS``, with its options resolved."""

    event: str
    index: int
    path: str
    handler: Callable[..., Any]
    is_async: bool
    background: bool = False
    on_commit: bool = True
    include_secrets: bool = False
    timeout: float | None = None
    queue_name: str | None = None
    priority: int | None = None
    backend: str | None = None
    durable: bool = False

    @property
    def dispatch_uid(self) -> str:
        """Stable per entry, so connecting again never connects twice."""
        return f"regstack_django.settings:{self.event}:{self.index}:{self.path}"

    @property
    def location(self) -> str:
        return _location(self.event, self.index)


@dataclass
class ParsedHooks:
    specs: list[HandlerSpec] = field(default_factory=list)
    problems: list[CheckMessage] = field(default_factory=list)

    @property
    def errors(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.is_serious()]


def _location(event: object, index: int | None = None) -> str:
    where = f"{HOOKS_SETTING}[{event!r}]"
    return where if index is None else f"{where}[{index}]"


def parse_hooks_setting() -> ParsedHooks:
    """Read both settings now and return the valid handlers and all problems."""
    parsed = ParsedHooks()
    raise_errors = conf.REGSTACK_HOOKS_RAISE_ERRORS
    if not isinstance(raise_errors, bool):
        parsed.problems.append(
            problem(messages.E012, f"{RAISE_ERRORS_SETTING} must be a bool, not {raise_errors!r}.")
        )
    raw = conf.REGSTACK_HOOKS
    if not isinstance(raw, Mapping):
        parsed.problems.append(
            problem(
                messages.E001,
                f"{HOOKS_SETTING} must be a dict of event name -> list of handlers, "
                f"not {type(raw).__name__} {raw!r}.",
            )
        )
        return parsed
    for event, entries in raw.items():
        if not isinstance(event, str) or not event:
            parsed.problems.append(
                problem(
                    messages.E001, f"{HOOKS_SETTING} has a key {event!r} that is not an event name."
                )
            )
            continue
        if event not in KNOWN_EVENTS:
            parsed.problems.append(_unknown_event(event))
        if not isinstance(entries, list | tuple):
            parsed.problems.append(
                problem(
                    messages.E002,
                    f"{_location(event)} must be a list of handlers, "
                    f"not {type(entries).__name__} {entries!r}.",
                )
            )
            continue
        background_paths: set[str] = set()
        for index, entry in enumerate(entries):
            spec = _parse_entry(event, index, entry, parsed.problems)
            if spec is None:
                continue
            if spec.background and spec.path in background_paths:
                parsed.problems.append(
                    problem(
                        messages.E025,
                        f"{spec.location} lists {spec.path!r} again as a background handler "
                        f"of {event!r}.",
                    )
                )
                continue
            if spec.background:
                background_paths.add(spec.path)
            parsed.specs.append(spec)
    return parsed


def _unknown_event(event: str) -> CheckMessage:
    close = difflib.get_close_matches(event, sorted(KNOWN_EVENTS), n=1)
    suggestion = (
        f"Did you mean {close[0]!r}?"
        if close
        else "If this is a custom event you fire yourself, ignore this warning "
        f"(or silence it with SILENCED_SYSTEM_CHECKS = [{messages.W001!r}])."
    )
    return problem(
        messages.W001,
        f"{HOOKS_SETTING} names the event {event!r}, which regstack does not fire.",
        suggestion=suggestion,
    )


def _parse_entry(
    event: str, index: int, entry: object, problems: list[CheckMessage]
) -> HandlerSpec | None:
    where = _location(event, index)
    if isinstance(entry, str):
        options: dict[str, Any] = {"handler": entry}
    elif isinstance(entry, Mapping) and isinstance(entry.get("handler"), str):
        options = dict(entry)
    else:
        problems.append(
            problem(
                messages.E003,
                f"{where} must be a dotted path string or a dict with a 'handler' "
                f"path, not {entry!r}.",
            )
        )
        return None
    path: str = options["handler"]
    count = len(problems)
    _check_options(where, path, options, problems)
    handler = _import_handler(where, path, problems)
    if handler is not None:
        _check_applicability(event, where, path, handler, options, problems)
    if handler is None or any(p.is_serious() for p in problems[count:]):
        return None
    return HandlerSpec(
        event=event,
        index=index,
        path=path,
        handler=handler,
        is_async=iscoroutinefunction(handler),
        background=options.get("background", False),
        on_commit=options.get("on_commit", True),
        include_secrets=options.get("include_secrets", False),
        timeout=options.get("timeout"),
        queue_name=options.get("queue_name"),
        priority=options.get("priority"),
        backend=options.get("backend"),
        durable=options.get("durable", False),
    )


def _check_options(
    where: str, path: str, options: dict[str, Any], problems: list[CheckMessage]
) -> None:
    for name, value in options.items():
        if name not in OPTION_TYPES:
            close = difflib.get_close_matches(str(name), OPTION_TYPES, n=1)
            problems.append(
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
            problems.append(
                problem(
                    messages.E008,
                    f"{where} ({path!r}) option {name!r} has the value {value!r}.",
                    option=name,
                    expected=expected,
                )
            )


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


def _import_handler(
    where: str, path: str, problems: list[CheckMessage]
) -> Callable[..., Any] | None:
    try:
        handler = import_string(path)
    except ImportError as exc:
        if _names_a_module(path):  # not yet imported: import_string found no attribute
            problems.append(_module_problem(where, path))
        else:
            problems.append(
                problem(
                    messages.E004, f"{where} cannot import {path!r} ({type(exc).__name__}: {exc})."
                )
            )
        return None
    except Exception as exc:  # the module itself is broken: say so, don't crash check
        problems.append(
            problem(
                messages.E004,
                f"{where} cannot import {path!r}: importing it raised {type(exc).__name__}: {exc}.",
            )
        )
        return None
    if isinstance(handler, ModuleType):  # already imported: an attribute of its package
        problems.append(_module_problem(where, path))
        return None
    if not callable(handler):
        problems.append(
            problem(
                messages.E005, f"{where} {path!r} is not callable (it is {type(handler).__name__})."
            )
        )
        return None
    return handler  # type: ignore[no-any-return]


def _names_a_module(path: str) -> bool:
    """Whether ``path`` is an importable module's name (whether or not it is imported yet)."""
    try:
        return importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        return False


def _module_problem(where: str, path: str) -> CheckMessage:
    """E005 for a path naming a module: the same words whatever was imported first."""
    return problem(
        messages.E005,
        f"{where} {path!r} is a module, not a function: name a function in it, "
        f"e.g. {path + '.on_registered'!r}.",
    )


def signature_problem(handler: Callable[..., Any], event: str) -> str | None:
    """Why Django cannot call ``handler(signal=..., sender=..., **event_kwargs)``.

    ``None`` when it can (or when the signature cannot be inspected at all,
    as for some builtins: then Django's own call is the judge).
    """
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        return "it does not accept **kwargs"
    required, _optional = EVENT_ARGUMENTS.get(event, ((), ()))
    supplied = {"sender", "signal", *required}
    for p in params:
        if p.default is not p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            return f"its parameter {p.name!r} is positional-only (Django passes keywords)"
        if p.name not in supplied and event in KNOWN_EVENTS:
            return f"it requires {p.name!r}, which {event!r} does not always carry"
    return None


def _check_applicability(
    event: str,
    where: str,
    path: str,
    handler: Callable[..., Any],
    options: dict[str, Any],
    problems: list[CheckMessage],
) -> None:
    why = signature_problem(handler, event)
    if why is not None:
        problems.append(problem(messages.E006, f"{where} {path!r} cannot be a receiver: {why}."))
    background = options.get("background") is True
    if not background:
        for name in BACKGROUND_ONLY:
            if name in options:
                problems.append(
                    problem(
                        messages.E009,
                        f"{where} ({path!r}) option {name!r} only applies to background handlers.",
                        why='Add "background": True, or remove the option.',
                    )
                )
    if "timeout" in options and background:
        problems.append(
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'timeout' does not apply to a background handler.",
                why="Set time limits in your Tasks backend instead.",
            )
        )
    if background and options.get("durable") is True and "on_commit" in options:
        problems.append(
            problem(
                messages.E009,
                f"{where} ({path!r}) option 'on_commit' does not apply to a durable handler.",
                why="A durable entry writes its outbox row inside the caller's transaction, "
                "so it is committed (or rolled back) with it: remove 'on_commit'.",
            )
        )
    if background:
        problems.extend(background_problems(where, path, options))


def background_problems(where: str, path: str, options: dict[str, Any]) -> list[CheckMessage]:
    """What stops ``path`` from running in the background, as check messages.

    Beyond the alias, the backend itself judges the task options (a queue it
    does not serve, a priority it does not support), so a mistake shows at
    start-up rather than as a failed enqueue on every event. A backend that
    runs tasks in the request (Immediate) or never (Dummy) is a warning.
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
    return []
