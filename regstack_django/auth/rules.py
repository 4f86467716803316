"""``REGSTACK_DJANGO_USERS``: the rules that link a regstack user to a Django user, validated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings

from regstack_django.conf import USERS_SETTING

__all__ = ["USERS_SETTING", "UserRules", "current", "parse"]

#: regstack flags a project may map, and the Django user fields they may set.
SOURCE_FLAGS = frozenset({"is_superuser", "is_verified"})
DJANGO_FLAGS = frozenset({"is_staff", "is_superuser"})
USERNAME_RULES = ("email", "id")
ON_DELETE = ("deactivate", "delete")
MAX_CACHE_SECONDS = 300.0
DEFAULT_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class UserRules:
    """The parsed setting (docs/users.md, "Settings")."""

    create: bool = True
    username: str = "email"
    email: bool = True
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    on_delete: str = "deactivate"
    cache_seconds: float = 2.0  # DEFAULT_CACHE_SECONDS
    cache: str | None = None
    sessions: bool = False


def _bool(name: str, value: object, problems: list[str]) -> bool:
    if not isinstance(value, bool):
        problems.append(f"{USERS_SETTING}[{name!r}] must be True or False, not {value!r}.")
        return False
    return value


def _choice(name: str, value: object, choices: tuple[str, ...], problems: list[str]) -> str:
    if value not in choices:
        problems.append(f"{USERS_SETTING}[{name!r}] must be one of {choices}, not {value!r}.")
        return choices[0]
    return str(value)


def _flags(value: object, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        problems.append(f"{USERS_SETTING}['flags'] must be a dict, not {value!r}.")
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for flag, targets in value.items():
        names = (targets,) if isinstance(targets, str) else targets
        if (
            flag not in SOURCE_FLAGS
            or not isinstance(names, list | tuple)
            or not names
            or not set(names) <= DJANGO_FLAGS
        ):
            problems.append(
                f"{USERS_SETTING}['flags'] maps regstack flags {sorted(SOURCE_FLAGS)} to "
                f"Django fields {sorted(DJANGO_FLAGS)}, not {flag!r}: {targets!r}."
            )
            continue
        found[flag] = tuple(names)
    return found


def _seconds(value: object, problems: list[str]) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_CACHE_SECONDS
    ):
        return float(value)
    problems.append(
        f"{USERS_SETTING}['cache_seconds'] must be a number of seconds from 0 to "
        f"{MAX_CACHE_SECONDS:g}, not {value!r}."
    )
    return DEFAULT_CACHE_SECONDS


def _alias(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in settings.CACHES:
        problems.append(
            f"{USERS_SETTING}['cache'] must be None (this process's memory) or an alias "
            f"of CACHES, not {value!r}."
        )
        return None
    return value


def parse(value: object) -> tuple[UserRules, list[str]]:
    """Return the rules ``value`` gives (defaults where it is wrong) and every problem in it."""
    problems: list[str] = []
    if value is None:
        return UserRules(), problems
    if not isinstance(value, dict):
        return UserRules(), [f"{USERS_SETTING} must be a dict, not {value!r}."]
    known = set(UserRules.__dataclass_fields__)
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        problems.append(f"{USERS_SETTING} has unknown keys {unknown}; known: {sorted(known)}.")
    default = UserRules()
    rules = UserRules(
        create=_bool("create", value.get("create", default.create), problems),
        username=_choice("username", value.get("username", "email"), USERNAME_RULES, problems),
        email=_bool("email", value.get("email", default.email), problems),
        flags=_flags(value.get("flags", {}), problems),
        on_delete=_choice("on_delete", value.get("on_delete", "deactivate"), ON_DELETE, problems),
        cache_seconds=_seconds(value.get("cache_seconds", default.cache_seconds), problems),
        cache=_alias(value.get("cache"), problems),
        sessions=_bool("sessions", value.get("sessions", default.sessions), problems),
    )
    if rules.sessions:
        problems.extend(session_problems())
    return rules, problems


MIDDLEWARE_PATH = "regstack_django.auth.RegStackTokenMiddleware"
BACKEND_PATH = "regstack_django.auth.RegStackBackend"


def session_problems() -> list[str]:
    """Return what ``"sessions": True`` lacks: the middleware that closes them, the backend."""
    lacking = []
    if MIDDLEWARE_PATH not in (getattr(settings, "MIDDLEWARE", None) or ()):
        lacking.append(f"MIDDLEWARE lacks {MIDDLEWARE_PATH} (it closes revoked sessions)")
    if BACKEND_PATH not in settings.AUTHENTICATION_BACKENDS:
        lacking.append(f"AUTHENTICATION_BACKENDS lacks {BACKEND_PATH} (it loads their user)")
    return [f"{USERS_SETTING}['sessions'] is True but {text}." for text in lacking]


_last: tuple[object, UserRules] = (None, UserRules())


def current() -> UserRules:
    """Return the rules the settings give now (a wrong value falls back; the checks report it)."""
    global _last  # parsed once per settings object: override_settings makes a new one
    value = getattr(settings, USERS_SETTING, None)
    seen, rules = _last
    if value is not seen:
        rules = parse(value)[0]
        _last = (value, rules)
    return rules
