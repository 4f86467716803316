"""The project's one ``RegStack``, configured in Django settings, built once and attached.

regstack is configured by its ``RegStackConfig``; a Django project configures
everything in settings. ``REGSTACK = {...}`` holds those fields (validated by
regstack itself, on top of regstack's own loading from ``regstack.toml`` and
the environment); ``REGSTACK_INSTANCE = "dotted.path"`` names a ``RegStack``,
or a zero-argument callable returning one, for projects that build their own
(custom e-mail or SMS services, OAuth providers). Either setting makes regstack
"configured": :func:`get_regstack` then returns the instance, built on first
use and already :func:`~regstack_django.attach`-ed, so the project never calls
``attach()`` itself.

One function, :func:`build`, reads the settings and returns the instance and
every problem found, as check messages: ``manage.py check`` reports them and
:func:`get_regstack` raises ``ImproperlyConfigured`` with the same words.
Its result is cached until one of the settings it reads changes
(``override_settings``).
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import CONFIG_SETTING, INSTANCE_SETTING, conf

#: regstack's SQLite file when no ``database_url`` is configured, next to Django's own.
DEFAULT_DATABASE_NAME = "regstack.sqlite3"
#: regstack hashes passwords on its event loop; concurrent writes wait for SQLite's lock.
SQLITE_OPTIONS = "?timeout=30"


@dataclass(frozen=True)
class Outcome:
    """What the settings give: the attached instance (``None`` on an error) and the problems."""

    regstack: Any
    problems: tuple[CheckMessage, ...] = ()

    @property
    def errors(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.is_serious()]


_lock = threading.RLock()
_outcome: Outcome | None = None
_building = False
_overrides: list[Any] = []


def get_regstack() -> Any:
    """The project's ``RegStack``: built once from settings, attached to Django signals.

    Raises ``ImproperlyConfigured`` when ``regstack_django`` is not installed,
    when neither ``REGSTACK`` nor ``REGSTACK_INSTANCE`` is set, and when the
    settings are wrong (the words of ``manage.py check``).
    """
    from regstack_django.installed import app_config

    app_config("get_regstack()")
    if _overrides:
        return _overrides[-1]
    outcome = current()
    if outcome.regstack is not None:
        return outcome.regstack
    if not outcome.problems:
        raise ImproperlyConfigured(
            "regstack_django.get_regstack() needs regstack configured in settings: set "
            f"{CONFIG_SETTING} = {{...}} (RegStackConfig fields; {{}} reads regstack's own "
            f"regstack.toml and environment) or {INSTANCE_SETTING} = 'dotted.path'."
        )
    from regstack_django.hooks.wiring import invalid_settings_message

    raise ImproperlyConfigured(invalid_settings_message(outcome.errors))


def current() -> Outcome:
    """The cached :func:`build` result (built now if the settings changed since)."""
    global _outcome, _building  # the process-wide instance, like Django's own connections
    with _lock:
        if _outcome is None:
            if _building:  # only the building thread gets here: the lock is held
                raise ImproperlyConfigured(
                    f"{INSTANCE_SETTING}'s callable called regstack_django.get_regstack() "
                    "while it was being built: return the RegStack instead."
                )
            _building = True
            try:
                _outcome = build()
            finally:
                _building = False
        return _outcome


def reset() -> None:
    """Forget the instance, so the next :func:`get_regstack` reads the settings again."""
    global _outcome
    with _lock:
        _outcome = None


@contextmanager
def using(regstack: Any) -> Iterator[Any]:
    """Make :func:`get_regstack` return ``regstack`` (attached) inside the block.

    For test fixtures (``regstack_client``): the instance under test, on its
    own database, stands in for the configured one.
    """
    from regstack_django.hooks.bridge import attach

    attach(regstack)
    with _lock:
        _overrides.append(regstack)
    try:
        yield regstack
    finally:
        with _lock:
            _overrides.remove(regstack)


def problems() -> list[CheckMessage]:
    """Every problem of ``REGSTACK`` / ``REGSTACK_INSTANCE``, as check messages."""
    return list(current().problems)


def build(**overrides: Any) -> Outcome:
    """Read the settings now and build the instance; never raises for a settings mistake.

    ``overrides`` are ``RegStackConfig`` fields that win over ``REGSTACK``
    (``database_url`` for a test database); they need ``REGSTACK``, not
    ``REGSTACK_INSTANCE``.
    """
    fields, path = conf.REGSTACK, conf.REGSTACK_INSTANCE
    if fields is None and path is None:
        return Outcome(None)
    if importlib.util.find_spec("regstack") is None:
        setting = CONFIG_SETTING if fields is not None else INSTANCE_SETTING
        return Outcome(
            None,
            (problem(messages.E019, f"{setting} is set, but regstack is not installed."),),
        )
    if fields is not None and path is not None:
        return Outcome(
            None,
            (
                problem(
                    messages.E016,
                    f"Both {CONFIG_SETTING} and {INSTANCE_SETTING} are set; "
                    "regstack_django builds one RegStack from one of them.",
                ),
            ),
        )
    found: list[CheckMessage] = []
    if fields is not None:
        regstack = _from_fields(fields, overrides, found)
    else:
        regstack = _from_path(path, found)
    if regstack is not None:
        found += database_problems(regstack.config.database_url.get_secret_value())
    if regstack is None or any(p.is_serious() for p in found):
        return Outcome(None, tuple(found))
    from regstack_django.hooks.bridge import attach

    attach(regstack)
    return Outcome(regstack, tuple(found))


def _from_fields(fields: object, overrides: dict[str, Any], found: list[CheckMessage]) -> Any:
    from pydantic import BaseModel, SecretStr, ValidationError
    from regstack import RegStack, RegStackConfig

    if not isinstance(fields, Mapping):
        found.append(
            problem(
                messages.E015,
                f"{CONFIG_SETTING} must be a dict of RegStackConfig fields, "
                f"not {type(fields).__name__}.",
                hint=f"Use {CONFIG_SETTING} = {{'jwt_secret': ..., 'base_url': ...}}, "
                "or {} for regstack's own configuration.",
            )
        )
        return None
    fields = {**fields, **overrides}
    _unknown_fields(RegStackConfig, fields, CONFIG_SETTING, found, BaseModel)
    if found:
        return None
    try:
        config = RegStackConfig.load(**fields)
    except ValidationError as exc:
        summary = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(config)'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        found.append(
            problem(
                messages.E015,
                f"{CONFIG_SETTING} is invalid: regstack's RegStackConfig refuses {summary}.",
                hint=f"Fix these fields in {CONFIG_SETTING} (or in regstack.toml or the "
                "environment, if they come from there).",
            )
        )
        return None
    if "database_url" not in config.model_fields_set:
        default = default_database_url()
        if default is None:
            found.append(
                problem(
                    messages.E017,
                    f"{CONFIG_SETTING} has no 'database_url', and there is no default "
                    "location: DATABASES['default'] is not an SQLite file and settings "
                    "has no BASE_DIR.",
                    hint=f"Set {CONFIG_SETTING}['database_url'], e.g. "
                    "'postgresql+asyncpg://user:password@host/dbname' or "
                    "'sqlite+aiosqlite:////srv/mysite/regstack.sqlite3?timeout=30'.",
                )
            )
            return None
        config = config.model_copy(update={"database_url": SecretStr(default)})
    try:
        return RegStack(config=config)
    except Exception as exc:
        found.append(
            problem(
                messages.E015,
                f"{CONFIG_SETTING} is invalid: regstack refuses it ({type(exc).__name__}: {exc}).",
                hint=f"Fix {CONFIG_SETTING}; a jwt_secret must be a random string of at "
                "least 32 characters, read from the environment in production.",
            )
        )
        return None


def _unknown_fields(
    model: Any, fields: Mapping[Any, Any], where: str, found: list[CheckMessage], base: type
) -> None:
    """Report keys ``model`` has no field for (pydantic would silently ignore them)."""
    known = model.model_fields
    for key, value in fields.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            found.append(
                problem(
                    messages.E015,
                    f"{where} has the key {key!r}, which is not a field of regstack's "
                    f"{model.__name__}" + (f"; did you mean {close[0]!r}?" if close else "."),
                    hint=f"{model.__name__} fields: {', '.join(sorted(known))}.",
                )
            )
            continue
        annotation = known[key].annotation
        if (
            isinstance(value, Mapping)
            and inspect.isclass(annotation)
            and issubclass(annotation, base)
        ):
            _unknown_fields(annotation, value, f"{where}[{key!r}]", found, base)


def _from_path(path: object, found: list[CheckMessage]) -> Any:
    from regstack import RegStack

    if not isinstance(path, str) or not path:
        found.append(
            problem(
                messages.E013, f"{INSTANCE_SETTING} must be a dotted path string, not {path!r}."
            )
        )
        return None
    try:
        target = import_string(path)
    except ImportError as exc:
        found.append(
            problem(
                messages.E013,
                f"{INSTANCE_SETTING} cannot import {path!r} ({type(exc).__name__}: {exc}).",
            )
        )
        return None
    except Exception as exc:  # the module itself is broken: say so, don't crash check
        found.append(
            problem(
                messages.E013,
                f"{INSTANCE_SETTING} cannot import {path!r}: importing it raised "
                f"{type(exc).__name__}: {exc}.",
            )
        )
        return None
    if isinstance(target, RegStack):
        return target
    if not callable(target) or (inspect.isclass(target) and not issubclass(target, RegStack)):
        found.append(
            problem(
                messages.E014,
                f"{INSTANCE_SETTING} {path!r} is a {type(target).__name__}, not a RegStack "
                "or a function returning one.",
            )
        )
        return None
    try:
        built = target()
    except Exception as exc:
        found.append(
            problem(
                messages.E014,
                f"{INSTANCE_SETTING} {path!r} raised {type(exc).__name__} when called: {exc}",
            )
        )
        return None
    if not isinstance(built, RegStack):
        found.append(
            problem(
                messages.E014,
                f"{INSTANCE_SETTING} {path!r} returned a {type(built).__name__}, not a RegStack.",
            )
        )
        return None
    return built


def build_on(database_url: str) -> Any:
    """A new, attached RegStack configured as the settings say, but on ``database_url``.

    For tests (the ``regstack_client`` fixture): ``REGSTACK`` is used with
    ``database_url`` replaced; ``REGSTACK_INSTANCE`` must name a callable
    that accepts a ``database_url`` keyword (a test must never write the
    development database). Raises ``ImproperlyConfigured`` otherwise.
    """
    path = conf.REGSTACK_INSTANCE
    if conf.REGSTACK is not None or path is None:
        outcome = build(database_url=database_url)
        if outcome.regstack is None:
            if not outcome.problems:
                get_regstack()  # raises: regstack is not configured
            from regstack_django.hooks.wiring import invalid_settings_message

            raise ImproperlyConfigured(invalid_settings_message(outcome.errors))
        return outcome.regstack
    target = import_string(path)
    if not callable(target) or "database_url" not in _keywords(target):
        raise ImproperlyConfigured(
            f"{INSTANCE_SETTING} {path!r} cannot give each test its own regstack database: "
            "make it a function that accepts a database_url keyword argument "
            "(def build_regstack(*, database_url=None)), or override the regstack_instance "
            "fixture to build one on the regstack_database_url fixture's URL."
        )
    from regstack import RegStack

    from regstack_django.hooks.bridge import attach

    regstack = target(database_url=database_url)
    if not isinstance(regstack, RegStack):
        raise ImproperlyConfigured(
            f"{INSTANCE_SETTING} {path!r} returned a {type(regstack).__name__}, not a RegStack."
        )
    attach(regstack)
    return regstack


def _keywords(target: Any) -> set[str]:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def default_database_url() -> str | None:
    """``regstack.sqlite3`` next to Django's SQLite database, else in ``BASE_DIR``.

    Absolute, so it is the same file from any working directory; ``None`` when
    neither location exists in settings.
    """
    database = settings.DATABASES.get("default", {})
    name = str(database.get("NAME") or "")
    folder: Path | None = None
    if "sqlite" in str(database.get("ENGINE", "")) and name and not _in_memory(name):
        folder = Path(name).resolve().parent
    elif base_dir := getattr(settings, "BASE_DIR", None):
        folder = Path(base_dir).resolve()
    if folder is None:
        return None
    return f"sqlite+aiosqlite:///{folder / DEFAULT_DATABASE_NAME}{SQLITE_OPTIONS}"


def _in_memory(name: str) -> bool:
    return name == ":memory:" or name.startswith("file:") or "mode=memory" in name


def database_problems(url: str) -> list[CheckMessage]:
    """A missing folder (E017) or a working-directory-relative path (W004) of an SQLite URL."""
    if not url.startswith("sqlite"):
        return []
    from sqlalchemy.engine import make_url

    try:
        name = make_url(url).database or ""
    except Exception:  # regstack reports a malformed URL itself, when it connects
        return []
    if not name or _in_memory(name):
        return []
    path = Path(name)
    absolute = path if path.is_absolute() else Path.cwd() / path
    found = []
    if not path.is_absolute():
        found.append(
            problem(
                messages.W004,
                f"regstack's database_url is the relative SQLite path {name!r}: which file "
                f"it opens depends on the working directory (from here: {absolute}).",
                hint="Build an absolute path from BASE_DIR in settings, e.g. "
                "f'sqlite+aiosqlite:///{BASE_DIR}/regstack.sqlite3?timeout=30', or leave "
                f"database_url out for {DEFAULT_DATABASE_NAME} next to Django's database.",
            )
        )
    if not absolute.parent.is_dir():
        found.append(
            problem(
                messages.E017,
                f"regstack's SQLite database {str(absolute)!r} cannot be created: the "
                f"folder {str(absolute.parent)!r} does not exist.",
                hint="Create the folder, or point database_url at an existing one.",
            )
        )
    return found


def wiring_problems() -> list[CheckMessage]:
    """Warnings about how regstack reaches the receivers and runserver (W002, W003)."""
    from django.apps import apps

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
                "'manage.py runserver' is then staticfiles' and answers 404 on every "
                "regstack route.",
            )
        ]
    return []


def _receivers_connected() -> bool:
    from regstack_django.events import KNOWN_EVENTS
    from regstack_django.signals import signal_for

    return any(signal_for(event).receivers for event in KNOWN_EVENTS)
