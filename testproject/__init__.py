"""A Django project that embeds regstack and reacts to its events the Django way.

The demo (``manage.py regstack_demo``) and the end-to-end test bed of ``regstack_django``.
"""
