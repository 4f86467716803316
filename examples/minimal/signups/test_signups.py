# signups/test_signups.py
from urllib.parse import parse_qs, urlsplit

import pytest

from signups.models import SignupEvent

ADA = {"email": "ada@example.com", "password": "correct horse battery staple"}


@pytest.mark.django_db(transaction=True)
async def test_sign_up_verify_and_log_in(regstack_client, regstack_events):
    response = await regstack_client.post("/api/auth/register", json=ADA)
    assert response.status_code == 201

    # Verification is on: the token is in the e-mailed link, the event's `url`.
    (requested,) = regstack_events.of("verification_requested")
    token = parse_qs(urlsplit(requested.kwargs["url"]).query)["token"][0]
    response = await regstack_client.post("/api/auth/verify", json={"token": token})
    assert response.status_code == 200

    response = await regstack_client.post("/api/auth/login", json=ADA)
    assert response.status_code == 200

    assert regstack_events.events == ["verification_requested", "user_verified", "user_logged_in"]
    rows = [row async for row in SignupEvent.objects.order_by("id").values_list("event", "email")]
    assert rows == [
        ("verification_requested", ADA["email"]),
        ("user_verified", ADA["email"]),
        ("user_logged_in", ADA["email"]),
    ]
