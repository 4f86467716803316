"""regstack's signed-in user as ``request.user`` (docs/users.md, "Django users")."""

from __future__ import annotations

from typing import Any

__all__ = ["RegStackBackend", "RegStackTokenMiddleware"]


def __getattr__(name: str) -> Any:
    # Lazy: settings name these paths, and importing the backend needs the app registry.
    if name == "RegStackTokenMiddleware":
        from regstack_django.auth.middleware import RegStackTokenMiddleware

        return RegStackTokenMiddleware
    if name == "RegStackBackend":
        from regstack_django.auth.backend import RegStackBackend

        return RegStackBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
