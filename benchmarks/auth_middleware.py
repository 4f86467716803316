"""The token middleware's cost per request beside Django's session lookup.

``python -m benchmarks.auth_middleware [--smoke]``: interleaved rounds of one async view reading
``await request.auser()`` behind each stack, one request at a time and many at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.harness import setup_django

Handler = Callable[[Any], Awaitable[Any]]
STACKS = (
    "A session lookup",
    "B token, cached (private)",
    "C token, uncached",
    "D token, cached (DatabaseCache)",
)
DJANGO_AUTH = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


def chain(paths: list[str]) -> Handler:
    """Return the async middleware chain around a view reading the user."""
    from django.http import HttpResponse
    from django.utils.module_loading import import_string

    async def view(request: Any) -> Any:
        user = await request.auser()
        assert user.is_authenticated
        return HttpResponse(user.email)

    handler: Any = view
    for path in reversed(paths):
        handler = import_string(path)(handler)
    return handler  # type: ignore[no-any-return]


async def prepare() -> tuple[Any, Any]:
    """Return a request factory for each stack: a session cookie, or a bearer token."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.test import RequestFactory
    from regstack.models.user import BaseUser

    from regstack_django.auth import linking
    from regstack_django.hosting.instance import get_regstack

    await sync_to_async(call_command)("createcachetable", "regstack_auth_cache", verbosity=0)
    regstack = get_regstack()
    await regstack.install_schema()
    user = await regstack.users.create(BaseUser(email="bench@example.com", is_verified=True))
    token, _ = regstack.jwt.encode(str(user.id))
    django_user = await sync_to_async(linking.user_for)(user)

    def make_session() -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(get_user_model()._meta.pk.value_to_string(django_user))
        store[BACKEND_SESSION_KEY] = "regstack_django.auth.RegStackBackend"
        store[HASH_SESSION_KEY] = django_user.get_session_auth_hash()
        store.create()
        return str(store.session_key)

    session_key = await sync_to_async(make_session)()
    factory = RequestFactory()

    def session_request() -> Any:
        request = factory.get("/")
        request.COOKIES["sessionid"] = session_key
        return request

    def token_request() -> Any:
        return factory.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")

    return session_request, token_request


async def timed(handler: Handler, make: Callable[[], Any], n: int, concurrent: int) -> float:
    """Return microseconds per request for ``n`` requests, ``concurrent`` at a time."""
    started = time.perf_counter()
    for _ in range(n // concurrent):
        await asyncio.gather(*(handler(make()) for _ in range(concurrent)))
    return (time.perf_counter() - started) / (n // concurrent * concurrent) * 1e6


async def run(rounds: int, n: int) -> dict[tuple[str, int], list[float]]:
    from django.test import override_settings

    session_request, token_request = await prepare()
    ours = [*DJANGO_AUTH, "regstack_django.auth.RegStackTokenMiddleware"]
    stacks = {
        STACKS[0]: (chain(DJANGO_AUTH), session_request, {}),
        STACKS[1]: (chain(ours), token_request, {"cache_seconds": 2}),
        STACKS[2]: (chain(ours), token_request, {"cache_seconds": 0}),
        STACKS[3]: (chain(ours), token_request, {"cache_seconds": 2, "cache": "shared"}),
    }
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for concurrent in (1, 50):
            for name, (handler, make, rules) in stacks.items():  # interleaved
                with override_settings(REGSTACK_DJANGO_USERS=rules):
                    await timed(handler, make, concurrent * 2, concurrent)  # warm
                    figure = await timed(handler, make, n, concurrent)
                results.setdefault((name, concurrent), []).append(figure)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few small rounds")
    args = parser.parse_args()
    setup_django(database=True, settings="benchmarks.auth_settings")
    rounds, n = (2, 100) if args.smoke else (5, 400)
    results = asyncio.run(run(rounds, n))
    print("| stack | concurrency | µs per request (median) | ratio to the session lookup |")
    print("| --- | --- | --- | --- |")
    for concurrent in (1, 50):
        base = statistics.median(results[(STACKS[0], concurrent)])
        for name in STACKS:
            median = statistics.median(results[(name, concurrent)])
            print(f"| {name} | {concurrent} | {median:.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
