"""Failed and successful sign-ins with and without the request context and ``login_failed``.

In-process over ASGI (httpx), interleaved rounds: the site as ``build_site`` makes it, and the
same site with its context middleware removed. ``--smoke``: a few rounds, no doc written.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import md_table, setup_django, text_table

EMAIL = "bench-failed@example.com"
PASSWORD = "bench-password-1"
WRONG = "bench-password-wrong"
TITLE = "## Failed sign-ins and request context"
WITHOUT, WITH = "without (no middleware)", "with context + login_failed"


def _site(regstack: Any, *, context: bool) -> Any:
    from django.core.handlers.asgi import ASGIHandler

    from regstack_django.asgi import build_site

    app = build_site(regstack, ASGIHandler(), static=False)
    if not context:
        app.user_middleware.clear()  # Starlette builds its stack on the first request
    return app


async def _timed(client: Any, password: str, email: str) -> float:
    started = time.perf_counter()
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    elapsed = time.perf_counter() - started
    expected = 200 if password == PASSWORD else 401
    assert response.status_code == expected, response.text
    return elapsed


async def measure(rounds: int, per_round: int) -> dict[tuple[str, str], list[float]]:
    """Return seconds per request, by (site, outcome), over interleaved rounds."""
    import httpx
    from regstack.models.user import BaseUser

    from regstack_django import get_regstack, signals

    regstack = get_regstack()
    sites = {WITHOUT: _site(regstack, context=False), WITH: _site(regstack, context=True)}
    failed: list[str] = []

    def on_failed(sender: object, email: str, **kwargs: Any) -> None:
        failed.append(email)

    signals.login_failed.connect(on_failed)
    times: dict[tuple[str, str], list[float]] = {}
    async with sites[WITH].router.lifespan_context(sites[WITH]):
        if await regstack.users.get_by_email(EMAIL) is None:
            hashed = regstack.password_hasher.hash(PASSWORD)
            await regstack.users.create(
                BaseUser(email=EMAIL, hashed_password=hashed, is_verified=True)
            )
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            for name, app in sites.items()
        }
        n = 0
        for _ in range(rounds):
            for name, client in clients.items():
                for _ in range(per_round):
                    n += 1  # a new unknown address each time: no lockout
                    wrong = await _timed(client, WRONG, f"nobody-{n}@example.com")
                    right = await _timed(client, PASSWORD, EMAIL)
                    times.setdefault((name, "failed"), []).append(wrong)
                    times.setdefault((name, "successful"), []).append(right)
        for client in clients.values():
            await client.aclose()
    signals.login_failed.disconnect(on_failed)
    assert len(failed) == rounds * per_round, "login_failed once per failed sign-in (with only)"
    return times


def rows(times: dict[tuple[str, str], list[float]]) -> list[list[str]]:
    """Median ms per sign-in, each outcome with and without, and the ratio."""
    out = []
    for outcome in ("failed", "successful"):
        base = statistics.median(times[(WITHOUT, outcome)])
        with_ = statistics.median(times[(WITH, outcome)])
        out.append(
            [
                f"{outcome} sign-in",
                f"{base * 1000:.2f}",
                f"{with_ * 1000:.2f}",
                f"{with_ / base:.3f}",
                str(len(times[(WITH, outcome)])),
            ]
        )
    return out


HEADERS = ["request", "without ms (median)", "with ms (median)", "ratio", "n"]


def write_doc(table: str, rounds: int, per_round: int) -> None:
    """Replace (or append) this benchmark's section at the end of docs/benchmarks.md."""
    path = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    head = text.split(f"\n{TITLE}\n")[0].rstrip("\n")
    section = (
        f"{TITLE}\n\n"
        "`python -m benchmarks.login_failed`: a failed sign-in (wrong password, unknown "
        "address) and a successful one through regstack's real `POST /login` over ASGI, "
        "on the site `build_site` makes (request-context middleware, `login_failed` sent "
        "to one receiver) and on the same site with the middleware removed, in "
        f"{rounds} interleaved rounds of {per_round} of each. The failed sign-in uses an "
        "unknown address, which regstack answers without hashing (its cheapest path, so the "
        "largest ratio); the successful one is dominated by the password hash. The in-process "
        "client waits until the application returns, so the failed row includes sending "
        "`login_failed` (one sync receiver, a thread hop), which a real HTTP client does not "
        "wait for: the answer is sent before it.\n\n"
        f"{table}\n"
    )
    path.write_text(f"{head}\n\n{section}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login_failed")
    parser.add_argument("--smoke", action="store_true", help="a few rounds, no doc written")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args(argv)
    rounds, per_round = (2, 2) if args.smoke else (args.rounds, args.per_round)
    setup_django(database=True)
    from django.conf import settings
    from django.test import override_settings

    database = Path(str(settings.DATABASES["default"]["NAME"])).with_name("regstack.sqlite3")
    config = {**settings.REGSTACK, "database_url": f"sqlite+aiosqlite:///{database}"}
    with override_settings(REGSTACK=config):  # next to Django's throw-away database
        times = asyncio.run(measure(rounds, per_round))
    table = rows(times)
    print(text_table(HEADERS, table))
    if not args.smoke:
        write_doc(md_table(HEADERS, table), rounds, per_round)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
