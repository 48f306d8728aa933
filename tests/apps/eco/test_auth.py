"""ECO² accounts: sign-up, login (throttled, audited by the `auth.audit` job), refresh-token
rotation with reuse detection, and logout, which puts the access token on the deny-list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from ensemble.apps.eco.tasks import audit_login
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.apicheck import assert_error, bearer
from tests.apps.eco.conftest import API, PASSWORD, EcoWorld, eco_rows, log_out
from tests.conftest import in_process_client
from tests.polling import eventually
from tests.processes import running


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


async def sign_up(world: EcoWorld, email: str, password: str = PASSWORD) -> httpx.Response:
    return await world.client.post(
        f"{API}/auth/signup", json={"email": email, "password": password}
    )


async def log_in(
    world: EcoWorld, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return await world.client.post(
        f"{API}/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def refresh(world: EcoWorld, refresh_token: str) -> httpx.Response:
    return await world.client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})


async def me(world: EcoWorld, access_token: str) -> httpx.Response:
    return await world.client.get(f"{API}/auth/me", headers=bearer(access_token))


# Sign-up and login


async def test_a_new_account_logs_in_and_knows_who_it_is(eco: EcoWorld) -> None:
    email = new_email()
    created = await sign_up(eco, email.upper())
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["email"] == email  # stored normalised
    assert account["role"] == "USER"

    tokens = await log_in(eco, email)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "bearer"
    assert tokens.json()["expires_in"] == eco.settings.access_token_minutes * 60
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert (claims["aud"], claims["typ"], claims["sub"]) == ("eco", "access", account["user_id"])

    found = await me(eco, tokens.json()["access_token"])
    assert found.status_code == 200, found.text
    assert found.json() == account


async def test_an_email_has_one_account_whatever_its_case(eco: EcoWorld) -> None:
    email = new_email()
    assert (await sign_up(eco, email)).status_code == 201
    assert_error(await sign_up(eco, email.upper(), "another password"), 409, "email_taken")
    assert (await log_in(eco, email)).status_code == 200  # the first password still counts


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"email": "not-an-email", "password": PASSWORD}, "email", id="bad-email"),
        pytest.param({"email": "a@example.com", "password": "short"}, "password", id="short"),
        pytest.param({"email": "a@example.com"}, "password", id="no-password"),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "role": "ADMIN"},
            "role",
            id="self-made-admin",
        ),
    ],
)
async def test_invalid_sign_ups_are_422_and_create_nothing(
    eco: EcoWorld, body: dict[str, Any], field: str
) -> None:
    before = await eco_rows(eco.database)
    response = await eco.client.post(f"{API}/auth/signup", json=body)
    error = assert_error(response, 422, "validation_error")
    assert ["body", field] in [detail["loc"] for detail in error["details"]], error
    assert await eco_rows(eco.database) == before


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(eco: EcoWorld) -> None:
    user = await eco.user()
    wrong = await log_in(eco, user.email, "wrong password")
    unknown = await log_in(eco, new_email())
    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


async def test_repeated_failures_throttle_that_email(eco: EcoWorld) -> None:
    user, bystander = await eco.user(), await eco.user()
    for _ in range(eco.settings.login_max_failures):
        assert_error(await log_in(eco, user.email, "guess"), 401, "invalid_credentials")
    throttled = await log_in(eco, user.email)  # even the right password, for a while
    assert_error(throttled, 429, "login_throttled")
    assert 0 < int(throttled.headers["retry-after"]) <= eco.settings.login_window_seconds
    assert (await log_in(eco, bystander.email)).status_code == 200


async def test_parallel_sign_ups_of_one_email_create_one_account(eco: EcoWorld) -> None:
    email = new_email()
    answers = await asyncio.gather(*(sign_up(eco, email) for _ in range(8)))
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert_error(refused, 409, "email_taken")


async def test_sign_ups_are_throttled_per_client_address(
    eco: EcoWorld, settings: Settings, database: Database
) -> None:
    strict = settings.model_copy(
        update={"signup_max_per_ip": 2, "trusted_proxies": [ip_network("127.0.0.1")]}
    )
    async with in_process_client(strict, database, "eco") as client:

        async def from_address(address: str) -> httpx.Response:
            body = {"email": new_email(), "password": PASSWORD}
            headers = {"X-Forwarded-For": address}
            return await client.post(f"{API}/auth/signup", json=body, headers=headers)

        busy = [await from_address("203.0.113.5") for _ in range(3)]
        elsewhere = await from_address("198.51.100.7")
    assert [answer.status_code for answer in busy] == [201, 201, 429]
    assert_error(busy[2], 429, "signup_throttled")
    assert int(busy[2].headers["retry-after"]) > 0
    assert elsewhere.status_code == 201, elsewhere.text


async def test_token_responses_are_never_cached(eco: EcoWorld) -> None:
    user = await eco.user()
    logged_in = await log_in(eco, user.email)
    refreshed = await refresh(eco, logged_in.json()["refresh_token"])
    for response in (logged_in, refreshed):
        assert response.status_code == 200, response.text
        assert (response.headers["cache-control"], response.headers["pragma"]) == (
            "no-store",
            "no-cache",
        )


# Refresh and logout


async def test_refresh_rotates_and_a_reused_token_revokes_its_family(eco: EcoWorld) -> None:
    user = await eco.user()
    elsewhere = await eco.login(user.email)  # another session of the same account

    rotated = await refresh(eco, user.refresh_token)
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != user.refresh_token
    assert (await me(eco, pair["access_token"])).status_code == 200

    assert_error(await refresh(eco, user.refresh_token), 401, "refresh_token_reused")
    assert_error(await refresh(eco, pair["refresh_token"]), 401, "session_revoked")
    for access in (user.access_token, pair["access_token"]):  # the family's, at once
        assert_error(await me(eco, access), 401, "session_revoked")
    assert (await me(eco, elsewhere["access_token"])).status_code == 200
    assert (await refresh(eco, elsewhere["refresh_token"])).status_code == 200
    assert_error(await refresh(eco, user.access_token), 401, "invalid_token")


async def test_logout_denies_the_access_token_and_ends_the_session(eco: EcoWorld) -> None:
    user = await eco.user()
    elsewhere = await eco.login(user.email)

    out = await log_out(eco, user.access_token, user.refresh_token)
    assert out.status_code == 204, out.text

    assert_error(await me(eco, user.access_token), 401, "session_revoked")
    assert_error(await refresh(eco, user.refresh_token), 401, "session_revoked")
    again = await log_out(eco, user.access_token, user.refresh_token)
    assert_error(again, 401, "session_revoked")
    # only that session ended
    assert (await me(eco, elsewhere["access_token"])).status_code == 200
    assert (await refresh(eco, elsewhere["refresh_token"])).status_code == 200


async def test_logout_with_someone_elses_refresh_token_is_refused(eco: EcoWorld) -> None:
    alice, bob = await eco.user(), await eco.user()
    refused = await log_out(eco, alice.access_token, bob.refresh_token)
    assert_error(refused, 401, "invalid_token")
    assert (await me(eco, alice.access_token)).status_code == 200  # not denied either
    assert (await refresh(eco, bob.refresh_token)).status_code == 200  # Bob is still in


async def test_a_revoked_session_is_remembered_as_long_as_its_access_tokens_live(
    eco: EcoWorld, redis: Redis
) -> None:
    user = await eco.user()
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    assert (await log_out(eco, user.access_token, user.refresh_token)).status_code == 204
    ttl = await redis.ttl(f"ensemble:identity:revoked-session:{claims['sid']}")
    lifetime = eco.settings.access_token_minutes * 60
    assert lifetime - 60 < ttl <= lifetime


# The login audit


async def audit_jobs(database: Database, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """The `auth.audit` jobs requested for an account (their kwargs)."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT kwargs FROM jobs.outbox WHERE job = 'auth.audit'"
                " AND kwargs->>'account_id' = :account ORDER BY created_at"
            ),
            {"account": str(account_id)},
        )
        return list(rows.scalars())


async def audits(database: Database, account_id: uuid.UUID) -> list[dict[str, Any]]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT to_jsonb(a) FROM eco_auth.login_audit a"
                " WHERE account_id = :account ORDER BY logged_in_at"
            ),
            {"account": account_id},
        )
        return list(rows.scalars())


async def test_a_login_requests_its_audit_which_writes_one_row_however_often_run(
    eco: EcoWorld, database: Database
) -> None:
    user = await eco.user()  # logged in once
    assert_error(await log_in(eco, user.email, "wrong"), 401, "invalid_credentials")
    jobs = await audit_jobs(database, user.user_id)
    assert len(jobs) == 1, jobs  # the failed login asked for nothing
    assert await audits(database, user.user_id) == []  # written by the job, not the login

    for _ in range(2):  # a redelivered job
        async with database.unit_of_work() as session:
            await audit_login.run(session, **jobs[0])
    rows = await audits(database, user.user_id)
    assert [row["id"] for row in rows] == [jobs[0]["audit_id"]]
    assert rows[0]["client_address"] == "127.0.0.1"


@pytest.fixture
def worker_and_scheduler(process_env: dict[str, str]) -> Iterator[None]:
    """A job worker and the scheduler, which relays the job outbox to it."""
    with running("worker", process_env), running("scheduler", process_env):
        yield


async def test_the_worker_audits_every_login_with_its_trace(
    eco: EcoWorld, database: Database, worker_and_scheduler: None
) -> None:
    created = await sign_up(eco, new_email())
    assert created.status_code == 201, created.text
    account = created.json()
    traces = [uuid.uuid4().hex for _ in range(2)]
    for number, trace in enumerate(traces):
        headers = {"traceparent": f"00-{trace}-{'1' * 16}-01", "User-Agent": f"phone/{number}"}
        assert (await log_in(eco, account["email"], **headers)).status_code == 200
    assert_error(await log_in(eco, account["email"], "wrong"), 401, "invalid_credentials")

    user_id = uuid.UUID(account["user_id"])
    rows = await eventually(
        lambda: audits(database, user_id), lambda rows: len(rows) >= len(traces), timeout=60
    )
    assert len(await audit_jobs(database, user_id)) == len(rows) == len(traces)
    assert [row["trace_id"] for row in rows] == traces
    assert [row["user_agent"] for row in rows] == ["phone/0", "phone/1"]
    assert {row["client_address"] for row in rows} == {"127.0.0.1"}
