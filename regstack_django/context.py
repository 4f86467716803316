"""``EventContext``: who made the request an event was fired in (docs/observability.md).

The bridge's ASGI application sets it per request; receivers get it as the ``context`` kwarg.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

#: The ``v`` key of :meth:`EventContext.as_dict`; :meth:`EventContext.from_dict` reads these.
CONTEXT_VERSION: Final = 1
READABLE_CONTEXT_VERSIONS: Final = frozenset({1})

_current: ContextVar[EventContext | None] = ContextVar("regstack_django_context", default=None)


@dataclass(frozen=True, slots=True)
class EventContext:
    """The request an event was fired in: never a secret (no query string, no credential)."""

    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    method: str | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form, with the version key ``v``."""
        return {"v": CONTEXT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventContext:
        """Return the context :meth:`as_dict` wrote; raise ``ValueError`` for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"An event context is a JSON object, not a {type(data).__name__}.")
        version = data.get("v")
        if isinstance(version, bool) or version not in READABLE_CONTEXT_VERSIONS:
            raise ValueError(
                f"This regstack_django reads event context versions "
                f"{sorted(READABLE_CONTEXT_VERSIONS)}, not {version!r}."
            )
        names = {f.name for f in fields(cls)}
        unexpected = sorted(set(data) - names - {"v"})
        if unexpected:
            raise ValueError(f"An event context has unexpected keys {unexpected}.")
        values = {name: data.get(name) for name in names}
        wrong = sorted(n for n, v in values.items() if v is not None and not isinstance(v, str))
        if wrong:
            raise ValueError(f"An event context's {wrong} must be strings or null.")
        return cls(**values)


def current_context() -> EventContext | None:
    """Return the context of the request being served, or ``None`` outside one."""
    return _current.get()


@contextmanager
def request_context(context: EventContext | None) -> Iterator[EventContext | None]:
    """Make ``context`` the current one for the ``with`` block (the middleware's scope)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
