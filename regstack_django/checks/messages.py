"""Every check id and hint, and :func:`problem`: the words ``manage.py check`` and start-up share.

It imports nothing of the package, so any module can use it. docs/checks.md lists the ids.
"""

from __future__ import annotations

from typing import Any

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
E023 = "regstack_django.E023"
E024 = "regstack_django.E024"
E025 = "regstack_django.E025"
W001 = "regstack_django.W001"
E013 = "regstack_django.E013"
E014 = "regstack_django.E014"
E015 = "regstack_django.E015"
E016 = "regstack_django.E016"
E017 = "regstack_django.E017"
E018 = "regstack_django.E018"
E019 = "regstack_django.E019"
W002 = "regstack_django.W002"
W003 = "regstack_django.W003"
W004 = "regstack_django.W004"
W006 = "regstack_django.W006"
W007 = "regstack_django.W007"
W009 = "regstack_django.W009"
E030 = "regstack_django.E030"
E032 = "regstack_django.E032"
E060 = "regstack_django.E060"
E045 = "regstack_django.E045"
E046 = "regstack_django.E046"
W045 = "regstack_django.W045"
E050 = "regstack_django.E050"
E051 = "regstack_django.E051"
E040 = "regstack_django.E040"
E041 = "regstack_django.E041"
W040 = "regstack_django.W040"

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
    E011: "{how}",
    E012: "Set REGSTACK_HOOKS_RAISE_ERRORS = True or False.",
    E020: "Set {setting} to the number of worker threads, e.g. {setting} = {default} "
    "(the default).",
    E021: "Set {setting} to the seconds a fire may wait for a free worker, e.g. {setting} = "
    "{default} (the default); 0 fails at once when every worker is busy.",
    E023: (
        "Set REGSTACK_HOOKS_ENQUEUE_TIMEOUT to the seconds a request may wait for one "
        "background enqueue (a finite number > 0 and <= {maximum:g}; default {default:g})."
    ),
    E024: (
        "Set {setting} to a finite number of seconds > 0 and <= {maximum:g} (default {default:g})."
    ),
    E025: (
        "A background delivery is one per event and handler (the worker and the outbox "
        "know it by its dotted path and the fire's event_id): keep one of the entries."
    ),
    W001: "{suggestion}",
    E013: (
        "Check the dotted path for typos, and that its module imports without errors: "
        "REGSTACK_INSTANCE names a RegStack or a function returning one, "
        "e.g. 'mysite.auth.build_regstack'."
    ),
    E014: (
        "Point REGSTACK_INSTANCE at a regstack.RegStack, or at a function that takes no "
        "arguments and returns one."
    ),
    E015: "{hint}",
    E016: (
        "Keep one: REGSTACK to have regstack_django build the RegStack from these fields, or "
        "REGSTACK_INSTANCE for one you build yourself (its config then lives there)."
    ),
    E017: "{hint}",
    E018: (
        "Write the receiver as 'def receiver(sender, **kwargs)' (or 'async def') and take "
        "only what this event carries: {arguments}."
    ),
    E019: (
        "Install regstack: pip install 'regstack-django[regstack]' (from a checkout: "
        "pip install -e '.[regstack]'), or remove the setting."
    ),
    W002: (
        "Set REGSTACK = {{...}} (or REGSTACK_INSTANCE) in settings, and regstack_django "
        "builds and attaches the RegStack. If you attach() one yourself, silence this "
        "warning with SILENCED_SYSTEM_CHECKS = ['regstack_django.W002']."
    ),
    W003: (
        "Put 'regstack_django' before 'django.contrib.staticfiles' in INSTALLED_APPS, so "
        "its runserver (regstack and Django together, static files included) is the one "
        "manage.py finds."
    ),
    W004: "{hint}",
    W006: (
        "The Immediate backend runs each task inside the request, so the handler is not in "
        "the background at all. Configure a backend with a worker (for example "
        'django_tasks_db.DatabaseBackend) in TASKS, or drop "background": True.'
    ),
    W007: (
        "The Dummy backend stores tasks and never runs them: every event is dropped. Use it "
        "only in tests (silence with SILENCED_SYSTEM_CHECKS = ['regstack_django.W007']), or "
        "configure a backend with a worker in TASKS."
    ),
    W009: (
        "Start a worker that reads this queue: python manage.py db_worker --queue-name {queue} "
        "(or --queue-name '*'; other backends: their worker's queue option). Then silence "
        "this warning with SILENCED_SYSTEM_CHECKS = ['regstack_django.W009']."
    ),
    E030: (
        "Set REGSTACK_OUTBOX_MAX_ATTEMPTS to the failed runs after which a durable row is "
        "dead, a whole number from 1 to {maximum} (default {default})."
    ),
    E032: (
        "Set REGSTACK_MESSAGE_MAX_AGE to the seconds after which a plain background message "
        "is refused as a possible replay: a finite number > 0 and <= {maximum:g} (default "
        "{default:g}, 3 days). Keep it above the longest time a task may wait in your queue."
    ),
    E060: (
        "Set REGSTACK_AUDIT_RETENTION to the days 'manage.py regstack_audit_prune' keeps an "
        "AuthEvent, a whole number from 1 to {maximum} (default {default}), or None to keep "
        "every row."
    ),
    E045: (
        "Set REGSTACK_TRUSTED_PROXIES to a list of your reverse proxies' addresses or "
        'networks, such as ["10.0.0.0/8", "127.0.0.1"] (default: [], X-Forwarded-For ignored).'
    ),
    E046: (
        'Set REGSTACK_REQUEST_ID_HEADER to a header name such as "X-Request-ID" (the '
        'default) or "X-Correlation-ID".'
    ),
    W045: (
        "login_failed is read from regstack's answers to POST /login; this regstack's route "
        "has changed. Pin regstack to a version this regstack_django supports, or upgrade "
        'regstack_django (docs/observability.md, "Failed sign-ins").'
    ),
    E050: "Set REGSTACK_OPENTELEMETRY = True to trace fires and record metrics, or False.",
    E051: (
        "Install OpenTelemetry's API: pip install 'regstack-django[otel]' (and an SDK with an "
        "exporter to see anything), or set REGSTACK_OPENTELEMETRY = False."
    ),
    E040: (
        "Write REGSTACK_DJANGO_USERS as a dict of the keys docs/users.md lists, e.g. "
        '{{"create": True, "username": "email", "on_delete": "deactivate"}}.'
    ),
    E041: (
        "{model} has no field {field!r}: map the regstack flag to a field the user model has, "
        "or remove it from REGSTACK_DJANGO_USERS['flags']."
    ),
    W040: (
        "Put 'regstack_django.auth.RegStackTokenMiddleware' after "
        "'django.contrib.auth.middleware.AuthenticationMiddleware' in MIDDLEWARE, or Django's "
        "session user replaces the token's user."
    ),
}

#: E011's hints: an unknown alias, or options the backend itself refuses.
E011_UNKNOWN_ALIAS = "Configured Tasks backends: {aliases}. Add it to TASKS or fix the alias."
E011_REFUSED_OPTION = (
    "The Tasks backend {backend!r} refuses {options}: remove {them}, or change it to a value "
    "that backend supports (for 'queue_name', one of its QUEUES; for 'priority', its range)."
)

WARNINGS = frozenset({W001, W002, W003, W004, W006, W007, W009, W040, W045})
ALL_IDS = frozenset(HINTS)


def problem(code: str, msg: str, **hint_args: Any) -> CheckMessage:
    """Return the check message for ``code``, its hint filled from ``hint_args``."""
    cls = Warning if code in WARNINGS else Error
    return cls(msg, hint=HINTS[code].format(**hint_args), id=code)


def as_text(message: CheckMessage) -> str:
    """Return one problem as the line ``ImproperlyConfigured`` shows."""
    return f"{message.id}: {message.msg} HINT: {message.hint}"
