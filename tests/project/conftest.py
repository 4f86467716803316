"""The testproject's end-to-end tests: run them with ``--ds=testproject.settings``.

``tests/conftest.py`` skips this directory under any other settings.
"""

from __future__ import annotations
