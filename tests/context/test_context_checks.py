"""The request-context settings' checks (E045, E046) and the login route's (W045)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from regstack_django.checks import messages
from regstack_django.checks.registered import check_context_settings
from regstack_django.hosting import login_watch
from regstack_django.hosting.request import client_ip, parse_proxies, request_settings


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [m.id for m in check_context_settings() if m.id is not None]


def test_valid_and_default_settings_report_nothing() -> None:
    assert ids() == []
    assert ids(REGSTACK_TRUSTED_PROXIES=["10.0.0.0/8", "::1", "192.0.2.7"]) == []
    assert ids(REGSTACK_REQUEST_ID_HEADER="X-Correlation-ID") == []


@pytest.mark.parametrize("value", ["10.0.0.1", ["10.0.0.300"], [10], "*", ["not an ip"]])
def test_bad_trusted_proxies_are_e045_naming_the_value(value: object) -> None:
    with override_settings(REGSTACK_TRUSTED_PROXIES=value):
        (found,) = check_context_settings()
        assert found.id == messages.E045
        assert "REGSTACK_TRUSTED_PROXIES" in found.msg
        assert found.hint
        assert request_settings().proxies == (), "an invalid value trusts no proxy"


@pytest.mark.parametrize("value", ["", "X Request", None, 7, "X-Id:"])
def test_a_bad_request_id_header_is_e046(value: object) -> None:
    assert ids(REGSTACK_REQUEST_ID_HEADER=value) == [messages.E046]
    with override_settings(REGSTACK_REQUEST_ID_HEADER=value):
        assert request_settings().request_id_header == "X-Request-ID"


def test_a_changed_login_route_is_w045(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_watch, "_ROUTE_WORDS", ("a detail regstack no longer has",))
    assert ids() == [messages.W045]
    with override_settings(REGSTACK=None):
        assert ids() == [], "no regstack configured: no route to read"


def test_the_check_is_registered() -> None:
    with (
        override_settings(REGSTACK_TRUSTED_PROXIES="10.0.0.1"),
        pytest.raises(SystemCheckError, match=r"regstack_django\.E045"),
    ):
        call_command("check")


PROXIES = parse_proxies(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", [], "127.0.0.1"),
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # an untrusted peer's header: ignored
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.2"], "198.51.100.1"),
        ("127.0.0.1", ["192.0.2.66", "198.51.100.1, 10.0.0.2"], "198.51.100.1"),
        ("127.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # all ours: the leftmost
        ("127.0.0.1", ["garbage, 10.0.0.2"], "10.0.0.2"),  # malformed: the last trusted hop
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
        (None, ["198.51.100.1"], None),
    ],
)
def test_client_ip_walks_forwarded_for_from_the_right(
    peer: str | None, forwarded: list[str], expected: str | None
) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected
