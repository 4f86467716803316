"""Django management commands of regstack_django (``manage.py regstack_hooks``)."""

from __future__ import annotations
