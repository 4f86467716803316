"""Another web process of the same site: serves regstack's logout for the tokens on argv.

``python -m tests.auth.other_process <regstack database url> <cache dir> <token>...``
"""

from __future__ import annotations

import asyncio
import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"


async def log_out(database_url: str, tokens: list[str]) -> None:
    import httpx
    from django.core.handlers.asgi import ASGIHandler

    from regstack_django.asgi import build_site
    from regstack_django.hosting.instance import build_on, using

    with using(build_on(database_url)) as regstack:
        app = build_site(regstack, ASGIHandler(), static=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                for token in tokens:
                    answer = await c.post(
                        "/api/auth/logout", headers={"Authorization": f"Bearer {token}"}
                    )
                    print(answer.status_code)


def main() -> None:
    import django
    from django.test.utils import override_settings

    django.setup()
    database_url, cache_dir, *tokens = sys.argv[1:]
    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "shared": {**shared, "LOCATION": cache_dir},
        },
        MIDDLEWARE=["regstack_django.auth.RegStackTokenMiddleware"],
        REGSTACK_DJANGO_USERS={"cache": "shared", "cache_seconds": 60},
    ):
        asyncio.run(log_out(database_url, tokens))


if __name__ == "__main__":
    main()
