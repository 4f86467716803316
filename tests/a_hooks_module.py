"""A module only named (wrongly) as a handler path by tests/test_checks.py."""

from __future__ import annotations


def on_registered(sender: object, **kwargs: object) -> None:
    pass
