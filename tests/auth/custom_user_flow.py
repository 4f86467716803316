"""Run only under ``custom_user_settings``: the flow with ``testapp.EmailUser`` as user model."""

from __future__ import annotations

import httpx
import pytest
from django.contrib.auth import get_user_model

from regstack_django.testing import CapturedEvents
from tests.auth.conftest import bearer, sign_up


@pytest.mark.usefixtures("transactional_db")
async def test_a_custom_user_model_is_linked(
    regstack_client: httpx.AsyncClient, regstack_events: CapturedEvents
) -> None:
    assert get_user_model()._meta.label == "testapp.EmailUser"
    token = await sign_up(regstack_client, regstack_events, "custom@example.com")
    assert (await regstack_client.get("/me/", headers=bearer(token))).text == "custom@example.com"
    user = await get_user_model().objects.aget()
    assert (user.email, user.get_username()) == ("custom@example.com", "custom@example.com")
