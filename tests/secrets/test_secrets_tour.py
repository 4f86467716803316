"""The whole tour, every logger at DEBUG, through SecretsFilter: no token, no hash.

Real regstack served by uvicorn on a free loopback port, the bridge attached,
receivers that leak every way a receiver can (:mod:`tests.secrets_tour`), httpx
driving all 20 events. Everything every library logged is grepped for every
token link and token fired, every OAuth code, every session token and every
password hash that went by.
"""

from __future__ import annotations

import logging
from pathlib import Path

from support.tour.steps import EXPECTED_COUNTS
from tests.secrets_tour import logged_tour


async def test_the_whole_tour_at_debug_logs_no_token_and_no_hash(tmp_path: Path) -> None:
    tour = await logged_tour(tmp_path, scrub=True)
    assert tour.counts == EXPECTED_COUNTS  # all 20 events fired
    assert len(tour.secrets) >= 10
    assert len(tour.hashes) >= 3
    leaks = {s[:12]: tour.hits(s) for s in tour.secrets | tour.hashes if tour.hits(s)}
    assert leaks == {}
    for secret in tour.secrets | tour.hashes:
        assert secret not in tour.output
    assert "$argon2" not in tour.output
    # OAuth states: never in the request lines (uvicorn.access, httpx)
    for state in tour.states:
        assert not [hit for hit in tour.hits(state) if hit[0] in {"uvicorn.access", "httpx"}]
    # ... and the leaky loggers did log: the zero above is the filter's doing.
    loggers = {(name, level) for name, level, _ in tour.records}
    for expected in [
        ("regstack.email.console", logging.DEBUG),
        ("sqlalchemy.engine.Engine", logging.INFO),
        ("aiosqlite", logging.DEBUG),
        ("uvicorn.access", logging.INFO),
        ("httpx", logging.INFO),
        ("regstack_django", logging.ERROR),
        ("tests.alerts", logging.ERROR),
        ("tests.mailer", logging.INFO),
    ]:
        assert expected in loggers, expected
    assert "[REDACTED]" in tour.output
