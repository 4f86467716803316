"""Import a dotted path a setting names, turning every failure into a check message."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.core.checks import CheckMessage
from django.utils.module_loading import import_string

from regstack_django.checks.messages import problem


def import_target(
    path: str,
    where: str,
    code: str,
    problems: list[CheckMessage],
    *,
    module: CheckMessage | None = None,
) -> tuple[bool, Any]:
    """Import ``path``, named by the setting ``where``; return ``(imported, target)``.

    On failure add a ``code`` problem, or ``module`` (when given) if ``path`` names a
    module that is not imported yet: ``import_string`` then finds no attribute.
    """
    try:
        return True, import_string(path)
    except ImportError as exc:
        if module is not None and names_a_module(path):
            problems.append(module)
        else:
            problems.append(
                problem(code, f"{where} cannot import {path!r} ({type(exc).__name__}: {exc}).")
            )
    except Exception as exc:  # the module itself is broken: say so, don't crash check
        problems.append(
            problem(
                code,
                f"{where} cannot import {path!r}: importing it raised {type(exc).__name__}: {exc}.",
            )
        )
    return False, None


def names_a_module(path: str) -> bool:
    """Return whether ``path`` is an importable module's name, imported yet or not."""
    try:
        return importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        return False
