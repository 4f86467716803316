"""End-to-end tests of the testproject (run with ``--ds=testproject.settings``)."""

from __future__ import annotations
