"""Django views that read regstack's signed-in user, the way a project writes them."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, user_passes_test
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.template import Engine, RequestContext
from django.urls import path
from django.views import View

from regstack_django.auth.sessions import session


def me(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    return HttpResponse(user.email if user.is_authenticated else "anonymous")


async def ame(request: HttpRequest) -> HttpResponse:
    user: Any = await request.auser()
    return HttpResponse(user.email if user.is_authenticated else "anonymous")


@login_required
def private(request: HttpRequest) -> HttpResponse:
    regstack_user: Any = request.regstack_user  # type: ignore[attr-defined]
    return HttpResponse(f"private {regstack_user.email}")


@login_required
async def aprivate(request: HttpRequest) -> HttpResponse:
    return HttpResponse("private")


@user_passes_test(lambda user: user.is_authenticated and user.email.endswith("@example.com"))
def example_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("example")


class Reports(PermissionRequiredMixin, View):
    permission_required = "testapp.view_delivery"
    raise_exception = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("reports")


_ENGINE = Engine(context_processors=["django.contrib.auth.context_processors.auth"])
_PAGE = _ENGINE.from_string(
    "{% if user.is_authenticated %}signed in as {{ user.email }}{% else %}anonymous{% endif %}"
)


def page(request: HttpRequest) -> HttpResponse:
    """A template page: the ``auth`` context processor's ``user``, from the session."""
    return HttpResponse(_PAGE.render(RequestContext(request)))


@staff_member_required(login_url="/accounts/login/")
def staff(request: HttpRequest) -> HttpResponse:
    """Behind the admin's own decorator."""
    return HttpResponse("staff")


urlpatterns = [
    path("regstack/session/", session),
    path("page/", page),
    path("staff/", staff),
    path("me/", me),
    path("ame/", ame),
    path("private/", private),
    path("aprivate/", aprivate),
    path("example-only/", example_only),
    path("reports/", Reports.as_view()),
]

try:
    from rest_framework.renderers import JSONRenderer
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from regstack_django.auth.drf import RegStackAuthentication

    class DrfMe(APIView):
        authentication_classes = [RegStackAuthentication]
        renderer_classes = [JSONRenderer]

        def get(self, request: Any) -> Response:
            if not request.user.is_authenticated:
                return Response({"detail": "anonymous"}, status=401)
            return Response({"email": request.user.email, "regstack": request.auth.email})

    urlpatterns.append(path("drf/me/", DrfMe.as_view()))
except ImportError:  # the DRF leg only
    pass
