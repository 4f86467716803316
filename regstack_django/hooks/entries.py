"""Parse ``REGSTACK_HOOKS`` into :class:`HandlerSpec` objects and every problem found.

One pass gives both, so start-up (``ImproperlyConfigured``) and ``manage.py check``
say the same words. Nothing here connects anything: :mod:`regstack_django.hooks.wiring` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import HOOKS_SETTING, RAISE_ERRORS_SETTING, conf
from regstack_django.events import HOOKABLE_EVENTS
from regstack_django.hooks.dotted_paths import import_target
from regstack_django.hooks.options import applicability_problems, type_problems
from regstack_django.hooks.signatures import signature_problem


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
    must_run: bool = False

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
        if event not in HOOKABLE_EVENTS:
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
    close = difflib.get_close_matches(event, sorted(HOOKABLE_EVENTS), n=1)
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
    problems += type_problems(where, path, options)
    handler = _import_handler(where, path, problems)
    if handler is not None:
        why = signature_problem(handler, event)
        if why is not None:
            problems.append(
                problem(messages.E006, f"{where} {path!r} cannot be a receiver: {why}.")
            )
        problems += applicability_problems(
            where, path, options, is_async=iscoroutinefunction(handler)
        )
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
        must_run=options.get("must_run", False),
    )


def _import_handler(
    where: str, path: str, problems: list[CheckMessage]
) -> Callable[..., Any] | None:
    module = _module_problem(where, path)
    imported, handler = import_target(path, where, messages.E004, problems, module=module)
    if not imported:
        return None
    if isinstance(handler, ModuleType):  # already imported: an attribute of its package
        problems.append(module)
        return None
    if not callable(handler):
        problems.append(
            problem(
                messages.E005, f"{where} {path!r} is not callable (it is {type(handler).__name__})."
            )
        )
        return None
    return handler  # type: ignore[no-any-return]


def _module_problem(where: str, path: str) -> CheckMessage:
    """Return E005 for a path naming a module: the same words whatever was imported first."""
    return problem(
        messages.E005,
        f"{where} {path!r} is a module, not a function: name a function in it, "
        f"e.g. {path + '.on_registered'!r}.",
    )
