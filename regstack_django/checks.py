"""System checks for ``REGSTACK_HOOKS``, and every id, message and hint.

All the words live here: :mod:`regstack_django.handlers` builds its problems
with :func:`problem`, so the ``ImproperlyConfigured`` that stops start-up and
the ``manage.py check`` line for the same mistake say the same thing.

====================  =========================================================
id                    problem
====================  =========================================================
regstack_django.E001  ``REGSTACK_HOOKS`` is not a dict of event name -> list
regstack_django.E002  an event's value is not a list or tuple of handlers
regstack_django.E003  an entry is neither a dotted path nor a dict with "handler"
regstack_django.E004  a handler's dotted path cannot be imported
regstack_django.E005  a handler is not callable
regstack_django.E006  a handler cannot accept ``sender`` and ``**kwargs``
regstack_django.E007  an entry has an unknown option
regstack_django.E008  an option has a value of the wrong type
regstack_django.E009  an option does not apply to this handler
regstack_django.E010  ``background`` without Django's Tasks framework installed
regstack_django.E011  ``backend`` names a Tasks backend that is not configured
regstack_django.E012  ``REGSTACK_HOOKS_RAISE_ERRORS`` is not a bool
regstack_django.E020  ``REGSTACK_HOOKS_WORKERS`` is not a whole number from 1 to 1024
regstack_django.E021  ``REGSTACK_HOOKS_WORKER_WAIT`` is not a finite number >= 0
regstack_django.W001  an event name regstack does not fire (custom or a typo)
====================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

E001 = "regstack_django.E001"
E002 = "regstack_django.E002"
E003 = "regstack_django.E003"
E004 = "regstack_django.E004"
E005 = "regstack_django.E005"
E006 = "regstack_django.E006"
E007 = "regstack_django.E007"
E008 = "regstack_django.E008"
E009 = "regstack_django.E009"
E010 = "regstack_django.E010"
E011 = "regstack_django.E011"
E012 = "regstack_django.E012"
E020 = "regstack_django.E020"
E021 = "regstack_django.E021"
W001 = "regstack_django.W001"

HINTS: dict[str, str] = {
    E001: 'Use a dict such as {{"user_registered": ["myapp.hooks.on_registered"]}}.',
    E002: 'Give each event a list: {{"user_registered": ["myapp.hooks.on_registered"]}}.',
    E003: 'Use "myapp.hooks.on_registered" or {{"handler": "myapp.hooks.on_registered", ...}}.',
    E004: "Check the dotted path for typos, and that its module imports without errors.",
    E005: "Point the path at a function (or another callable), not at a module or a value.",
    E006: "Write the handler as 'def handler(sender, **kwargs)' (or 'async def').",
    E007: "Known options: {options}.",
    E008: "{option!r} takes {expected}.",
    E009: "{why}",
    E010: (
        "Background handlers enqueue through Django's Tasks framework: use Django 6.0+, "
        "or install the backport with 'pip install regstack-django[tasks]' and add "
        "'django_tasks' to INSTALLED_APPS."
    ),
    E011: "Configured Tasks backends: {aliases}. Add it to TASKS or fix the alias.",
    E012: "Set REGSTACK_HOOKS_RAISE_ERRORS = True or False.",
    E020: "Set {setting} to the number of worker threads, e.g. {setting} = {default} "
    "(the default).",
    E021: "Set {setting} to the seconds a fire may wait for a free worker, e.g. {setting} = "
    "{default} (the default); 0 fails at once when every worker is busy.",
    W001: "{suggestion}",
}

WARNINGS = frozenset({W001})
ALL_IDS = frozenset(HINTS)


def problem(code: str, msg: str, **hint_args: Any) -> CheckMessage:
    """The check message for ``code``; the hint is filled from ``hint_args``."""
    cls = Warning if code in WARNINGS else Error
    return cls(msg, hint=HINTS[code].format(**hint_args), id=code)


def as_text(message: CheckMessage) -> str:
    """One problem as the line ``ImproperlyConfigured`` shows."""
    return f"{message.id}: {message.msg} HINT: {message.hint}"


def check_hooks_setting(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report every problem in ``REGSTACK_HOOKS`` (and its companion setting)."""
    if app_configs is not None and not any(c.name == "regstack_django" for c in app_configs):
        return []
    from regstack_django.handlers import parse_hooks_setting

    return parse_hooks_setting().problems
