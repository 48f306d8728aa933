"""Helpers shared by the API contract tests of every app: the JSON error shape, route tables,
database snapshots, real `ensemble serve` processes and schemathesis fuzzing against them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.routing import APIRoute, APIWebSocketRoute
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import text
from starlette.routing import BaseRoute

from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.identity.principal import codec_for
from ensemble.settings import Settings
from tests.conftest import TEST_SECRET

# Errors


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error_shape(body: Any) -> dict[str, Any]:
    """`{"error": {"code", "message", "details"}}` and nothing else; returns the error."""
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str), body
    assert error["code"], body
    assert isinstance(error["message"], str), body
    return error


@dataclass
class SignedIn:
    """A user of an own-accounts app, logged in: their id, email and tokens."""

    user_id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


async def log_in(client: httpx.AsyncClient, api: str, email: str, password: str) -> dict[str, Any]:
    """`POST <api>/auth/login`'s tokens (asserting the 200)."""
    response = await client.post(f"{api}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class HasSettings(Protocol):
    settings: Settings


def mint(
    world: HasSettings,
    subject: uuid.UUID,
    *,
    realm: str,
    age: timedelta = timedelta(0),
    secret: str | None = None,
    **claims: Any,
) -> str:
    """An access token as a login of `realm` issues them (every app's tests share the key),
    issued `age` ago, signed with `secret` if given, with extra `claims`."""
    codec = codec_for(world.settings)
    if secret is not None:
        codec = dataclasses.replace(codec, secret=secret)
    return codec.encode(
        typ="access",
        realm=realm,
        subject=subject,
        jti=new_id(),
        now=utcnow() - age,
        session_id=new_id(),
        extra=claims,
    )


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error with `status` (and `code`, if given); returns the error."""
    assert response.status_code == status, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), response
    error = assert_error_shape(response.json())
    if code is not None:
        assert error["code"] == code, error
    return error


def outcome(response: httpx.Response) -> tuple[int, str]:
    """The status and code of an error (the body must have the error shape)."""
    return response.status_code, assert_error_shape(response.json())["code"]


def refusal_problem(answer: httpx.Response) -> str | None:
    """What is wrong with the answer to a bad request (None: a 4xx with the error shape)."""
    summary = f"{answer.status_code} {answer.text[:200]}"
    if not 400 <= answer.status_code < 500:
        return summary
    try:
        assert_error_shape(answer.json())
    except (ValueError, AssertionError):
        return f"not the error shape: {summary}"
    return None


def fill(value: Any, values: Mapping[str, object]) -> Any:
    """`value` with `{name}` placeholders in every string (nested in dicts and lists) filled."""
    if isinstance(value, str):
        return value.format(**{k: str(v) for k, v in values.items()})
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


# Routes and rows


def _served(routes: Iterable[BaseRoute], outer: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """`(full path, route)` of every route, walking into routers included into routers
    (FastAPI keeps those as one entry carrying the include's prefix)."""
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:
            yield from _served(route.original_router.routes, outer + context.prefix)  # type: ignore[attr-defined]
        elif isinstance(route, APIRoute | APIWebSocketRoute):
            yield outer + route.path, route


def routes_not_knowing_their_path(routers: Iterable[APIRouter]) -> list[str]:
    """Full paths of routes whose own `path` is only part of it (an included router without
    the prefix): the request sees the innermost route, so logs, metrics and spans would name
    the part."""
    return [
        full
        for router in routers
        for full, route in _served(router.routes)
        if getattr(route, "path", full) != full
    ]


def api_routes(routers: Iterable[APIRouter]) -> list[APIRoute]:
    """Every HTTP route the routers serve, also those of routers included into them."""
    served = (route for router in routers for _, route in _served(router.routes))
    return [route for route in served if isinstance(route, APIRoute)]


def http_routes(routers: Iterable[APIRouter], prefix: str) -> set[tuple[str, str]]:
    """Every `(method, path)` the routers serve over HTTP, paths without `prefix`."""
    return {
        (method, path.removeprefix(prefix))
        for router in routers
        for path, route in _served(router.routes)
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def websocket_routes(routers: Iterable[APIRouter], prefix: str) -> set[str]:
    return {
        path.removeprefix(prefix)
        for router in routers
        for path, route in _served(router.routes)
        if isinstance(route, APIWebSocketRoute)
    }


async def tables_of(database: Database, *schemas: str) -> list[str]:
    """The tables of the given schemas, as `schema.table`."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT schemaname || '.' || tablename FROM pg_tables"
                " WHERE schemaname = ANY(:schemas) ORDER BY 1"
            ),
            {"schemas": list(schemas)},
        )
        return list(rows.scalars())


async def snapshot(database: Database, tables: Iterable[str]) -> dict[str, list[str]]:
    """Every row of `tables` as JSON text: equal snapshots mean nothing was written."""
    async with database.engine.connect() as conn:
        return {
            table: sorted(
                (await conn.execute(text(f"SELECT to_jsonb(t)::text FROM {table} t"))).scalars()
            )
            for table in tables
        }


# Real server processes

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ensemble_command() -> str:
    beside_python = Path(sys.executable).with_name("ensemble")
    found = str(beside_python) if beside_python.exists() else shutil.which("ensemble")
    assert found, "the `ensemble` console script is not installed"
    return found


def _wait_until_healthy(server: Server, deadline: float) -> None:
    """Poll `/health` until it answers 200; fail early if the process exits."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:  # doubles as the poll interval: returns at once if the server died
            code = server.process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"`ensemble serve` exited with {code}:\n{server.log_tail()}")
    pytest.fail(f"`ensemble serve` not healthy after {START_TIMEOUT}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serve(
    app: str | None,
    database_url: str,
    redis_url: str,
    workdir: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """`ensemble serve --app <app> --no-background` (every app with `app=None`) on the
    (migrated) test database and Redis, with the tests' signing key and `env` on top;
    healthy on entry, terminated on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(workdir),
        "LOG_LEVEL": "WARNING",
        "REALTIME_AUTH_TIMEOUT_SECONDS": "2",  # a socket without a token waits this for one
        **(env or {}),
    }
    command = [_ensemble_command(), "serve", *(["--app", app] if app else []), "--no-background"]
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_healthy(server, time.monotonic() + START_TIMEOUT)
        yield server
    finally:
        _stop(process)


def send(
    server: Server,
    method: str,
    path: str,
    *,
    body: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str],
    values: Mapping[str, object],
) -> httpx.Response:
    """A request to a real server with `{name}` placeholders in path and body filled."""
    return httpx.request(
        method,
        server.base_url + fill(path, values),
        json=fill(body, values),
        params=params,
        headers=headers,
        timeout=30,
    )


# Schemathesis


def fuzz_schema(server: Server, max_examples: int) -> OpenApiSchema:
    """The server's OpenAPI document, set up for bounded, stateless, repeatable fuzzing."""
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": max_examples,
                "database": "none",
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=config)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def aim_at_known_rows(
    params: Any,
    known: Mapping[str, str],
    *,
    always: Collection[str] = (),
    free_form: Collection[str] = (),
) -> None:
    """Point well-formed ids in generated parameters at existing rows: those named in `always`
    every time, the others about half of the time.

    The choice hangs on the generated value, so a shrunk or replayed case makes the same one;
    malformed values are left alone (they are the negative cases). Names in `free_form` are
    not ids: any generated value may be replaced.
    """
    if not isinstance(params, dict):
        return
    for name, value in params.items():
        target = known.get(name)
        if target is None or (name not in free_form and not _is_uuid(value)):
            continue
        if name in always or zlib.crc32(str(value).encode()) % 2 == 0:
            params[name] = target


@dataclass(frozen=True)
class Known:
    """A fuzzed caller's headers and the ids of rows that exist, named as in the routes and
    bodies (what `call_fuzzed` aims generated ids at)."""

    headers: dict[str, str]
    values: dict[str, str]


def call_fuzzed(
    case: Case[Any],
    server: Server,
    headers: Mapping[str, str],
    known: Mapping[str, str],
    **aim: Collection[str],
) -> schemathesis.Response:
    """Send a generated case (ids aimed at `known` rows): below 500, and a 4xx is JSON with
    the error shape. Returns the response."""
    for params in (case.path_parameters, case.query, case.body):
        aim_at_known_rows(params, known, **aim)
    response = case.call(headers=dict(headers), timeout=30)
    request = f"{case.method} {response.request.url}"
    assert response.status_code < 500, (
        f"{request} -> {response.status_code} {response.text[:500]}\n{server.log_tail()}"
    )
    if 400 <= response.status_code < 500:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), request
        assert_error_shape(response.json())
    return response


# OpenAPI


UNDOCUMENTED = {400, 405, 413}
"""Statuses any route may answer that no operation lists: a body that is not even text, a
method the path does not serve, a body past the server's size limit."""


def assert_documented(case: Case[Any], response: schemathesis.Response) -> None:
    """The status answered is one the operation's `responses` list."""
    documented = case.operation.definition.raw["responses"]
    if response.status_code not in UNDOCUMENTED:
        assert str(response.status_code) in documented, (
            f"{case.method} {case.path} answered {response.status_code}, documented:"
            f" {sorted(documented)}: {response.text[:300]}"
        )


def app_operations(document: Mapping[str, Any], api: str) -> dict[tuple[str, str], Any]:
    """The operations of an app's document under `api` (not the process's `/health`...)."""
    return {
        (method, path): operation
        for path, methods in document["paths"].items()
        if path.startswith(api)
        for method, operation in methods.items()
    }


def assert_mounted_alike(
    alone: Server, every_app: Server, mount: str, api: str, caller: Known, paths: Iterable[str]
) -> None:
    """Served with every app under `mount`, the app documents the operations it documents
    alone, and answers `caller`'s GET of each of `paths` there."""
    documented = httpx.get(f"{alone.base_url}/openapi.json").json()
    mounted = httpx.get(f"{every_app.base_url}{mount}/openapi.json").json()
    assert app_operations(mounted, api) == app_operations(documented, api)
    for path in paths:
        response = send(
            every_app, "GET", mount + api + path, headers=caller.headers, values=caller.values
        )
        assert response.status_code == 200, (path, response.text)


async def openapi_document(client: httpx.AsyncClient) -> dict[str, Any]:
    """The app's OpenAPI document, as its clients fetch it."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def errors_not_in_error_shape(
    document: Mapping[str, Any], skip: Callable[[str], bool] = lambda _: False
) -> list[tuple[str, str, str]]:
    """`(method, path, status)` of every documented 4xx whose body is not `ErrorBody` (paths
    for which `skip` holds are left out)."""
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    return [
        (method, path, status)
        for path, operations in document["paths"].items()
        if not skip(path)
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("4")
        and response["content"]["application/json"]["schema"] != error_body
    ]


def documented_statuses(
    document: Mapping[str, Any], prefix: str
) -> dict[tuple[str, str], set[str]]:
    """`(METHOD, path without prefix)` -> the statuses its `responses` list, for every
    operation under `prefix`."""
    return {
        (method.upper(), path.removeprefix(prefix)): set(operation["responses"])
        for path, operations in document["paths"].items()
        if path.startswith(prefix)
        for method, operation in operations.items()
    }
