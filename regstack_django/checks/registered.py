"""The check functions ``ready()`` registers; their ids and words are in :mod:`.messages`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_WORKER_WAIT,
    DEFAULT_WORKERS,
    ENQUEUE_TIMEOUT_SETTING,
    MAX_MAX_ATTEMPTS,
    MAX_WORKERS,
    MESSAGE_MAX_AGE_SETTING,
    OPENTELEMETRY_SETTING,
    OUTBOX_MAX_ATTEMPTS_SETTING,
    REQUEST_ID_HEADER_SETTING,
    SECONDS_SETTINGS,
    TRUSTED_PROXIES_SETTING,
    WORKER_WAIT_SETTING,
    WORKERS_SETTING,
    conf,
    valid_max_attempts,
    valid_seconds,
    valid_worker_wait,
    valid_workers,
)
from regstack_django.hooks.entries import parse_hooks_setting


def _includes_this_app(app_configs: Sequence[AppConfig] | None) -> bool:
    return app_configs is None or any(c.name == "regstack_django" for c in app_configs)


def check_hooks_setting(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report every problem in ``REGSTACK_HOOKS`` (and its companion setting)."""
    return parse_hooks_setting().problems if _includes_this_app(app_configs) else []


def check_seconds_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """The enqueue budget (E023), the outbox (E024, E030), ``REGSTACK_MESSAGE_MAX_AGE`` (E032)."""
    if not _includes_this_app(app_configs):
        return []
    found = []
    for name, (default, maximum) in SECONDS_SETTINGS.items():
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        if valid_seconds(value, maximum):
            continue
        code = {
            ENQUEUE_TIMEOUT_SETTING: messages.E023,
            MESSAGE_MAX_AGE_SETTING: messages.E032,
        }.get(name, messages.E024)
        found.append(
            problem(
                code,
                f"{name} must be a number of seconds, not {value!r}.",
                setting=name,
                maximum=maximum,
                default=default,
            )
        )
    return [*found, *check_outbox_settings(app_configs)]


def check_regstack_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report what stops ``REGSTACK`` / ``REGSTACK_INSTANCE`` from giving one RegStack.

    Builds the instance as ``get_regstack()`` does, and keeps it for the site.
    """
    return regstack_problems() if _includes_this_app(app_configs) else []


def regstack_problems() -> list[CheckMessage]:
    """Return the problems of the instance settings, then :func:`wiring_problems`."""
    from regstack_django.hosting import instance

    return [*instance.problems(), *wiring_problems()]


def wiring_problems() -> list[CheckMessage]:
    """Return W002 (receivers wait, regstack unconfigured) and W003 (staticfiles first)."""
    import importlib.util

    from django.apps import apps

    from regstack_django.conf import CONFIG_SETTING, INSTANCE_SETTING, conf

    if not conf.regstack_configured:
        if importlib.util.find_spec("regstack") is None or not _receivers_connected():
            return []
        return [
            problem(
                messages.W002,
                "Receivers are connected to regstack's signals, but regstack is not "
                f"configured ({CONFIG_SETTING} / {INSTANCE_SETTING}): nothing fires unless "
                "the project calls regstack_django.attach() on its RegStack.",
            )
        ]
    names = [config.name for config in apps.get_app_configs()]
    staticfiles = "django.contrib.staticfiles"
    if staticfiles in names and names.index(staticfiles) < names.index("regstack_django"):
        return [
            problem(
                messages.W003,
                f"'regstack_django' comes after {staticfiles!r} in INSTALLED_APPS: "
                "'manage.py runserver' is then the one staticfiles provides, which serves "
                "Django only and answers 404 on every regstack route.",
            )
        ]
    return []


def _receivers_connected() -> bool:
    from regstack_django.events import KNOWN_EVENTS
    from regstack_django.hooks.introspect import has_receivers
    from regstack_django.signals import signal_for

    return any(has_receivers(signal_for(event)) for event in KNOWN_EVENTS)


def check_receivers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``@receiver`` functions on regstack's signals that the event cannot call."""
    if not _includes_this_app(app_configs):
        return []
    from regstack_django.checks.receivers import receiver_problems

    return receiver_problems()


def check_pool_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_HOOKS_WORKERS`` (E020) and ``REGSTACK_HOOKS_WORKER_WAIT`` (E021)."""
    if not _includes_this_app(app_configs):
        return []
    found = []
    workers = conf.REGSTACK_HOOKS_WORKERS
    if not valid_workers(workers):
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
    if not valid_worker_wait(wait):
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


def check_outbox_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_OUTBOX_MAX_ATTEMPTS`` (E030)."""
    if not _includes_this_app(app_configs) or not hasattr(settings, OUTBOX_MAX_ATTEMPTS_SETTING):
        return []
    value = getattr(settings, OUTBOX_MAX_ATTEMPTS_SETTING)
    if valid_max_attempts(value):
        return []
    return [
        problem(
            messages.E030,
            f"{OUTBOX_MAX_ATTEMPTS_SETTING} must be a whole number of runs, not {value!r}.",
            maximum=MAX_MAX_ATTEMPTS,
            default=DEFAULT_MAX_ATTEMPTS,
        )
    ]


def check_context_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report the request-context settings (E045, E046) and a changed login route (W045)."""
    from regstack_django.hosting.login_watch import login_route_problem
    from regstack_django.hosting.request import parse_proxies, valid_header_name

    if not _includes_this_app(app_configs):
        return []
    found = []
    try:
        parse_proxies(conf.REGSTACK_TRUSTED_PROXIES)
    except ValueError as exc:
        found.append(problem(messages.E045, f"{TRUSTED_PROXIES_SETTING} is invalid: {exc}."))
    header = conf.REGSTACK_REQUEST_ID_HEADER
    if not valid_header_name(header):
        found.append(
            problem(
                messages.E046,
                f"{REQUEST_ID_HEADER_SETTING} must be an HTTP header name, not {header!r}.",
            )
        )
    route = login_route_problem() if conf.regstack_configured else None
    if route is not None:
        found.append(
            problem(messages.W045, f"login_failed may not be sent for every failure: {route}.")
        )
    return found


def check_opentelemetry_setting(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_OPENTELEMETRY`` not a bool (E050), or on without OpenTelemetry (E051)."""
    if not _includes_this_app(app_configs):
        return []
    from regstack_django.observability import switch

    value = conf.REGSTACK_OPENTELEMETRY
    if not isinstance(value, bool):
        message = f"{OPENTELEMETRY_SETTING} must be True or False, not {value!r}."
        return [problem(messages.E050, message)]
    if value and not switch.installed():
        message = f"{OPENTELEMETRY_SETTING} is True, but OpenTelemetry's API is not installed."
        return [problem(messages.E051, message)]
    return []


def check_users_setting(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Iterable[CheckMessage]:
    """Report ``REGSTACK_DJANGO_USERS`` (E040, E041) and the middleware's place (W040)."""
    if not _includes_this_app(app_configs):
        return []
    from django.contrib.auth import get_user_model

    from regstack_django.auth import rules

    found = [
        problem(messages.E040, text)
        for text in rules.parse(getattr(settings, rules.USERS_SETTING, None))[1]
    ]
    try:
        model = get_user_model()
    except ImproperlyConfigured:  # django.contrib.auth is not installed: Django reports it
        return found
    names = {f.name for f in model._meta.get_fields()}
    for targets in rules.current().flags.values():
        found.extend(
            problem(
                messages.E041,
                f"{rules.USERS_SETTING}['flags'] sets {target!r}, which "
                f"{model._meta.label} does not have.",
                model=model._meta.label,
                field=target,
            )
            for target in targets
            if target not in names
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    ours, django_auth = (
        "regstack_django.auth.RegStackTokenMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    )
    if ours in middleware and django_auth in middleware[middleware.index(ours) :]:
        found.append(problem(messages.W040, f"MIDDLEWARE has {ours} before {django_auth}."))
    return found


def settings_errors() -> list[CheckMessage]:
    """Return the errors that refuse start-up: the pool settings' and ``REGSTACK_HOOKS``'s."""
    return [*check_pool_settings(), *parse_hooks_setting().errors]
