"""The traced site's background handler and its one-shot fire (``python -m`` this module)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def welcome(sender: object, **kwargs: Any) -> None:
    """Write the trace id the worker runs this handler in."""
    from opentelemetry import trace

    trace_id = trace.get_current_span().get_span_context().trace_id
    (Path(os.environ["TRACED_SITE_DIR"]) / "handler.txt").write_text(f"{trace_id:032x}")


def main() -> None:
    """Fire ``user_logged_in`` inside a caller's span; print the trace id."""
    import django

    django.setup()
    from opentelemetry import trace
    from regstack.models.user import BaseUser

    from regstack_django import get_registry

    user = BaseUser(
        _id="64b000000000000000000001",
        email="traced@example.com",
        hashed_password="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        full_name="Traced",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    with trace.get_tracer("the caller").start_as_current_span("caller") as span:
        get_registry().fire_sync("user_logged_in", user=user)
    print(f"{span.get_span_context().trace_id:032x}")


if __name__ == "__main__":
    main()
