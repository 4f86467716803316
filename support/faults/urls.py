"""The trials' Django view: an event fired inside ``atomic()``, optionally dying right after COMMIT.

``?die=1`` kills the process in the first on-commit callback, before the fire's own on-commit
enqueue: the window docs/background.md names.
"""

from __future__ import annotations

import os
import signal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from regstack_django import get_registry
from support.faults.probe import COMMITTED_EVENT
from testproject.audit.models import AuditEvent


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@csrf_exempt
def commit(request: HttpRequest, key: str) -> HttpResponse:
    email = f"{key}@faults.example.com"
    url = f"http://127.0.0.1/verify?token={key}"
    with transaction.atomic():
        if request.GET.get("die") == "1":
            transaction.on_commit(_die)
        AuditEvent.objects.create(event=COMMITTED_EVENT, email=email)
        get_registry().fire_sync(
            "verification_requested",
            email=email,
            url=url,
            url_without_token=url.replace(key, "[REDACTED]"),
        )
    return HttpResponse("committed\n", content_type="text/plain")


urlpatterns = [
    path("faults/commit/<slug:key>/", commit),
    path("", include("testproject.urls")),
]
