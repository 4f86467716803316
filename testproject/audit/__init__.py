"""The audit app: one ``AuditEvent`` row for every regstack event, browsable in the admin.

It listens both ways: ``@receiver`` functions and ``REGSTACK_HOOKS`` handlers.
"""
