"""Focus Mate accounts: register at the spec's path, log in, read yourself."""

from __future__ import annotations

from tests.apicheck import assert_error_shape
from tests.apps.focus.conftest import API, PASSWORD, FocusWorld


async def test_a_registered_user_logs_in_and_reads_itself(focus: FocusWorld) -> None:
    user = await focus.user()
    me = await focus.client.get(f"{API}/users/me", headers=user.headers)
    assert me.status_code == 200
    body = me.json()
    assert body["user_id"] == str(user.user_id)
    assert body["email"] == user.email
    assert body["display_name"] == user.email.split("@")[0]
    assert body["role"] == "USER"


async def test_registering_an_email_twice_is_409(focus: FocusWorld) -> None:
    user = await focus.user()
    again = await focus.client.post(
        f"{API}/auth/register", json={"email": user.email, "password": PASSWORD}
    )
    assert again.status_code == 409
    assert assert_error_shape(again.json())["code"] == "email_taken"


async def test_users_me_without_a_token_is_401(focus: FocusWorld) -> None:
    response = await focus.client.get(f"{API}/users/me")
    assert response.status_code == 401
    assert_error_shape(response.json())
