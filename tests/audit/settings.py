"""The suite's settings plus the audit app (one line) and the admin it shows in.

``tests/audit/`` runs with ``--ds=tests.audit.settings``; ``tests/conftest.py`` skips it otherwise.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, REGSTACK

#: The admin's apps, where the suite's settings lack them.
_ADMIN_APPS = ["django.contrib.admin", "django.contrib.sessions", "django.contrib.messages"]
INSTALLED_APPS = [
    *INSTALLED_APPS,
    *(app for app in _ADMIN_APPS if app not in INSTALLED_APPS),
    "regstack_django.audit",  # the one line a project adds
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "tests.audit.urls"
# The tour's regstack (all 20 events, a stand-in OAuth provider), built per test on its database.
REGSTACK_INSTANCE = "tests.audit.instance.build_regstack"
del REGSTACK
