"""The audit app: one ``AuditEvent`` row for every regstack event, browsable in the admin.

It shows the two ways to listen to regstack through ``regstack_django``:
``@receiver`` functions (:mod:`.receivers`) and functions named in the
``REGSTACK_HOOKS`` setting (:mod:`.hooks`), including one background handler
that the Tasks worker runs.
"""
