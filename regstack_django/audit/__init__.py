"""The audit log: every regstack event as an ``AuthEvent`` row, its admin and dashboard.

Add ``"regstack_django.audit"`` to ``INSTALLED_APPS`` (docs/audit.md).
"""
