#!/usr/bin/env python
"""Django's command-line utility for the testproject (``testproject.settings``).

The repository's root ``manage.py`` runs the demo project that embeds regstack
and listens to its events through ``regstack_django``: ``python manage.py
regstack_demo``, ``migrate``, ``createsuperuser``, ``db_worker`` and so on.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the command named on the command line against ``testproject.settings``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
