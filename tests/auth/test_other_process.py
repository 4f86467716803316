"""Revocation across processes: a logout served by another process, seen on the next request.

With a shared cache (here Django's file-based one) at once; with the private default, within
``cache_seconds`` (the documented limit), the token's next fresh check refusing it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from regstack_django.auth.cache import private
from regstack_django.testing import CapturedEvents
from tests.auth.conftest import bearer, sign_up

pytestmark = pytest.mark.usefixtures("transactional_db")
ROOT = Path(__file__).resolve().parents[2]


async def test_a_logout_in_another_process_beats_a_shared_cache(
    regstack_client: httpx.AsyncClient,
    regstack_events: CapturedEvents,
    regstack_database_url: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    cache_dir = str(tmp_path / "cache")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": cache_dir,
        },
    }
    private_rules = {"cache_seconds": 60}
    shared_rules = {"cache_seconds": 60, "cache": "shared"}
    on_private = await sign_up(regstack_client, regstack_events, "pia@example.com")
    on_shared = await sign_up(regstack_client, regstack_events, "sha@example.com")
    settings.REGSTACK_DJANGO_USERS = private_rules
    assert (await regstack_client.get("/me/", headers=bearer(on_private))).text == "pia@example.com"
    settings.REGSTACK_DJANGO_USERS = shared_rules
    assert (await regstack_client.get("/me/", headers=bearer(on_shared))).text == "sha@example.com"

    other = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.auth.other_process", regstack_database_url, cache_dir),
        *(on_private, on_shared),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(other.communicate(), timeout=120)
    assert other.returncode == 0, err.decode()[-3000:]
    assert out.decode().split() == ["200", "200"]

    # The shared cache: refused on this process's very next request.
    assert (await regstack_client.get("/me/", headers=bearer(on_shared))).text == "anonymous"
    # The private default: this process still holds its cached check (at most cache_seconds)...
    settings.REGSTACK_DJANGO_USERS = private_rules
    assert (await regstack_client.get("/me/", headers=bearer(on_private))).text == "pia@example.com"
    # ...and the next fresh check refuses it (regstack's blacklist, written by the other process).
    private.clear()
    assert (await regstack_client.get("/me/", headers=bearer(on_private))).text == "anonymous"
