"""A Django project that embeds regstack and reacts to its events the Django way.

It is the demo (``python manage.py regstack_demo``) and the end-to-end test bed
of ``regstack_django``: ``settings`` configures both sides, ``instance``
builds the regstack instance (``REGSTACK_INSTANCE``), ``asgi`` serves Django
and regstack in one ASGI app (``regstack_django.asgi.get_asgi_application()``),
and the ``audit`` app records every event as a row you can browse.
"""
