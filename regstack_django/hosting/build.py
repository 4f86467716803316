"""Turn ``REGSTACK`` / ``REGSTACK_INSTANCE`` into one attached RegStack and every problem found.

``manage.py check`` reports the problems; ``get_regstack()`` raises them.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage

from regstack_django.checks import messages
from regstack_django.checks.messages import problem
from regstack_django.conf import CONFIG_SETTING, INSTANCE_SETTING, conf
from regstack_django.hooks.dotted_paths import import_target

#: regstack's SQLite file when no ``database_url`` is configured, next to Django's own.
DEFAULT_DATABASE_NAME = "regstack.sqlite3"
#: regstack hashes passwords on its event loop; concurrent writes wait for SQLite's lock.
SQLITE_OPTIONS = "?timeout=30"


@dataclass(frozen=True)
class BuildResult:
    """The attached instance (``None`` on an error) and the problems of the settings."""

    regstack: Any
    problems: tuple[CheckMessage, ...] = ()

    @property
    def errors(self) -> list[CheckMessage]:
        return [p for p in self.problems if p.is_serious()]


def build(**overrides: Any) -> BuildResult:
    """Read the settings now and build the instance; never raise for a settings mistake.

    ``overrides`` are ``RegStackConfig`` fields that win over ``REGSTACK``
    (``database_url`` for a test database); ``REGSTACK_INSTANCE`` ignores them.
    """
    fields, path = conf.REGSTACK, conf.REGSTACK_INSTANCE
    if fields is None and path is None:
        return BuildResult(None)
    if importlib.util.find_spec("regstack") is None:
        setting = CONFIG_SETTING if fields is not None else INSTANCE_SETTING
        return BuildResult(
            None,
            (problem(messages.E019, f"{setting} is set, but regstack is not installed."),),
        )
    if fields is not None and path is not None:
        return BuildResult(
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
        return BuildResult(None, tuple(found))
    from regstack_django.hooks.bridge import attach

    attach(regstack)
    return BuildResult(regstack, tuple(found))


def _from_fields(fields: object, overrides: dict[str, Any], found: list[CheckMessage]) -> Any:
    from regstack import RegStack

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
    config = _load_config({**fields, **overrides}, found)
    if config is not None:
        config = _with_default_database(config, found)
    if config is None:
        return None
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


def _load_config(fields: dict[Any, Any], found: list[CheckMessage]) -> Any:
    """Return regstack's ``RegStackConfig`` for ``fields``, or ``None`` after adding E015."""
    from pydantic import BaseModel, ValidationError
    from regstack import RegStackConfig

    _unknown_fields(RegStackConfig, fields, CONFIG_SETTING, found, BaseModel)
    if found:
        return None
    try:
        return RegStackConfig.load(**fields)
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


def _with_default_database(config: Any, found: list[CheckMessage]) -> Any:
    """Return ``config`` with the default ``database_url`` if it has none (E017 if none exists)."""
    from pydantic import SecretStr

    if "database_url" in config.model_fields_set:
        return config
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
    return config.model_copy(update={"database_url": SecretStr(default)})


def _unknown_fields(
    model: Any, fields: Mapping[Any, Any], where: str, found: list[CheckMessage], base: type
) -> None:
    """Add E015 for each key ``model`` has no field for (pydantic would ignore it)."""
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
    imported, target = import_target(path, INSTANCE_SETTING, messages.E013, found)
    if not imported:
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


def default_database_url() -> str | None:
    """Return ``regstack.sqlite3`` next to Django's SQLite database, else in ``BASE_DIR``.

    Absolute, so it is the same file from any working directory; ``None`` when
    settings give neither location.
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
    """Return E017 for a missing folder and W004 for a relative path of an SQLite URL."""
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
